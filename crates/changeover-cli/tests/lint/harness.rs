//! Running the built `changeover lint` in a fresh temporary directory and checking what it did:
//! every failed check prints the command, its exit status and both streams.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The lint crate's fixtures, which these tests share with it.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../changeover-k8s/tests/fixtures")
}

/// `fire.yaml` or `dont-fire.yaml` of a rule's fixtures, as a path.
pub(crate) fn fixture(rule: &str, name: &str) -> String {
    fixtures().join(rule).join(name).display().to_string()
}

/// What one run of the binary did.
pub(crate) struct Run {
    pub(crate) command: String,
    pub(crate) status: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// The command, its status and both streams, for a failure message.
    pub(crate) fn context(&self) -> String {
        format!(
            "command: {}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }

    /// Asserts the exit status and returns self for further checks.
    pub(crate) fn status(&self, code: i32) -> &Run {
        assert_eq!(
            self.status,
            Some(code),
            "wrong exit status\n{}",
            self.context()
        );
        self
    }

    /// Asserts that standard output holds `needle`.
    pub(crate) fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts that standard error holds `needle`.
    pub(crate) fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.context()
        );
        self
    }

    /// Standard output, parsed as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.context()))
    }
}

/// Runs `changeover lint ARGS` in `dir`, feeding `stdin`.
pub(crate) fn lint_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let exe = env!("CARGO_BIN_EXE_changeover");
    let mut child = Command::new(exe)
        .arg("lint")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the changeover binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("stdin accepts input");
    let out = child
        .wait_with_output()
        .expect("the changeover binary finishes");
    Run {
        command: format!(
            "(cd {} && changeover lint {})",
            dir.display(),
            args.join(" ")
        ),
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `changeover lint ARGS` in a fresh temporary directory.
pub(crate) fn lint(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("a temporary directory");
    lint_in(dir.path(), args, b"")
}

/// Runs the real `changeover` binary with `args` and returns its standard error.
pub(crate) fn changeover_stderr(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_changeover"))
        .args(args)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::null())
        .output()
        .expect("the changeover binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A YAML flow sequence of `words`, each double-quoted.
pub(crate) fn yaml_words(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
    format!("[{}]", quoted.join(", "))
}
