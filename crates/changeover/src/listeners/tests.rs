//! Reading `LISTEN_*`, inheriting, binding.

use super::*;

fn env(pid: Option<&str>, fds: Option<&str>, names: Option<&str>) -> ListenEnv {
    ListenEnv {
        pid: pid.map(Into::into),
        fds: fds.map(Into::into),
        names: names.map(Into::into),
    }
}

#[test]
fn reads_the_systemd_variables() {
    assert!(env(None, None, None).parse(10).unwrap().is_empty());
    assert_eq!(
        env(Some("10"), Some("2"), Some("http:admin"))
            .parse(10)
            .unwrap(),
        vec![(3, "http".to_owned()), (4, "admin".to_owned())]
    );
    assert_eq!(
        env(Some("10"), Some("1"), None).parse(10).unwrap(),
        vec![(3, "unknown".to_owned())]
    );
}

#[test]
fn sockets_for_another_pid_are_not_ours() {
    assert!(
        env(Some("11"), Some("2"), None)
            .parse(10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn malformed_variables_are_named() {
    for (e, var) in [
        (env(Some("x"), Some("1"), None), "LISTEN_PID"),
        (env(None, Some("1"), None), "LISTEN_PID"),
        (env(Some("10"), Some("one"), None), "LISTEN_FDS"),
        (env(Some("10"), Some("-1"), None), "LISTEN_FDS"),
        (env(Some("10"), Some("2"), Some("http")), "LISTEN_FDNAMES"),
    ] {
        let msg = e.parse(10).unwrap_err().to_string();
        assert!(msg.starts_with(var), "{msg}");
    }
}

/// Regression (issue 9, item 5): out of fds, a failed `dup` and a
/// failed `socket` were both "cannot listen on ADDR …; check the address".
#[test]
fn running_out_of_fds_is_named_as_such() {
    let emfile = || io::Error::from_raw_os_error(nix::libc::EMFILE);
    let addr: ListenAddr = "127.0.0.1:8080".parse().unwrap();
    let copy = ListenError::Copy {
        name: "http".into(),
        addr: addr.clone(),
        source: emfile(),
    }
    .to_string();
    assert!(
        copy.starts_with("listening on 127.0.0.1:8080, but cannot keep a copy of socket \"http\"")
            && copy.contains("out of file descriptors")
            && copy.contains("ulimit -n"),
        "{copy}"
    );
    let bind = ListenError::Bind {
        addr,
        source: emfile(),
    }
    .to_string();
    assert!(
        bind.contains("out of file descriptors") && !bind.contains("check the address"),
        "{bind}"
    );
}

#[test]
fn binds_tcp_and_unix_and_reports_addresses_in_use() {
    let l = bind("http", &"127.0.0.1:0".parse().unwrap()).unwrap();
    let ListenAddr::Tcp(sa) = l.local_addr().clone() else {
        panic!()
    };
    assert_ne!(sa.port(), 0);
    let e = bind("http", &ListenAddr::Tcp(sa)).unwrap_err().to_string();
    assert!(e.contains("another process is listening"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let u = bind("http", &ListenAddr::Unix(path.clone())).unwrap();
    let e = bind("http", &ListenAddr::Unix(path.clone()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("another process is listening"), "{e}");
    drop(u);
    // The file stays behind with nobody listening: it is stale and replaced.
    bind("http", &ListenAddr::Unix(path)).unwrap();
}
