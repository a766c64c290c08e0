//! `changeover run`'s flags: the defaults, the names, every refusal's message.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::*;
use crate::addr::{Addr, ListenAddr};
use crate::flag::FlagError;

fn args(f: impl FnOnce(&mut RunArgs)) -> RunArgs {
    let mut a = RunArgs {
        command: vec!["server".into()],
        ..RunArgs::default()
    };
    f(&mut a);
    a
}

#[test]
fn defaults_follow_the_design() {
    let flags = args(|_| {}).check().unwrap();
    assert_eq!(flags.stop_delay, None);
    assert_eq!(flags.stop_delay_or_default(false), Duration::ZERO);
    assert_eq!(flags.stop_delay_or_default(true), Duration::from_secs(5));
    assert_eq!(flags.drain_timeout, Duration::from_secs(20));
    assert_eq!(flags.ready_timeout, Duration::from_secs(60));
    assert_eq!(flags.stop_signal, Signal::SIGTERM);
    assert_eq!(flags.reload_signal, Signal::SIGHUP);
    assert_eq!(flags.ready, ReadyMode::Notify);
    assert_eq!(flags.max_draining, 4);
    assert_eq!(flags.program, "server");
    let flags = args(|a| a.stop_delay = Some("0".into())).check().unwrap();
    assert_eq!(flags.stop_delay_or_default(true), Duration::ZERO);
}

#[test]
fn listeners_are_named_http_then_listen1() {
    let specs = parse_listen(&[
        "127.0.0.1:8080".into(),
        "admin=127.0.0.1:9000".into(),
        "[::1]:8081".into(),
        "unix:/run/a=b.sock".into(),
    ])
    .unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["http", "admin", "listen1", "listen2"]);
    assert_eq!(
        specs[3].addr,
        Addr::Known(ListenAddr::Unix("/run/a=b.sock".into()))
    );
    assert!(matches!(
        parse_listen(&["a=127.0.0.1:1".into(), "a=127.0.0.1:2".into()]),
        Err(FlagError::DuplicateName { .. })
    ));
    assert!(matches!(
        parse_listen(&["b c=127.0.0.1:1".into()]),
        Err(FlagError::ListenName { .. })
    ));
}

