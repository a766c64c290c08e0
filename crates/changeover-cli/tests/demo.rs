//! `changeover demo`, the README's first command, end to end: every
//! changeover scenario fails no request and the command exits 0, while the
//! naive stop-and-start it is compared with does fail requests.

use std::process::Command;

#[test]
fn demo_fails_no_request_and_the_naive_restart_does() {
    let out = Command::new(env!("CARGO_BIN_EXE_changeover"))
        .args(["demo", "--restarts", "3", "--naive"])
        .output()
        .expect("run changeover demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{context}");
    let failed = |scenario: &str| -> u64 {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(scenario))
            .unwrap_or_else(|| panic!("no {scenario:?} row; {context}"));
        // ... requests, failed, p99 steady, p99 restarting: counted from the right.
        let cols: Vec<&str> = line.split_whitespace().collect();
        cols[cols.len() - 3].parse().unwrap()
    };
    assert_eq!(failed("self-upgrade"), 0, "{context}");
    assert_eq!(failed("supervisor reload"), 0, "{context}");
    assert_eq!(failed("kubernetes stop"), 0, "{context}");
    assert!(failed("naive stop-and-start") > 0, "{context}");
    assert!(stdout.contains("no request failed."), "{context}");
}
