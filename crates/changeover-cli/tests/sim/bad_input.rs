//! Contract: bad input ends with status 2 and one line naming the problem.

use crate::harness::{Manifest, hello, sim};
use crate::support::show;

async fn fails(manifest: &str, args: &[&str], command: &[String], needles: &[&str]) {
    let out = sim(manifest, args, command).await;
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for n in needles {
        assert!(err.contains(n), "{n:?} missing:\n{}", show(&out));
    }
}

#[tokio::test]
async fn no_workload() {
    let m = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n";
    fails(m, &[], &hello(), &["no workload", "web.yaml", "Deployment"]).await;
}

#[tokio::test]
async fn several_workloads_and_no_choice() {
    let one = Manifest::default().yaml();
    let two = one.replace("name: web}", "name: api}");
    let m = format!("{one}---\n{two}");
    fails(
        &m,
        &[],
        &hello(),
        &[
            "Deployment/default/web",
            "Deployment/default/api",
            "--workload Deployment/web",
        ],
    )
    .await;
    // Choosing one is enough to get past it (and to fail later on the missing COMMAND file).
    let out = sim(&m, &["--workload", "Deployment/nope"], &hello()).await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such workload"),
        "{}",
        show(&out)
    );
}

#[tokio::test]
async fn an_unsupported_kind() {
    let m = Manifest::default()
        .yaml()
        .replacen("kind: Deployment", "kind: StatefulSet", 1);
    fails(
        &m,
        &[],
        &hello(),
        &["StatefulSet/default/web", "rehearses Deployments"],
    )
    .await;
}

#[tokio::test]
async fn a_command_that_exits_at_once() {
    let mut command = hello();
    command.push("--no-such-flag".into());
    fails(
        &Manifest::default().yaml(),
        &[],
        &command,
        &["pod web-", "exited (exit status 2)", "unknown argument"],
    )
    .await;
}

#[tokio::test]
async fn a_command_that_never_listens() {
    let command = vec!["sleep".to_string(), "30".to_string()];
    fails(
        &Manifest::default().yaml(),
        &["--ready-timeout", "1s"],
        &command,
        &["pod web-", "nothing listened on 127.0.", ":8080", "{addr}"],
    )
    .await;
}

#[tokio::test]
async fn no_command() {
    fails(&Manifest::default().yaml(), &[], &[], &["no COMMAND"]).await;
}
