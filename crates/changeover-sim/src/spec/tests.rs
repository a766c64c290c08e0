//! Reading manifests into a [`SimSpec`]: what is taken from where, and each refusal.

use changeover_k8s::model::IntOrPercent::Percent;

use super::*;

fn input(text: &str) -> Vec<Input> {
    vec![Input {
        name: "web.yaml".into(),
        bytes: text.as_bytes().to_vec(),
    }]
}

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 4
  minReadySeconds: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 20
      containers:
      - name: sidecar
        image: envoy
        ports: [{containerPort: 9901}]
      - name: app
        image: web
        ports: [{containerPort: 8080, name: http}, {containerPort: 9090, name: admin}]
        env: [{name: MODE, value: rehearsal}, {name: SECRET, valueFrom: {secretKeyRef: {name: s, key: k}}}]
        readinessProbe: {httpGet: {path: /ready, port: admin}, periodSeconds: 2, successThreshold: 2}
        livenessProbe: {tcpSocket: {port: http}, failureThreshold: 5, terminationGracePeriodSeconds: 7}
        startupProbe: {exec: {command: [cat, /tmp/started]}, initialDelaySeconds: 1}
        lifecycle:
          stopSignal: SIGQUIT
          preStop: {httpGet: {path: /drain, port: admin}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec:
  minAvailable: 50%
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector: {matchLabels: {app: web}}
"#;

#[test]
fn everything_the_rehearsal_needs_from_where_it_is() {
    let s = read(&input(WEB), None, None).unwrap();
    assert_eq!(s.workload, "Deployment/shop/web");
    assert_eq!(
        (s.replicas, s.replicas_source.as_str()),
        (4, "spec.replicas")
    );
    assert_eq!(
        s.strategy,
        Strategy::RollingUpdate {
            max_surge: Percent(25),
            max_unavailable: Percent(25)
        }
    );
    assert_eq!(s.min_ready_seconds, 2);
    // The Service's named targetPort picks the container and the port.
    assert_eq!((s.pod.container.as_str(), s.pod.port), ("app", 8080));
    assert_eq!(s.pod.grace_seconds, 20);
    assert_eq!(s.pod.stop_signal.name, "SIGQUIT");
    assert_eq!(
        s.pod.pre_stop,
        Some(Hook::HttpGet {
            path: "/drain".into(),
            port: 9090
        })
    );
    let r = s.pod.readiness.unwrap();
    assert_eq!(
        r.action,
        ProbeAction::HttpGet {
            path: "/ready".into(),
            port: 9090
        }
    );
    assert_eq!(
        (
            r.timing.period_ms,
            r.timing.success_threshold,
            r.timing.failure_threshold
        ),
        (2000, 2, 3)
    );
    let l = s.pod.liveness.unwrap();
    assert_eq!(l.action, ProbeAction::TcpSocket { port: 8080 });
    assert_eq!(
        (l.timing.failure_threshold, l.termination_grace_seconds),
        (5, Some(7))
    );
    assert_eq!(s.pod.startup.unwrap().timing.initial_delay_s, 1);
    assert_eq!(s.pod.env, [("MODE".to_string(), "rehearsal".to_string())]);
    assert_eq!(s.service.as_deref(), Some("Service/shop/web"));
    let b = s.budget.unwrap();
    assert_eq!(
        (b.min_available, b.always_allow_unhealthy),
        (Some(Percent(50)), true)
    );
    assert!(
        s.notes.iter().any(|n| n.contains("\"app\" is run")),
        "{:?}",
        s.notes
    );
}

#[test]
fn an_autoscaler_sets_the_count_unless_replicas_is_given() {
    let text = format!(
        "{WEB}---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web, namespace: shop}}\nspec:\n  scaleTargetRef: {{kind: Deployment, name: web}}\n  minReplicas: 2\n  maxReplicas: 9\n"
    );
    let s = read(&input(&text), None, None).unwrap();
    assert_eq!(s.replicas, 2);
    assert!(
        s.replicas_source
            .contains("HorizontalPodAutoscaler/shop/web")
    );
    assert_eq!(read(&input(&text), None, Some(3)).unwrap().replicas, 3);
}

#[test]
fn sleep_and_exec_hooks_recreate_and_a_bare_container_port() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  strategy: {type: Recreate}\n  template:\n    spec:\n      containers:\n      - name: app\n        ports: [{containerPort: 3000}]\n        lifecycle: {preStop: {sleep: {seconds: 3}}}\n";
    let s = read(&input(text), None, None).unwrap();
    assert_eq!((s.replicas, s.strategy), (1, Strategy::Recreate));
    assert_eq!(s.pod.port, 3000);
    assert_eq!(s.pod.pre_stop, Some(Hook::Sleep { ms: 3000 }));
    assert!(s.notes.iter().any(|n| n.contains("no Service")));
    let exec = text.replace(
        "sleep: {seconds: 3}",
        "exec: {command: [changeover, prestop]}",
    );
    let s = read(&input(&exec), None, None).unwrap();
    assert_eq!(
        s.pod.pre_stop,
        Some(Hook::Exec {
            command: vec!["changeover".into(), "prestop".into()]
        })
    );
}

