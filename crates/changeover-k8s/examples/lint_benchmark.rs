//! How long linting a large input takes, and how quickly hostile input is refused.
//!
//! ```text
//! cargo run --release -p changeover-k8s --example lint_benchmark [OBJECTS]
//! ```
//!
//! Generates one multi-document YAML stream of OBJECTS objects (10,000 by default): groups of a
//! Deployment, a Service, a PodDisruptionBudget and a HorizontalPodAutoscaler spread over 20
//! namespaces, half of them with mistakes so that the rules have findings to build. It prints
//! the size of the input, the time to lint and render it (best of 5 runs), and the time to
//! refuse an alias bomb and a 10,000-level nesting. It measures; it asserts nothing.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use changeover_k8s::{Config, Linter, render};

fn group(out: &mut String, i: usize) {
    let ns = format!("team-{}", i % 20);
    let name = format!("svc-{i}");
    // Every other group is wrong in a few ways: grace too short, shell wrapper, no budget.
    let broken = i % 2 == 1;
    let grace = if broken { 20 } else { 30 };
    let command = if broken {
        "[sh, -c, 'migrate && server']".to_string()
    } else {
        "[changeover, run, --stop-delay=5s, --drain-timeout=20s, --, server]".to_string()
    };
    let _ = write!(
        out,
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}, tier: web}}\n    spec:\n      terminationGracePeriodSeconds: {grace}\n      containers:\n      - name: app\n        image: registry.example/{name}:1.0\n        command: {command}\n        ports: [{{containerPort: 8080}}]\n        readinessProbe: {{httpGet: {{path: /readyz, port: 8080}}}}\n        livenessProbe: {{httpGet: {{path: /livez, port: 8080}}}}\n        lifecycle:\n          preStop:\n            exec: {{command: [changeover, prestop]}}\n"
    );
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
    );
    let budget_app = if broken {
        format!("{name}-typo")
    } else {
        name.clone()
    };
    let _ = write!(
        out,
        "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  maxUnavailable: 1\n  unhealthyPodEvictionPolicy: AlwaysAllow\n  selector:\n    matchLabels: {{app: {budget_app}}}\n"
    );
    let _ = write!(
        out,
        "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}\n  minReplicas: 2\n  maxReplicas: 10\n"
    );
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        last = Some(value);
    }
    (best, last.expect("at least one run"))
}

/// Prints how long linting `text` (named `name`) takes to be refused, and the error it gets.
fn refusal(what: &str, name: &str, text: &str) {
    let (elapsed, report) = best_of(5, || {
        let mut linter = Linter::new(Config::default());
        linter.add_input(name, text.as_bytes());
        linter.finish()
    });
    println!(
        "refuse {what}: {:.3} ms ({})",
        elapsed.as_secs_f64() * 1e3,
        report
            .errors
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
}

fn main() {
    let objects: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut input = String::new();
    for i in 0..objects.div_ceil(4) {
        group(&mut input, i);
    }

    let (elapsed, (report, rendered)) = best_of(5, || {
        let mut linter = Linter::new(Config::default());
        linter.add_input("generated.yaml", input.as_bytes());
        let report = linter.finish();
        let rendered = render::json(&report).len() + render::text(&report).len();
        (report, rendered)
    });
    println!(
        "lint {} objects ({:.1} MiB of YAML, {} findings, {} bytes of output): {:.1} ms",
        report.objects,
        input.len() as f64 / (1024.0 * 1024.0),
        report.findings.len(),
        rendered,
        elapsed.as_secs_f64() * 1e3
    );

    let (elapsed, loaded) = best_of(5, || {
        changeover_k8s::input::load("generated.yaml", input.as_bytes())
    });
    println!(
        "  of which parsing and building the model of {} objects: {:.1} ms",
        loaded.objects.len(),
        elapsed.as_secs_f64() * 1e3
    );

    let mut bomb = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..30 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        let _ = writeln!(bomb, "a{i}: &a{i} [{refs}]");
    }
    refusal("an alias bomb of 10^30 nodes", "bomb.yaml", &bomb);
    refusal(
        "10,000 nested levels",
        "deep.yaml",
        &("- ".repeat(10_000) + "x\n"),
    );
}
