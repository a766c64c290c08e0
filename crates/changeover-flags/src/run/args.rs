//! The flags of `changeover run` as written: one field a flag, its doc comment its `--help`
//! text, each value kept as a string so that [`RunArgs::check`](super::RunArgs::check) refuses it
//! with our message, not clap's.

use std::ffi::OsString;
use std::path::PathBuf;

/// The flags of `changeover run`, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[cfg_attr(
    feature = "clap",
    command(
        about = "Run a server with zero-downtime reloads and the Kubernetes stop sequence (also as PID 1)",
        after_help = "Durations read like 500ms, 5s, 1m. Signals like TERM, SIGQUIT or 15.\n\nThe reload signal (SIGHUP) or `changeover reload` starts a new child on the same sockets; once it is ready the old one gets the stop signal. SIGTERM/SIGINT or `changeover prestop` stop: /readyz turns 503, the child serves on for the stop delay, then gets the stop signal, then SIGKILL at the drain deadline.\n\nWith --proxy the supervisor holds the client connections: a reload routes new requests to the new child and stops the old one once nothing is in flight to it; a stop answers with Connection: close through the stop delay, then closes the client connections and only then stops the child. It costs a hop per request (see the README).\n\nExit status: the child's (128 + signal when a signal ended it), 127 command not found, 126 not executable, 2 bad usage, 1 a socket or file could not be set up.\n\nExamples:\n  changeover run --listen 0.0.0.0:8080 --health 0.0.0.0:9090 -- ./server\n  changeover run --listen http=0.0.0.0:8080 --ready delay:2s --stop-signal QUIT -- python3 app.py\n  changeover run --proxy --listen 0.0.0.0:8080 --ready http:/ -- node server.js\n  changeover run --proxy --upstream env:PORT --listen 0.0.0.0:8080 -- python3 app.py"
    )
)]
pub struct RunArgs {
    /// A socket to bind once and pass to every child at fd 3, 4, …: HOST:PORT, [V6]:PORT or
    /// unix:PATH, named NAME (default http, then listen1, …). Repeatable. Sockets passed by
    /// systemd (LISTEN_FDS) are adopted instead.
    #[cfg_attr(feature = "clap", arg(long, value_name = "[NAME=]ADDR"))]
    pub listen: Vec<String>,

    /// Write the supervisor's pid here (it never changes across reloads).
    #[cfg_attr(feature = "clap", arg(long, value_name = "PATH"))]
    pub pid_file: Option<PathBuf>,

    /// The control socket for reload, status and prestop (mode 0600) [default:
    /// $XDG_RUNTIME_DIR/changeover.sock, else /tmp/changeover-<uid>/control.sock].
    #[cfg_attr(feature = "clap", arg(long, value_name = "PATH"))]
    pub control: Option<PathBuf>,

    /// Serve /livez, /readyz and /metrics here.
    #[cfg_attr(feature = "clap", arg(long, value_name = "ADDR"))]
    pub health: Option<String>,

    /// How a new child shows it is ready: READY=1 on NOTIFY_SOCKET, a fixed delay, a probe
    /// command run (by /bin/sh, with CHANGEOVER_CHILD_PID set) until it exits 0, or (with
    /// --proxy) GET PATH on the child's own upstream until it answers 2xx [default: notify; with
    /// --proxy --upstream env:VAR, a connection to its port].
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "notify|delay:DURATION|exec:COMMAND|http:PATH")
    )]
    pub ready: Option<String>,

    /// Kill a new child that is not ready within this [default: 60s].
    #[cfg_attr(feature = "clap", arg(long, value_name = "DURATION"))]
    pub ready_timeout: Option<String>,

    /// Keep serving this long after a stop began, so load balancers stop routing here first
    /// [default: 5s when KUBERNETES_SERVICE_HOST is set, else 0].
    #[cfg_attr(feature = "clap", arg(long, value_name = "DURATION"))]
    pub stop_delay: Option<String>,

    /// SIGKILL a child's process group this long after its stop signal [default: 20s].
    #[cfg_attr(feature = "clap", arg(long, value_name = "DURATION"))]
    pub drain_timeout: Option<String>,

    /// What a child is sent to make it drain and exit [default: TERM].
    #[cfg_attr(feature = "clap", arg(long, value_name = "SIGNAL"))]
    pub stop_signal: Option<String>,

    /// The signal to the supervisor that starts a reload [default: HUP].
    #[cfg_attr(feature = "clap", arg(long, value_name = "SIGNAL"))]
    pub reload_signal: Option<String>,

    /// At most this many old generations drain at once; the oldest is killed beyond that
    /// [default: 4].
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub max_draining: Option<String>,

    /// Serve the --listen sockets here (HTTP/1.1 and HTTP/2) and forward each request to the
    /// newest ready child over a private upstream of its own: an old child gets its stop signal
    /// only once no request is in flight to it, so whatever it does on SIGTERM (closing idle
    /// keep-alive connections, exiting at once) no client sees. /livez and /readyz stay on
    /// --health.
    #[cfg_attr(feature = "clap", arg(long))]
    pub proxy: bool,

    /// With --proxy, how each child gets its upstream: fd, a private Unix socket at fd 3
    /// (LISTEN_FDS, name http); or env:VAR, a free loopback port in $VAR (and HOST=127.0.0.1)
    /// that the child binds itself [default: fd].
    #[cfg_attr(feature = "clap", arg(long, value_name = "fd|env:VAR"))]
    pub upstream: Option<String>,

    /// With --proxy, do not add X-Forwarded-For, X-Forwarded-Proto and Forwarded.
    #[cfg_attr(feature = "clap", arg(long))]
    pub no_forwarded_headers: bool,

    /// The server's command, after --.
    #[cfg_attr(feature = "clap", arg(last = true, value_name = "COMMAND"))]
    pub command: Vec<OsString>,
}
