//! `changeover::spawn` tells why a command could not be executed, whatever
//! fds the parent has open.
//!
//! Regression (issue 9, item 4): std's close-on-exec error pipe lands at the
//! lowest free fds; when fds 3.. were free it landed exactly where the child
//! `dup2`s the listeners, so a failed `execve` wrote its errno into a
//! listening socket, died of SIGPIPE, and `spawn` answered `Ok`. (The
//! supervisor escaped only because its own fds happened to occupy 3..).
//! And a file that is not executable (ENOEXEC) gave status 1 instead of the
//! shell's 126.

use std::path::Path;
use std::process::Command;

use changeover_tests::example_bin;

/// Runs `spawner MODE PROGRAM` and returns its one line of output.
fn spawner(mode: &str, program: &Path) -> String {
    let out = Command::new(example_bin("spawner"))
        .arg(mode)
        .arg(program)
        .output()
        .expect("run spawner");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "spawner {mode} {}: {:?}\nstdout: {stdout}\nstderr: {}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim().to_owned()
}

fn executable(path: &Path, content: &[u8]) {
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn exec_failures_are_reported_with_shell_statuses_when_low_fds_are_free() {
    let dir = tempfile::tempdir().unwrap();
    // Executable bits, but no format the kernel knows: ENOEXEC.
    let garbage = dir.path().join("garbage");
    executable(&garbage, b"\x01\x02\x03 not a program\n");
    // A script whose interpreter does not exist: ENOENT from execve, though
    // the file itself is there; a shell says 126 for it.
    let no_interp = dir.path().join("no-interpreter");
    executable(&no_interp, b"#!/nonexistent/interpreter\n");
    let missing = dir.path().join("missing");
    for mode in ["tokio", "unreaped"] {
        let line = spawner(mode, &garbage);
        assert!(
            line.starts_with("error status=126 ") && line.contains("garbage"),
            "{mode}: an Exec format error must be reported as 126: {line}"
        );
        let line = spawner(mode, &no_interp);
        assert!(
            line.starts_with("error status=126 ") && line.contains("interpreter"),
            "{mode}: a missing interpreter must be reported as 126: {line}"
        );
        let line = spawner(mode, &missing);
        assert!(
            line.starts_with("error status=127 "),
            "{mode}: a missing program must be reported as 127: {line}"
        );
        // And a program that runs is started, with the fd layout unchanged.
        let line = spawner(mode, Path::new("/bin/true"));
        assert!(
            line.starts_with("spawned pid=") && line.ends_with(" status=0"),
            "{mode}: {line}"
        );
    }
}
