//! Telling a connection's protocol, and whether its first request head is
//! whole, from the first bytes read: before then an HTTP/1 connection is
//! idle and can still be handed over.

/// What an HTTP/2 client sends first (RFC 9113 §3.4); no HTTP/1 request
/// starts with it.
pub(super) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether these first bytes are HTTP/2's (`Some(true)`), HTTP/1's, or
/// too few to tell.
pub(super) fn is_http2(first: &[u8]) -> Option<bool> {
    let n = first.len().min(H2_PREFACE.len());
    if first[..n] != H2_PREFACE[..n] {
        Some(false)
    } else if n == H2_PREFACE.len() {
        Some(true)
    } else {
        None
    }
}

/// Whether `first` holds a whole request head (it ends at an empty line).
/// Until it does, a connection counts as idle: hyper takes a new
/// connection's first request as begun with its first byte, and would then
/// not let the connection go before answering it.
pub(super) fn has_whole_head(first: &[u8]) -> bool {
    first.iter().enumerate().any(|(i, &b)| {
        b == b'\n' && (first.get(i + 1) == Some(&b'\n') || first.get(i + 1..i + 3) == Some(b"\r\n"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bytes_tell_the_protocol() {
        assert_eq!(is_http2(b"GET / HTTP/1.1\r\n"), Some(false));
        assert_eq!(is_http2(b"P"), None);
        assert_eq!(is_http2(b"POST"), Some(false));
        assert_eq!(is_http2(b"PRI * HTTP/2.0\r\n"), None);
        assert_eq!(is_http2(H2_PREFACE), Some(true));
        assert_eq!(
            is_http2(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"),
            Some(true)
        );
    }

    #[test]
    fn a_request_head_is_whole_at_its_empty_line() {
        assert!(!has_whole_head(b"GET / HTTP/1.1\r\nHo"));
        assert!(!has_whole_head(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(!has_whole_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r"));
        assert!(has_whole_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(has_whole_head(b"GET / HTTP/1.1\nHost: x\n\n"));
        assert!(has_whole_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"));
    }
}
