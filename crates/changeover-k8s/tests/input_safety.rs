//! Contract: hostile or broken input never crashes the linter, never makes it use unbounded
//! memory or stack, and is reported with the input's name, the line when there is one, the
//! problem and a fix. How fast the refusals are is measured by the benchmark, not asserted here.

use changeover_k8s::input::InputErrorKind;
use changeover_k8s::yaml::YamlErrorKind;
use changeover_k8s::{Config, Linter, Report, render};

fn lint(name: &str, bytes: &[u8]) -> Report {
    let mut linter = Linter::new(Config::default());
    linter.add_input(name, bytes);
    let report = linter.finish();
    // Every renderer must cope with whatever came out.
    let _ = (
        render::text(&report),
        render::json(&report),
        render::sarif(&report),
    );
    report
}

fn only_error(report: &Report) -> &changeover_k8s::InputError {
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(report.findings.is_empty());
    &report.errors[0]
}

#[test]
fn invalid_yaml_names_file_and_line() {
    let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n   bad-indent: x\n";
    let report = lint("svc.yaml", text.as_bytes());
    let e = only_error(&report);
    assert!(matches!(
        e.kind,
        InputErrorKind::Yaml(YamlErrorKind::Syntax(_))
    ));
    assert_eq!(e.line, Some(5));
    assert!(e.to_string().starts_with("svc.yaml:5: invalid YAML"), "{e}");
    assert!(!e.fix().is_empty());
}

#[test]
fn billion_laughs_is_refused() {
    // Ten levels of ten aliases each would expand to 10^10 nodes.
    let mut text = String::from(
        "kind: ConfigMap\ndata:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        let refs = vec![format!("*l{p}"); 10].join(", ");
        text.push_str(&format!("  l{i}: &l{i} [{refs}]\n"));
    }
    let report = lint("bomb.yaml", text.as_bytes());
    let e = only_error(&report);
    assert_eq!(e.kind, InputErrorKind::Yaml(YamlErrorKind::TooManyAliases));
    assert!(e.line.is_some());
}

#[test]
fn ten_thousand_nested_levels_do_not_overflow_the_stack() {
    let inputs = [
        "[".repeat(10_000) + &"]".repeat(10_000),
        "{a: ".repeat(10_000) + "1" + &"}".repeat(10_000),
        "- ".repeat(10_000) + "x\n",
        // Block mappings, one level per line (indentation grows, so fewer levels fit in memory).
        (0..2_000)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect::<String>(),
    ];
    for text in inputs {
        let report = lint("deep.yaml", text.as_bytes());
        let e = only_error(&report);
        assert!(matches!(e.kind, InputErrorKind::Yaml(_)), "{e}");
    }
}

#[test]
fn binary_input_is_an_error_with_a_fix() {
    let report = lint("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR");
    let e = only_error(&report);
    assert_eq!(e.kind, InputErrorKind::Binary);
    assert!(e.to_string().starts_with("image.png: "));
    assert!(e.fix().contains("YAML or JSON"));
}

#[test]
fn empty_input_is_nothing_to_lint_unless_allowed() {
    // Regression (issue 10): `changeover lint - </dev/null` (a failed `helm template` piped
    // without pipefail) exited 0.
    for text in ["", "---\n", "# only a comment\n", "\n\n\n"] {
        let report = lint("empty.yaml", text.as_bytes());
        let e = only_error(&report);
        assert!(matches!(e.kind, InputErrorKind::NothingToLint(_)), "{e}");
        assert!(e.to_string().contains("nothing to lint"), "{e}");
        let mut config = Config::default();
        config.allow_empty = true;
        let mut linter = Linter::new(config);
        linter.add_input("empty.yaml", text.as_bytes());
        let report = linter.finish();
        assert!(report.errors.is_empty() && report.findings.is_empty() && report.objects == 0);
        assert_eq!(report.files, 1);
    }
}

#[test]
fn utf16_with_a_byte_order_mark_is_decoded() {
    // Regression (issue 10): what PowerShell's `>` writes was called binary.
    let text = "kind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n";
    let le: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let be: Vec<u8> = [0xfe, 0xff]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    for bytes in [le, be] {
        let report = lint("ps.yaml", &bytes);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.objects, 1);
    }
    let mut broken = vec![0xff, 0xfe];
    broken.extend_from_slice(&0xd800u16.to_le_bytes()); // an unpaired surrogate
    let report = lint("ps.yaml", &broken);
    assert_eq!(only_error(&report).kind, InputErrorKind::NotUtf8);
}

#[test]
fn depth_beyond_the_limit_is_said_in_our_words() {
    // Regression (issue 10): saphyr's own "recursion limit exceeded" came through.
    for text in [
        "[".repeat(300) + &"]".repeat(300),
        "{a: ".repeat(300) + "1" + &"}".repeat(300),
    ] {
        let report = lint("deep.yaml", text.as_bytes());
        let e = only_error(&report);
        assert_eq!(e.kind, InputErrorKind::Yaml(YamlErrorKind::TooDeep), "{e}");
        assert!(e.to_string().contains("nest more than 256 levels"), "{e}");
    }
}

