//! The demo's result table: one [`Row`] per scenario, changeover's own first and the contrasts
//! apart below them, and the verdict (what the exit status rests on) after it.

use std::time::Duration;

use changeover_scenario::{Outcome, Scenario};

/// Which server a row restarts: the demo server, or the same one closing idle keep-alive
/// connections at once on SIGTERM (`demo-server --naive-drain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Child {
    /// `demo-server`.
    Demo,
    /// `demo-server --naive-drain`.
    IdleClosing,
}

/// The name of the simulated delete with no stop delay.
const SIM_CONTRAST: &str = "kubernetes delete, no stop delay";

/// One line of the result table.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row {
    /// What the first column says.
    name: &'static str,
    /// A contrast: its failures are expected and do not count.
    contrast: bool,
    /// Why a contrast fails requests, said after the table.
    why: String,
    /// The simulator's lines for a contrast's failures, each putting some down to a pod and a
    /// cause with the fix (empty for the other rows).
    attribution: Vec<String>,
    restarts: String,
    requests: u64,
    failed: u64,
    p99_steady: Option<Duration>,
    p99_restarts: Duration,
}

impl Row {
    pub(super) fn of(o: &Outcome, child: Child) -> Row {
        let (name, contrast, why) = Row::labels(o.scenario, child);
        Row {
            name,
            contrast,
            why: why.to_owned(),
            attribution: Vec::new(),
            restarts: match o.scenario {
                Scenario::KubernetesStop => format!("{} stop", o.restarts),
                _ => o.restarts.to_string(),
            },
            requests: o.report.requests,
            failed: o.failed(),
            p99_steady: o.steady_p99,
            p99_restarts: o.report.latency.p99(),
        }
    }

    /// A simulated delete's row: changeover's own with its stop delay, or the contrast without.
    pub(super) fn of_sim(r: &changeover_sim::report::Report, contrast: bool) -> Row {
        /// The most causes printed under the contrast (the simulator's report has them all).
        const SHOWN: usize = 3;
        let mut attribution: Vec<String> = r.causes.iter().take(SHOWN).map(|c| c.text()).collect();
        if r.causes.len() > SHOWN {
            attribution.push(format!(
                "... and {} more causes: run changeover sim for the whole report\n",
                r.causes.len() - SHOWN
            ));
        }
        Row {
            name: if contrast {
                SIM_CONTRAST
            } else {
                "kubernetes delete (sim, 3 pods)"
            },
            contrast,
            why: "changeover sim puts them down to".into(),
            attribution,
            restarts: "1 delete".into(),
            requests: r.requests,
            failed: r.failed,
            p99_steady: None,
            p99_restarts: Duration::from_secs_f64(r.latency_ms.p99.max(0.0) / 1000.0),
        }
    }

    /// The row's name, whether it is a contrast, and why a contrast fails.
    fn labels(scenario: Scenario, child: Child) -> (&'static str, bool, &'static str) {
        match (scenario, child) {
            (Scenario::ProxyReload, _) => ("proxy reload (idle-closing)", false, ""),
            (Scenario::SupervisorReload, Child::IdleClosing) => (
                "reload, idle-closing child",
                true,
                "the child closed idle keep-alive connections on SIGTERM while clients were sending on them; --proxy (above) hides that",
            ),
            (s, _) => (
                s.name(),
                s.is_contrast(),
                "nothing listened between stop and start",
            ),
        }
    }

    fn text(&self) -> String {
        let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1000.0);
        format!(
            "{:<32} {:>8} {:>10} {:>8} {:>12} {:>16}\n",
            self.name,
            self.restarts,
            self.requests,
            self.failed,
            self.p99_steady.map(ms).unwrap_or_else(|| "-".into()),
            ms(self.p99_restarts),
        )
    }
}

