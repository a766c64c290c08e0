//! What probes and hooks send to a pod.

use std::net::SocketAddr;
use std::time::Duration;

use changeover_load::Target;

/// One GET: for a probe, 200–399 succeeds; for a hook (`status_matters` false), any answer
/// does, as the kubelet ignores a hook's status.
pub(super) async fn http_get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    status_matters: bool,
) -> (bool, String) {
    let target = match Target::tcp(addr).with_path(path) {
        Ok(t) => t,
        Err(e) => return (false, e.to_string()),
    };
    match changeover_load::probe(&target, timeout).await {
        Ok(p) if !status_matters || (200..400).contains(&p.status) => {
            (true, format!("GET {path}: status {}", p.status))
        }
        Ok(p) => (false, format!("GET {path}: status {}", p.status)),
        Err(e) => (false, format!("GET {path}: {}", e.error)),
    }
}