/// Contract: every refusal is the one line the CLI prints, word for word (the CLI's tests
/// pin the same texts through the binary).
#[test]
fn every_refusal_names_the_flag_the_value_the_problem_and_the_fix() {
    let address = |flag: &str, value: &str, problem: &str| {
        format!(
            "{flag}: invalid listen address {value:?}: {problem}; write HOST:PORT (127.0.0.1:8080), [V6]:PORT ([::1]:8080) or unix:PATH"
        )
    };
    let cases: Vec<(RunArgs, String)> = vec![
        (
            args(|a| a.stop_signal = Some("TREM".into())),
            "--stop-signal \"TREM\": unknown signal name; use a name such as TERM, QUIT, INT, HUP, USR1, USR2 or WINCH (with or without SIG), or a number".into(),
        ),
        (
            args(|a| a.reload_signal = Some("KILL".into())),
            "--reload-signal KILL: it cannot be caught; choose another, such as HUP or USR2".into(),
        ),
        (
            args(|a| a.reload_signal = Some("term".into())),
            "--reload-signal TERM: it already means stop; choose another, such as HUP or USR2".into(),
        ),
        (
            args(|a| a.listen = vec!["0.0.0.0:99999".into()]),
            address("--listen", "0.0.0.0:99999", "the port is not a number from 0 to 65535"),
        ),
        (
            args(|a| a.listen = vec!["http=::1:8080".into()]),
            address("--listen", "::1:8080", "an IPv6 host must be written in brackets"),
        ),
        (
            args(|a| a.health = Some("9090".into())),
            address("--health", "9090", "it has no port"),
        ),
        (
            args(|a| a.listen = vec!["my app=0.0.0.0:8080".into()]),
            "--listen: invalid socket name \"my app\"; a name is 1 to 255 of A-Z a-z 0-9 _ . - (write NAME=ADDR, e.g. http=0.0.0.0:8080)".into(),
        ),
        (
            args(|a| a.listen = vec!["0.0.0.0:8080".into(), "http=0.0.0.0:8081".into()]),
            "--listen: the name \"http\" is given twice; give each socket its own name (NAME=ADDR)".into(),
        ),
        (
            args(|a| a.stop_delay = Some("5".into())),
            "--stop-delay: invalid duration \"5\": a number has no unit; write a number with a unit, like 500ms, 5s, 1m or 1m30s".into(),
        ),
        (
            args(|a| a.ready = Some("tcp:8080".into())),
            "--ready \"tcp:8080\": not a readiness check; write notify, delay:DURATION (e.g. delay:2s), exec:COMMAND or (with --proxy) http:PATH".into(),
        ),
        (
            args(|a| a.ready = Some("exec: ".into())),
            "--ready \"exec: \": not a readiness check; write notify, delay:DURATION (e.g. delay:2s), exec:COMMAND or (with --proxy) http:PATH".into(),
        ),
        (
            args(|a| {
                a.proxy = true;
                a.upstream = Some("tcp:8080".into());
            }),
            "--upstream \"tcp:8080\": not an upstream; write fd (a private socket at fd 3, the default) or env:VAR (a free loopback port in $VAR, e.g. env:PORT)".into(),
        ),
        (
            args(|a| {
                a.proxy = true;
                a.ready = Some("http:".into());
            }),
            "--ready \"http:\": the path is missing; write http: and the path to GET on the new child, e.g. http:/healthz".into(),
        ),
        (
            args(|a| a.upstream = Some("env:PORT".into())),
            "--upstream needs --proxy: without it the child serves the public sockets itself; add --proxy, or drop --upstream".into(),
        ),
        (
            args(|a| a.ready = Some("http:/healthz".into())),
            "--ready http:/healthz needs --proxy: without it the child serves the public sockets itself; add --proxy, or drop --ready http:/healthz".into(),
        ),
        (
            args(|a| a.no_forwarded_headers = true),
            "--no-forwarded-headers needs --proxy: without it the child serves the public sockets itself; add --proxy, or drop --no-forwarded-headers".into(),
        ),
        (
            args(|a| a.ready = Some("delay:2m".into())),
            "--ready delay:120s is not shorter than --ready-timeout 60s: no child could ever become ready; shorten the delay or raise the timeout".into(),
        ),
        (
            args(|a| a.max_draining = Some("0".into())),
            "--max-draining \"0\": write a whole number of at least 1".into(),
        ),
        (
            args(|a| a.command.clear()),
            "no command given: write the server's command after --, e.g. changeover run --listen 0.0.0.0:8080 -- ./server".into(),
        ),
        (
            args(|a| a.command = vec!["".into()]),
            "no command given: write the server's command after --, e.g. changeover run --listen 0.0.0.0:8080 -- ./server".into(),
        ),
    ];
    for (a, want) in cases {
        assert_eq!(a.check().unwrap_err().to_string(), want, "{a:?}");
    }
}

/// In proxy mode the default readiness follows the upstream: with `fd` the socket listens
/// before the child runs (only READY=1 can tell), with `env:VAR` the child binds it itself
/// (a connection accepted tells).
#[test]
fn proxy_defaults_follow_the_upstream() {
    let flags = args(|a| a.proxy = true).check().unwrap();
    let p = flags.proxy.unwrap();
    assert_eq!(p.upstream, UpstreamMode::Fd);
    assert!(p.forwarded_headers);
    assert_eq!(flags.ready, ReadyMode::Notify);
    let flags = args(|a| {
        a.proxy = true;
        a.upstream = Some("env:PORT".into());
        a.no_forwarded_headers = true;
    })
    .check()
    .unwrap();
    assert_eq!(flags.ready, ReadyMode::Connect);
    let p = flags.proxy.unwrap();
    assert_eq!(p.upstream, UpstreamMode::Env("PORT".into()));
    assert!(!p.forwarded_headers);
    assert!(args(|_| {}).check().unwrap().proxy.is_none());
    assert_eq!(
        parse_ready("http:/healthz?full=1").unwrap(),
        ReadyMode::Http("/healthz?full=1".into())
    );
    assert!(parse_ready("http:healthz").is_err());
}

#[test]
fn ready_modes() {
    assert_eq!(parse_ready("notify").unwrap(), ReadyMode::Notify);
    assert_eq!(
        parse_ready("delay:1500ms").unwrap(),
        ReadyMode::Delay(Duration::from_millis(1500))
    );
    assert_eq!(
        parse_ready("exec:curl -fs localhost").unwrap(),
        ReadyMode::Exec("curl -fs localhost".into())
    );
    assert!(parse_ready("exec: ").is_err());
    assert!(parse_ready("delay:").is_err());
    // Raising the timeout makes room for a long delay.
    let a = args(|a| {
        a.ready = Some("delay:2m".into());
        a.ready_timeout = Some("3m".into());
    });
    assert_eq!(
        a.check().unwrap().ready,
        ReadyMode::Delay(Duration::from_secs(120))
    );
}
