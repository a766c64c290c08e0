//! `fdreport`: a test-only program that reports what it inherited.
//!
//! Prints one line to stderr per open fd (`fdreport fd=N target=T`), then the
//! socket-passing and notification variables, before it opens anything
//! itself; then exits with status 3 without reporting ready. Put in place of
//! a server's executable, it shows exactly what an upgrade hands a successor.

use std::io::Write;

fn main() {
    let mut out = String::new();
    // read_dir opens one fd of its own; it is the only entry whose target
    // is the fd directory itself, and is left out.
    let mut fds: Vec<(i32, String)> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| {
            let e = e.ok()?;
            let fd: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?.display().to_string();
            Some((fd, target))
        })
        .filter(|(_, t)| !t.starts_with("/proc/") || !t.ends_with("/fd"))
        .collect();
    fds.sort();
    for (fd, target) in fds {
        out.push_str(&format!("fdreport fd={fd} target={target}\n"));
    }
    for var in [
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "NOTIFY_SOCKET",
        "CHANGEOVER_NOTIFY_UPSTREAM",
    ] {
        let value = std::env::var(var).unwrap_or_else(|_| "<unset>".into());
        out.push_str(&format!("fdreport env {var}={value}\n"));
    }
    out.push_str(&format!("fdreport pid={}\n", std::process::id()));
    // Nothing useful to do if stderr is gone.
    let _ = std::io::stderr().write_all(out.as_bytes());
    std::process::exit(3);
}