/// What the demo prints at the end, and what its exit status rests on.
#[derive(Debug)]
pub(super) struct Results {
    /// The table, then the verdict on changeover's own scenarios, then what the contrast did.
    pub(super) text: String,
    /// Requests changeover's own scenarios failed (the contrast does not count): the exit
    /// status is 0 when this is 0, else 1.
    pub(super) own_failed: u64,
}

impl Results {
    /// changeover's own rows first; the contrasts (the idle-closing child without `--proxy`,
    /// the naive restart) apart, below them.
    pub(super) fn of(rows: &[Row]) -> Results {
        let (contrast, own): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| r.contrast);
        let mut text = format!(
            "\n{:<32} {:>8} {:>10} {:>8} {:>12} {:>16}\n",
            "scenario", "restarts", "requests", "failed", "p99 steady", "p99 restarting"
        );
        for r in &own {
            text.push_str(&r.text());
        }
        if !contrast.is_empty() {
            text.push_str("\nfor comparison, not changeover (their failures are expected):\n");
            for r in &contrast {
                text.push_str(&r.text());
            }
        }
        let own_failed: u64 = own.iter().map(|r| r.failed).sum();
        let own_requests: u64 = own.iter().map(|r| r.requests).sum();
        text.push_str(&match own_failed {
            0 => "\nchangeover: no request failed.\n".to_owned(),
            n => format!("\nchangeover: {n} of {own_requests} requests failed.\n"),
        });
        for r in &contrast {
            text.push_str(&match r.failed {
                0 => format!("the {} failed no request this time.\n", r.name),
                n if r.attribution.is_empty() => format!(
                    "the {} failed {n} of {} requests: {}.\n",
                    r.name, r.requests, r.why
                ),
                n => format!(
                    "the {} failed {n} of {} requests; {}:\n{}",
                    r.name,
                    r.requests,
                    r.why,
                    r.attribution.concat()
                ),
            });
        }
        Results { text, own_failed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: Scenario, requests: u64, failed: u64) -> Row {
        row_of(scenario, Child::Demo, requests, failed)
    }

    fn row_of(scenario: Scenario, child: Child, requests: u64, failed: u64) -> Row {
        let (name, contrast, why) = Row::labels(scenario, child);
        Row {
            name,
            contrast,
            why: why.to_owned(),
            attribution: Vec::new(),
            restarts: "10".into(),
            requests,
            failed,
            p99_steady: Some(Duration::from_micros(500)),
            p99_restarts: Duration::from_millis(2),
        }
    }