#[test]
fn templates_are_blamed_only_when_they_broke_the_parse() {
    // Regression (issue 10): a real indentation error was reported as an unrendered template at
    // the line of a quoted `"{{ $labels.instance }}"`.
    let text = "kind: PrometheusRule\nspec:\n  rules:\n  - alert: Down\n    annotations: {summary: \"{{ $labels.instance }} down\"}\n    expr: up == 0\n     for: 5m\n";
    let e = &lint("rule.yaml", text.as_bytes()).errors[0];
    assert!(
        matches!(e.kind, InputErrorKind::Yaml(YamlErrorKind::Syntax(_))),
        "{e}"
    );
    assert_eq!(e.line, Some(7));
    // An unquoted template is what breaks this one.
    let text = "kind: Deployment\nspec:\n  template:\n    metadata:\n{{ include \"labels\" . | indent 6 }}\n";
    let e = &lint("t.yaml", text.as_bytes()).errors[0];
    assert_eq!(
        (e.kind.clone(), e.line),
        (InputErrorKind::Template, Some(5))
    );
}

#[test]
fn unknown_kinds_are_skipped() {
    let text = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {replicas: many}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let report = lint("crd.yaml", text.as_bytes());
    assert!(report.errors.is_empty() && report.findings.is_empty());
    assert_eq!((report.objects, report.skipped), (0, 2));
}

#[test]
fn unrendered_helm_template_says_to_render_it() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"app.fullname\" . }}\nspec:\n  replicas: {{ .Values.replicaCount }}\n";
    let report = lint("templates/deployment.yaml", text.as_bytes());
    let e = only_error(&report);
    assert_eq!(e.kind, InputErrorKind::Template);
    assert_eq!(e.line, Some(4));
    assert!(e.fix().contains("helm template") && e.fix().contains("kustomize build"));
}

#[test]
fn a_wrongly_typed_field_fails_only_its_object() {
    let text = "kind: Deployment\nmetadata: {name: a}\nspec: {replicas: two}\n---\nkind: Service\nmetadata: {name: s}\nspec: {selector: {app: x}}\n";
    let report = lint("mixed.yaml", text.as_bytes());
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, Some(3));
    assert!(
        report.errors[0].problem().contains("spec.replicas"),
        "{}",
        report.errors[0]
    );
    assert_eq!(report.objects, 1);
    // Regression (issue 10): the Service of the dropped Deployment was then said to match
    // nothing, a second message for the one mistake.
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.rule != "service-matches-nothing"),
        "{:?}",
        report.findings
    );
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"\n",
    b" ",
    b"  ",
    b"-",
    b": ",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"&a ",
    b"*a",
    b"<<: ",
    b"!!str ",
    b"'",
    b"\"",
    b"#",
    b"|",
    b">",
    b"---\n",
    b"...\n",
    b"\t",
    b"%",
    b"@",
    b"`",
    b"{{",
    b"}}",
    b"\xff",
    b"\x00",
    b"kind: List\nitems:\n",
    b"kind: Pod\n",
    b"0%",
    b"100%",
    b"-1",
    b"99999999999999999999",
    b"sleep ",
    b"changeover run --stop-delay ",
    b"sh -c ",
    b"exec ",
    b"kill 1",
    b"null",
    b"~",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..=rng.below(8) {
        let at = if data.is_empty() {
            0
        } else {
            rng.below(data.len() + 1)
        };
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = (rng.next() & 0xff) as u8;
            }
            1 if !data.is_empty() => {
                let end = (at + rng.below(32)).min(data.len());
                data.drain(at.min(end)..end);
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            3 if data.len() > 1 => {
                // Duplicate a slice somewhere else.
                let start = rng.below(data.len());
                let end = (start + rng.below(64)).min(data.len());
                let piece: Vec<u8> = data[start..end].to_vec();
                data.splice(at..at, piece);
            }
            4 => data.truncate(at),
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.extend_from_slice(token);
            }
        }
    }
    data
}

#[test]
fn mutated_manifests_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seeds = Vec::new();
    for rule in changeover_k8s::rules::all() {
        for name in ["fire.yaml", "dont-fire.yaml"] {
            seeds.push(std::fs::read(dir.join(rule.id).join(name)).unwrap());
        }
    }
    for entry in std::fs::read_dir(dir.join("clean")).unwrap() {
        seeds.push(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..3_000 {
        let seed = &seeds[round % seeds.len()];
        let input = mutate(&mut rng, seed);
        let mut linter = Linter::new(Config::default());
        linter.add_input("fuzz.yaml", &input);
        // Several inputs in one run, so cross-object relations see mutated objects too.
        linter.add_input("seed.yaml", seed);
        let report = linter.finish();
        let _ = (
            render::text(&report),
            render::json(&report),
            render::sarif(&report),
        );
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..500 {
        let len = rng.below(512);
        let input: Vec<u8> = (0..len)
            .map(|_| TOKENS[rng.below(TOKENS.len())][0])
            .collect();
        lint("noise.yaml", &input);
    }
}
