//! Any bytes a server could send, through the response reader of
//! `changeover load` (a server's bytes are untrusted input to it), read as
//! a keep-alive connection reads them: response after response until one
//! fails or the bytes end.
//!
//! Properties: no panic, no hang, no runaway memory; every response has a
//! status code from 100 to 599 (a finding: `HTTP/1.1 002 OK` was a response
//! of status 2), and fewer responses come out than there are bytes (each
//! consumes at least a status line).

#![no_main]

use changeover_load::fuzzing::read_responses;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let read = read_responses(data);
    assert!(read.responses.len() <= data.len() / 12 + 1, "{read:?}");
    for (status, _) in &read.responses {
        assert!((100..=599).contains(status), "{read:?}");
    }
});
