//! Kubernetes logic for changeover: a manifest model and the lint rules behind `changeover lint`.
//!
//! Everything here is pure and deterministic: no processes, no network, no clock, no file system.
//! The caller hands in the bytes of each input and gets back a [`Report`].
//!
//! # Theory of operation
//!
//! 1. **Load** ([`input::load`]): each input is decoded (UTF-8, or UTF-16 with a byte order
//!    mark), checked for binary content, and parsed as a YAML stream (JSON is YAML) into
//!    [`yaml::Node`]s that remember their line, under a depth limit and an alias-expansion budget
//!    so that hostile input is refused quickly in bounded memory. Values are read as kubectl reads
//!    them (`0x1E` and `30.0` are integers; a flow collection may continue at its key's column).
//!    A parse failure is blamed on template syntax only when blanking every `{{ … }}` makes it go
//!    away.
//! 2. **Model** ([`model`]): every document (and every item of a `kind: List`) of a kind the rules
//!    read — Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob,
//!    Pod, Service, PodDisruptionBudget, HorizontalPodAutoscaler — becomes an [`model::Object`]
//!    with Kubernetes' defaults applied; other kinds are counted and skipped, except that a custom
//!    resource an operator turns into pods (a `Prometheus`) is kept as [`model::ForeignPods`] for
//!    selectors to match. A field of the wrong type fails that object only (its pods still count
//!    as selected, so one mistake gives one message).
//! 3. **Relate**: the objects of *all* inputs of a run are indexed together, so a Service in one
//!    file selects a Deployment in another; selectors match within a namespace (`default` when
//!    unset, or [`Config::namespace`]) and see the labels controllers add to every pod; a Service
//!    reaches the containers its ports' `targetPort`s name. `changeover run`/`prestop` command
//!    lines are read with the CLI's own clap definitions and duration parser
//!    (`changeover-flags`), never a copy.
//! 4. **Check** ([`rules`]): each enabled rule reads the relations and emits findings that carry
//!    the arithmetic behind them (the grace-period sum, the computed `disruptionsAllowed`, the
//!    rounded percentages) and a fix. Objects annotated `changeover.lint/ignore: "rule-a,rule-b"`
//!    are exempt from those rules.
//! 5. **Render** ([`render`]): text for people, JSON for scripts, SARIF 2.1.0 for code scanning;
//!    findings are sorted by input, line and rule so output is stable.
//!
//! ```
//! use changeover_k8s::{Config, Linter, Severity};
//!
//! let manifest = br#"
//! apiVersion: apps/v1
//! kind: Deployment
//! metadata: {name: web}
//! spec:
//!   replicas: 2
//!   selector: {matchLabels: {app: web}}
//!   template:
//!     metadata: {labels: {app: web}}
//!     spec:
//!       terminationGracePeriodSeconds: 10
//!       containers:
//!       - name: app
//!         image: example/web:1
//!         command: [changeover, run, --stop-delay=5s, --drain-timeout=10s, --, web]
//! "#;
//! let mut linter = Linter::new(Config::default());
//! linter.add_input("web.yaml", manifest);
//! let report = linter.finish();
//! let f = report.findings.iter().find(|f| f.rule == "grace-budget").unwrap();
//! assert_eq!(f.severity, Severity::Error);
//! assert_eq!(f.object, "Deployment/default/web");
//! assert!(f.message.contains("17s"));
//! ```

pub mod config;
mod context;
pub mod docs;
pub mod duration;
pub mod finding;
pub mod image;
pub mod input;
pub mod model;
pub mod render;
pub mod rules;
pub mod shell;
pub mod timing;
pub mod version;
pub mod yaml;

use std::collections::HashMap;
use std::sync::Arc;

pub use config::{Config, KubeVersion};
pub use finding::{Finding, Severity};
pub use input::InputError;
pub use rules::Rule;

use model::{ForeignPods, Object};

/// Collects the inputs of one run, then lints them together.
#[derive(Debug)]
pub struct Linter {
    config: Config,
    files: Vec<Arc<str>>,
    objects: Vec<Object>,
    foreign: Vec<ForeignPods>,
    skipped: usize,
    errors: Vec<InputError>,
}

impl Linter {
    /// A run with these options.
    pub fn new(config: Config) -> Linter {
        Linter {
            config,
            files: Vec::new(),
            objects: Vec::new(),
            foreign: Vec::new(),
            skipped: 0,
            errors: Vec::new(),
        }
    }

    /// Adds one input (a file's bytes, or standard input's) under the name findings will show.
    pub fn add_input(&mut self, name: &str, bytes: &[u8]) {
        let namespace = self.config.namespace.as_deref().unwrap_or("default");
        let loaded = input::load_in(name, bytes, namespace);
        self.files.push(Arc::from(name));
        self.objects.extend(loaded.objects);
        self.foreign.extend(loaded.foreign);
        self.skipped += loaded.skipped;
        self.errors.extend(loaded.errors);
    }

    /// Records an input that could not even be read; it counts as a file and as an error.
    pub fn add_error(&mut self, error: InputError) {
        self.files.push(error.file.clone());
        self.errors.push(error);
    }

    /// Records a directory that holds no manifest file: nothing to lint there (unless the
    /// configuration allows empty input).
    pub fn add_empty_directory(&mut self, name: &str) {
        self.files.push(Arc::from(name));
        if !self.config.allow_empty {
            self.errors.push(InputError::nothing_to_lint(
                name,
                "the directory holds no *.yaml, *.yml or *.json file",
            ));
        }
    }

    /// Runs every enabled rule over everything added.
    pub fn finish(mut self) -> Report {
        if !self.config.allow_empty
            && self.errors.is_empty()
            && self.objects.is_empty()
            && self.skipped == 0
        {
            let what = match self.files.len() {
                0 => "no input was given".to_string(),
                1 if &*self.files[0] == "<stdin>" => {
                    "standard input holds no Kubernetes object (is it the output of a `helm template` that failed?)".to_string()
                }
                1 => "it holds no Kubernetes object".to_string(),
                n => format!("none of the {n} inputs holds a Kubernetes object"),
            };
            let file = self.files.first().map_or("<none>", |f| &**f).to_string();
            self.errors.push(InputError::nothing_to_lint(&file, what));
        }
        let cx = context::Context::new(&self.objects, &self.foreign, self.config.kube_version);
        let mut findings = rules::run(&cx, self.config.disabled());
        let order: HashMap<&str, usize> = self
            .files
            .iter()
            .enumerate()
            .rev()
            .map(|(i, f)| (&**f, i))
            .collect();
        findings.sort_by(|a, b| {
            let key = |f: &Finding| (order.get(&*f.file).copied().unwrap_or(usize::MAX), f.line);
            key(a)
                .cmp(&key(b))
                .then_with(|| a.rule.cmp(b.rule))
                .then_with(|| a.object.cmp(&b.object))
                .then_with(|| a.container.cmp(&b.container))
                .then_with(|| a.message.cmp(&b.message))
        });
        findings.dedup();
        Report {
            files: self.files.len(),
            objects: self.objects.len(),
            skipped: self.skipped,
            findings,
            errors: self.errors,
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Inputs read (or attempted).
    pub files: usize,
    /// Objects of the kinds the rules read.
    pub objects: usize,
    /// Objects of other kinds, skipped.
    pub skipped: usize,
    /// Findings, sorted by input, line and rule.
    pub findings: Vec<Finding>,
    /// Inputs or objects that could not be linted.
    pub errors: Vec<InputError>,
}

impl Report {
    /// How many findings have this severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Whether some finding is at or above `threshold`.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }
}
