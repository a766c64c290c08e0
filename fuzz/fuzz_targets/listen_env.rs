//! Any `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` through the parser a
//! server runs at start (the values come from whoever started it).
//!
//! Input: the three values separated by NUL bytes (a missing part is an
//! unset variable). Properties: no panic; what parses is `LISTEN_FDS` fds,
//! consecutive from 3, each with a name, and nothing at all for another pid.

#![no_main]

use changeover::listeners::ListenEnv;
use libfuzzer_sys::fuzz_target;

const MY_PID: u32 = 4242;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0).map(|p| String::from_utf8_lossy(p).into_owned());
    let env = ListenEnv {
        pid: parts.next(),
        fds: parts.next(),
        names: parts.next(),
    };
    if let Ok(fds) = env.parse(MY_PID) {
        // `04242` and `+4242` are this pid too, as for systemd's own parser.
        let for_me = env.pid.as_deref().map(|p| p.trim().parse::<u32>()) == Some(Ok(MY_PID));
        if !for_me {
            assert!(fds.is_empty());
        }
        for (i, (fd, _name)) in fds.iter().enumerate() {
            assert_eq!(*fd, 3 + i as i32);
        }
        if !fds.is_empty() {
            let count: usize = env.fds.as_deref().unwrap().trim().parse().unwrap();
            assert_eq!(fds.len(), count);
        }
    }
});
