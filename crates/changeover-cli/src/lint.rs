//! `changeover lint`: check Kubernetes manifests for graceful-termination mistakes.
//!
//! This module only gathers input (files, directories, standard input), hands the bytes to
//! `changeover_k8s`, prints the report and maps it to an exit status: 0 clean, 1 a finding at or
//! above `--fail-on`, 2 bad usage or an input that could not be read or parsed (the other inputs
//! are still linted and reported).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use changeover_k8s::{Config, InputError, KubeVersion, Linter, Report, Severity, render, rules};

/// The name standard input gets in findings.
const STDIN_NAME: &str = "<stdin>";

/// Inputs larger than this are refused rather than read into memory (`/dev/zero`, a disk image).
const MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// Extensions read when searching a directory.
const MANIFEST_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Options of `changeover lint`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Check Kubernetes manifests for graceful-termination mistakes",
    after_help = "Exit status: 0 no finding at or above --fail-on, 1 such a finding, 2 bad usage, an input that could not be read or parsed, or nothing to lint (see --allow-empty).\n\nExamples:\n  changeover lint deploy/\n  helm template my-release ./chart | changeover lint -\n  changeover lint --explain grace-budget"
)]
pub(crate) struct Args {
    /// Manifests: files, directories (searched recursively for *.yaml, *.yml, *.json), or - for standard input.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Exit with status 1 when a finding of this severity or worse exists.
    #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = FailOn::Warning)]
    fail_on: FailOn,

    /// Turn a rule off; repeat the flag or separate rules with commas.
    #[arg(long, value_name = "RULE", value_delimiter = ',')]
    disable: Vec<String>,

    /// The target cluster's Kubernetes version, for version-dependent rules (e.g. 1.30).
    #[arg(long, value_name = "X.Y")]
    kube_version: Option<KubeVersion>,

    /// Print a rule's rationale and fix, then exit.
    #[arg(long, value_name = "RULE")]
    explain: Option<String>,

    /// The namespace of objects that set none, as for `kubectl apply -n NS` [default: default].
    #[arg(long, short = 'n', value_name = "NS")]
    namespace: Option<String>,

    /// Exit 0 when the inputs hold no Kubernetes object (an empty standard input, a directory
    /// without manifests), instead of 2 with "nothing to lint".
    #[arg(long)]
    allow_empty: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// One block per finding, for people.
    Text,
    /// One JSON document, for scripts.
    Json,
    /// SARIF 2.1.0, for code-scanning services.
    Sarif,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FailOn {
    /// Warnings and errors fail.
    Warning,
    /// Only errors fail.
    Error,
}

/// Runs `changeover lint`.
pub(crate) fn main(args: Args) -> ExitCode {
    if let Some(id) = &args.explain {
        return match rules::find(id) {
            Some(rule) => print_stdout(&render::explain(rule), ExitCode::SUCCESS),
            None => usage_error(&changeover_k8s::config::UnknownRule(id.clone()).to_string()),
        };
    }

    let mut config = Config::default();
    config.kube_version = args.kube_version;
    config.allow_empty = args.allow_empty;
    if let Some(ns) = &args.namespace {
        if !valid_namespace(ns) {
            return usage_error(&format!(
                "--namespace {ns:?}: not a namespace name; use lowercase letters, digits and '-' (at most 63), e.g. --namespace shop"
            ));
        }
        config.namespace = Some(ns.clone());
    }
    for id in &args.disable {
        if let Err(e) = config.disable(id.trim()) {
            return usage_error(&format!("--disable: {e}"));
        }
    }
    if args.paths.is_empty() {
        return usage_error(
            "no input: give manifest files, directories, or - for standard input (e.g. `helm template RELEASE CHART | changeover lint -`)",
        );
    }

    let mut linter = Linter::new(config);
    let mut stdin_read = false;
    for path in &args.paths {
        if path.as_os_str() == "-" {
            if !stdin_read {
                stdin_read = true;
                add_stdin(&mut linter);
            }
        } else {
            add_path(&mut linter, path);
        }
    }
    let report = linter.finish();

    for error in &report.errors {
        eprintln!("error: {error}\n  fix: {}", error.fix());
    }
    let output = match args.format {
        Format::Text => render::text(&report),
        Format::Json => render::json(&report),
        Format::Sarif => render::sarif(&report),
    };
    print_stdout(&output, exit_status(&report, args.fail_on))
}

fn exit_status(report: &Report, fail_on: FailOn) -> ExitCode {
    let threshold = match fail_on {
        FailOn::Warning => Severity::Warning,
        FailOn::Error => Severity::Error,
    };
    if !report.errors.is_empty() {
        ExitCode::from(2)
    } else if report.fails(threshold) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("changeover lint: {message}");
    ExitCode::from(2)
}

/// Writes to standard output; a closed pipe (`| head`) is not an error worth a panic.
fn print_stdout(text: &str, status: ExitCode) -> ExitCode {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => status,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => status,
        Err(e) => {
            eprintln!("changeover lint: cannot write the report: {e}");
            ExitCode::from(2)
        }
    }
}

fn add_stdin(linter: &mut Linter) {
    match read_bounded(io::stdin().lock()) {
        Ok(bytes) => linter.add_input(STDIN_NAME, &bytes),
        Err(e) => linter.add_error(InputError::unreadable(STDIN_NAME, e)),
    }
}

/// Reads everything, up to [`MAX_INPUT_BYTES`].
fn read_bounded(reader: impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "larger than {} MiB, which no manifest is",
                MAX_INPUT_BYTES / (1024 * 1024)
            ),
        ));
    }
    Ok(bytes)
}

/// Adds a file, or every manifest under a directory.
fn add_path(linter: &mut Linter, path: &Path) {
    let name = path.display().to_string();
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let mut files = Vec::new();
            if let Err(e) = collect_manifests(path, &mut files) {
                linter.add_error(InputError::unreadable(&name, e));
            }
            if files.is_empty() {
                linter.add_empty_directory(&name);
            }
            for file in files {
                add_file(linter, &file);
            }
        }
        Ok(_) => add_file(linter, path),
        Err(e) => linter.add_error(InputError::unreadable(&name, e)),
    }
}

fn add_file(linter: &mut Linter, path: &Path) {
    let name = path.display().to_string();
    match fs::File::open(path).and_then(read_bounded) {
        Ok(bytes) => linter.add_input(&name, &bytes),
        Err(e) => linter.add_error(InputError::unreadable(&name, e)),
    }
}

/// Every manifest file under `dir`, sorted, skipping hidden entries (`.git`, `.github`, …) and
/// not following symbolic links to directories (which could loop).
fn collect_manifests(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<PathBuf> = fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        entries.sort();
        let mut subdirs = Vec::new();
        for path in entries {
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            let kind = fs::symlink_metadata(&path)?.file_type();
            if kind.is_dir() {
                subdirs.push(path);
            } else if is_manifest_name(&path) && (kind.is_file() || path.is_file()) {
                out.push(path);
            }
        }
        // Reversed so that popping visits subdirectories in sorted order.
        pending.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// A DNS label, as Kubernetes requires of namespace names.
fn valid_namespace(ns: &str) -> bool {
    !ns.is_empty()
        && ns.len() <= 63
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !ns.starts_with('-')
        && !ns.ends_with('-')
}

fn is_manifest_name(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        MANIFEST_EXTENSIONS
            .iter()
            .any(|m| e.eq_ignore_ascii_case(m))
    })
}
