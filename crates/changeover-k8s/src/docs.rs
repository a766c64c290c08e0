//! The rules page, `docs/lint-rules.md`, generated from the rule registry so that it says exactly
//! what `--explain` says. A test in this crate fails when the committed page differs; run it with
//! `CHANGEOVER_BLESS=1` to rewrite the page.

use std::fmt::Write as _;

use crate::rules;
use crate::timing::{SUPERVISOR_DEFAULT_DRAIN_MS, SUPERVISOR_DEFAULT_STOP_DELAY_MS};

/// The Markdown page listing every rule.
pub fn rules_markdown() -> String {
    let mut out = String::new();
    out.push_str("# `changeover lint` rules\n\n");
    out.push_str(
        "<!-- Generated from the rule registry in crates/changeover-k8s/src/rules/. Do not edit: run\n     `CHANGEOVER_BLESS=1 cargo test -p changeover-k8s --test docs` to regenerate. -->\n\n",
    );
    let _ = write!(
        out,
        "`changeover lint` reads Deployments, StatefulSets, DaemonSets, ReplicaSets,\n\
         ReplicationControllers, Jobs, CronJobs, Pods, Services, PodDisruptionBudgets and\n\
         HorizontalPodAutoscalers (other kinds are skipped) and checks the arithmetic of graceful\n\
         termination. A pod's containers include its native sidecars (`initContainers` with\n\
         `restartPolicy: Always`).\n\n\
         - The **stop delay** of a container is a preStop `sleep` action, an exec preStop that runs\n  \
         `sleep N` (directly or in a `sh -c`/`bash -c` script), `changeover prestop`, and/or\n  \
         `changeover run --stop-delay` in its command or args ({}s when `changeover run` is used without\n  \
         the flag). A preStop sleep and the supervisor's delay add up; `changeover prestop` waits out the\n  \
         supervisor's delay instead of adding to it. A hook whose length the manifest does not show (a\n  \
         script, `httpGet`) is a delay of unknown length; `kill`, `echo` and the like take none.\n\
         - The **drain deadline** is `changeover run --drain-timeout` ({}s when unset).\n\
         - `changeover run` and `changeover prestop` command lines are read with the CLI's own flag\n  \
         definitions, and `changeover run`'s flags checked with the supervisor's own checks (`--flag=V`\n  \
         or `--flag V`; durations like `5s`, `500ms`, `1m`, a number needs a unit; addresses, socket\n  \
         names, `--ready`, `--max-draining`, a command after `--`), so a command line the CLI would\n  \
         refuse is a finding of its own. A value the kubelet or a shell fills in (`$(PORT)`, `$DELAY`)\n  \
         is not checked, and a host name is not resolved.\n\
         - The **grace period** is `terminationGracePeriodSeconds` (30 when unset).\n\
         - Percentages: a budget's `minAvailable` and `maxUnavailable` round up; a Deployment's\n  \
         `maxUnavailable` rounds down and `maxSurge` rounds up (both 25% when unset); replicas default to 1.\n\
         - Selectors match within a namespace (`default` when unset, or `--namespace NS`), including the\n  \
         labels controllers set on every pod (`statefulset.kubernetes.io/pod-name`, `pod-template-hash`)\n  \
         and the pods an operator creates from a custom resource in the input (a `Prometheus`, an\n  \
         `Alertmanager`, anything with `spec.template`, `spec.podMetadata` or `spec.replicas`).\n\
         - A Service reaches the containers its ports' `targetPort` names or numbers (by port name or\n  \
         `containerPort`; when no container declares the port, those that declare none). Ports named\n  \
         `metrics`, `*-metrics` or `metrics-*` carry scrapes, not requests: a missed scrape is not a\n  \
         dropped request, so they are left out of the traffic rules.\n\
         - Integers are read as kubectl reads them (`30`, `0x1E`, `30.0`); input may be UTF-8 or UTF-16\n  \
         with a byte order mark. Inputs that hold no object at all are an error (\"nothing to lint\",\n  \
         exit 2) unless `--allow-empty`.\n\n\
         Turn a rule off with `--disable RULE`; exempt one object with the annotation\n\
         `changeover.lint/ignore: \"rule-a,rule-b\"`; print a rule's text with `--explain RULE`.\n\n",
        SUPERVISOR_DEFAULT_STOP_DELAY_MS / 1000,
        SUPERVISOR_DEFAULT_DRAIN_MS / 1000,
    );
    out.push_str("| rule | severity | fires when |\n| --- | --- | --- |\n");
    for r in rules::all() {
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} |",
            r.id, r.id, r.severity, r.summary
        );
    }
    for r in rules::all() {
        let _ = write!(
            out,
            "\n## {}\n\nSeverity: **{}**. {}\n\n**Why.** {}\n\n**Fix.** {}\n",
            r.id, r.severity, r.summary, r.rationale, r.fix
        );
    }
    out
}