#[test]
fn workload_choice() {
    let two = format!(
        "{WEB}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: shop}}\nspec: {{template: {{spec: {{containers: [{{name: a, ports: [{{containerPort: 1}}]}}]}}}}}}\n"
    );
    assert!(matches!(
        read(&input(&two), None, None),
        Err(SpecError::Several { .. })
    ));
    assert_eq!(
        read(&input(&two), Some("deployment/shop/api"), None)
            .unwrap()
            .name,
        "api"
    );
    assert_eq!(
        read(&input(&two), Some("Deployment/api"), None)
            .unwrap()
            .name,
        "api"
    );
    let e = read(&input(&two), Some("Deployment/nope"), None).unwrap_err();
    assert!(
        e.to_string()
            .contains("Deployment/shop/web, Deployment/shop/api"),
        "{e}"
    );
    assert!(matches!(
        read(&input(&two), Some("web"), None),
        Err(SpecError::BadWorkloadFlag(_))
    ));
}

#[test]
fn refusals_name_the_input_the_problem_and_the_fix() {
    let cases: &[(&str, &str)] = &[
        (
            "kind: Service\nmetadata: {name: s}\n",
            "no workload in web.yaml",
        ),
        (
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: a}]}}}\n",
            "DaemonSet/default/d: changeover sim rehearses Deployments",
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec: {replicas: {{ .Values.n }}}\n",
            "helm template",
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: a}]}}}\n",
            "no container lists a port",
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec: {replicas: 0, template: {spec: {containers: [{name: a, ports: [{containerPort: 1}]}]}}}\n",
            "0 replicas",
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec: {replicas: 500, template: {spec: {containers: [{name: a, ports: [{containerPort: 1}]}]}}}\n",
            "at most 50",
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: a, ports: [{containerPort: 1}], readinessProbe: {grpc: {port: 1}}}]}}}\n",
            "gRPC probes are not simulated",
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: a, ports: [{containerPort: 1}], readinessProbe: {httpGet: {port: nope}}}]}}}\n",
            "no container port is named \"nope\"",
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: a, ports: [{containerPort: 1}], lifecycle: {stopSignal: SIGNOPE}}]}}}\n",
            "not a signal name",
        ),
    ];
    for (text, needle) in cases {
        let e = read(&input(text), None, None).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
    }
    let two_budgets = format!(
        "{WEB}---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: all, namespace: shop}}\nspec: {{selector: {{}}, maxUnavailable: 1}}\n"
    );
    let e = read(&input(&two_budgets), None, None).unwrap_err();
    assert!(matches!(e, SpecError::SeveralBudgets { .. }), "{e}");
}