    /// Issue 11, item 5: `--naive` printed "no request failed." under a naive row with 1,750
    /// failures. The contrast is now shown apart and named; the verdict is changeover's alone.
    #[test]
    fn the_naive_row_is_apart_and_does_not_count() {
        let rows = [
            row(Scenario::SelfUpgrade, 9142, 0),
            row(Scenario::SupervisorReload, 15466, 0),
            row(Scenario::KubernetesStop, 35211, 0),
            row(Scenario::NaiveRestart, 20000, 1750),
        ];
        let r = Results::of(&rows);
        assert_eq!(r.own_failed, 0, "{}", r.text);
        let lines: Vec<&str> = r.text.lines().collect();
        let at = |prefix: &str| {
            lines
                .iter()
                .position(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no line {prefix:?} in\n{}", r.text))
        };
        let apart = at("for comparison, not changeover");
        assert!(at("kubernetes stop") < apart, "{}", r.text);
        assert!(at("naive stop-and-start") > apart, "{}", r.text);
        assert!(
            r.text.contains("\nchangeover: no request failed.\n"),
            "{}",
            r.text
        );
        assert!(
            r.text
                .contains("the naive stop-and-start failed 1750 of 20000 requests"),
            "{}",
            r.text
        );
        assert!(!lines.contains(&"no request failed."), "{}", r.text);
    }

    /// The idle-closing child reloaded without `--proxy` is a contrast, shown apart with why it
    /// fails; the same child with `--proxy` is changeover's own row and counts.
    #[test]
    fn the_idle_closing_child_without_the_proxy_is_a_contrast_and_with_it_counts() {
        let rows = [
            row_of(Scenario::ProxyReload, Child::IdleClosing, 5000, 0),
            row_of(Scenario::SupervisorReload, Child::IdleClosing, 5000, 40),
        ];
        let r = Results::of(&rows);
        assert_eq!(r.own_failed, 0, "{}", r.text);
        let apart = r.text.find("for comparison").expect("a contrast section");
        assert!(r.text.find("proxy reload (idle-closing)").unwrap() < apart);
        assert!(r.text.find("reload, idle-closing child").unwrap() > apart);
        assert!(
            r.text.contains("failed 40 of 5000 requests: the child closed idle keep-alive connections on SIGTERM"),
            "{}",
            r.text
        );
        let r = Results::of(&[row_of(Scenario::ProxyReload, Child::IdleClosing, 5000, 3)]);
        assert_eq!(r.own_failed, 3, "{}", r.text);
    }

    #[test]
    fn changeovers_own_failures_decide_the_status_and_are_counted_alone() {
        let rows = [
            row(Scenario::SelfUpgrade, 1000, 2),
            row(Scenario::SupervisorReload, 1000, 1),
            row(Scenario::KubernetesStop, 1000, 0),
            row(Scenario::NaiveRestart, 1000, 400),
        ];
        let r = Results::of(&rows);
        assert_eq!(r.own_failed, 3);
        assert!(
            r.text
                .contains("\nchangeover: 3 of 3000 requests failed.\n"),
            "{}",
            r.text
        );
        assert!(!r.text.contains("no request failed"), "{}", r.text);
    }

    #[test]
    fn without_the_contrast_there_is_no_comparison() {
        let rows = [row(Scenario::SelfUpgrade, 1000, 0)];
        let r = Results::of(&rows);
        assert_eq!(r.own_failed, 0);
        assert!(!r.text.contains("for comparison"), "{}", r.text);
        assert!(!r.text.contains("naive"), "{}", r.text);
    }

    /// The simulated delete with no stop delay is a contrast: apart, not counted, and its
    /// failures followed by the simulator's lines (pod, cause, fix) as they are.
    #[test]
    fn the_simulated_delete_without_a_stop_delay_is_a_contrast_with_its_attribution() {
        let sim_row = |name, contrast, failed, attribution: Vec<String>| Row {
            name,
            contrast,
            why: "changeover sim puts them down to".into(),
            attribution,
            restarts: "1 delete".into(),
            requests: 3000,
            failed,
            p99_steady: None,
            p99_restarts: Duration::from_millis(6),
        };
        let cause = "   338 × refused at 2.52s–3.5s: pod demo-3 stopped accepting 1s before kube-proxy stopped routing to it\n         fix: give it a stop delay of at least 1s\n".to_owned();
        let rows = [
            row(Scenario::KubernetesStop, 1000, 0),
            sim_row("kubernetes delete (sim, 3 pods)", false, 0, Vec::new()),
            sim_row(SIM_CONTRAST, true, 338, vec![cause.clone()]),
        ];
        let r = Results::of(&rows);
        assert_eq!(r.own_failed, 0, "{}", r.text);
        let apart = r.text.find("for comparison").expect("a contrast section");
        assert!(
            r.text
                .find("kubernetes delete (sim, 3 pods)  1 delete")
                .unwrap()
                < apart
        );
        assert!(
            r.text
                .find("kubernetes delete, no stop delay 1 delete")
                .unwrap()
                > apart
        );
        assert!(
            r.text.ends_with(&format!(
                "the kubernetes delete, no stop delay failed 338 of 3000 requests; changeover sim puts them down to:\n{cause}"
            )),
            "{}",
            r.text
        );
        // changeover's own simulated delete counts.
        let r = Results::of(&[sim_row(
            "kubernetes delete (sim, 3 pods)",
            false,
            4,
            Vec::new(),
        )]);
        assert_eq!(r.own_failed, 4, "{}", r.text);
    }
}
