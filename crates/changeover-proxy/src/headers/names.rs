//! Response field names, told apart without parsing them: the hop-by-hop
//! fields and the fields most responses carry.

use http::header::HeaderName;

/// The hop-by-hop fields RFC 9110 §7.6.1 names, whether `Connection`
/// lists them or not. A response's are dropped as its head is parsed
/// (`upstream::head`, by [`classify`]); a request's by [`request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hop {
    Connection,
    KeepAlive,
    ProxyConnection,
    Te,
    TransferEncoding,
    Upgrade,
}

/// What a response field's name is to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    /// Hop-by-hop: not passed on as it is.
    Hop(Hop),
    /// A common field, known without parsing its name.
    Known(Known),
    /// Any other: `HeaderName::from_bytes` it is.
    Other,
}

/// The end-to-end fields [`classify`] knows (those most responses carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    Date,
    Vary,
    ETag,
    Server,
    Expires,
    Location,
    SetCookie,
    ContentType,
    CacheControl,
    LastModified,
    AcceptRanges,
    ContentLength,
    ContentEncoding,
}

impl Known {
    /// The field's name (a constant: no parsing, no allocation).
    pub(crate) fn name(self) -> HeaderName {
        use http::header::*;
        match self {
            Known::Date => DATE,
            Known::Vary => VARY,
            Known::ETag => ETAG,
            Known::Server => SERVER,
            Known::Expires => EXPIRES,
            Known::Location => LOCATION,
            Known::SetCookie => SET_COOKIE,
            Known::ContentType => CONTENT_TYPE,
            Known::CacheControl => CACHE_CONTROL,
            Known::LastModified => LAST_MODIFIED,
            Known::AcceptRanges => ACCEPT_RANGES,
            Known::ContentLength => CONTENT_LENGTH,
            Known::ContentEncoding => CONTENT_ENCODING,
        }
    }
}

/// Which field `name` is, for a name from a response head that httparse
/// parsed (so every byte of it is a token character; see [`token_eq`]).
/// The hop-by-hop fields and the fields most responses carry are told
/// apart by their length and one or two word compares, where parsing the
/// name as a `HeaderName` costs about a hundred instructions each.
pub(crate) fn classify(name: &[u8]) -> Name {
    use Name::{Hop as H, Known as K};
    // Constant tables (all `Copy`): nothing is built per call.
    let candidates: &[(&[u8], Name)] = match name.len() {
        2 => &[(b"te", H(Hop::Te))],
        4 => &[
            (b"date", K(Known::Date)),
            (b"vary", K(Known::Vary)),
            (b"etag", K(Known::ETag)),
        ],
        6 => &[(b"server", K(Known::Server))],
        7 => &[
            (b"upgrade", H(Hop::Upgrade)),
            (b"expires", K(Known::Expires)),
        ],
        8 => &[(b"location", K(Known::Location))],
        10 => &[
            (b"connection", H(Hop::Connection)),
            (b"keep-alive", H(Hop::KeepAlive)),
            (b"set-cookie", K(Known::SetCookie)),
        ],
        12 => &[(b"content-type", K(Known::ContentType))],
        13 => &[
            (b"cache-control", K(Known::CacheControl)),
            (b"last-modified", K(Known::LastModified)),
            (b"accept-ranges", K(Known::AcceptRanges)),
        ],
        14 => &[(b"content-length", K(Known::ContentLength))],
        16 => &[
            (b"proxy-connection", H(Hop::ProxyConnection)),
            (b"content-encoding", K(Known::ContentEncoding)),
        ],
        17 => &[(b"transfer-encoding", H(Hop::TransferEncoding))],
        _ => return Name::Other,
    };
    for &(lower, what) in candidates {
        if token_eq(name, lower) {
            return what;
        }
    }
    Name::Other
}

/// Whether `token` is `lower` in any case, for a `token` of token
/// characters (RFC 9110 §5.6.2) and a `lower` of lowercase letters, digits
/// and `-` of the same length. Each byte is compared with bit 5 (the ASCII
/// case bit) set: for a token character that makes a lowercase letter only
/// from that letter in either case, and `-` or a digit only from itself
/// (the other byte that would, 0x0D or 0x10-0x19, is no token character).
/// Eight bytes at a time.
fn token_eq(token: &[u8], lower: &[u8]) -> bool {
    const CASE: u64 = 0x2020_2020_2020_2020;
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let n = token.len();
    if n != lower.len() {
        return false;
    }
    if n < 8 {
        return token.iter().zip(lower).all(|(t, l)| t | 0x20 == *l);
    }
    // Eight at a time, the last eight overlapping those before.
    let mut at = 0;
    while at + 8 < n {
        if word(&token[at..at + 8]) | CASE != word(&lower[at..at + 8]) {
            return false;
        }
        at += 8;
    }
    word(&token[n - 8..]) | CASE == word(&lower[n - 8..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name `classify` knows, in every case, is known as what
    /// `HeaderName` makes of it; a name that differs in any one byte (by
    /// any token character but the same letter's other case) is not.
    #[test]
    fn classify_knows_exactly_its_names() {
        let hops = [
            ("te", Hop::Te),
            ("upgrade", Hop::Upgrade),
            ("connection", Hop::Connection),
            ("keep-alive", Hop::KeepAlive),
            ("proxy-connection", Hop::ProxyConnection),
            ("transfer-encoding", Hop::TransferEncoding),
        ];
        let known = [
            "date",
            "vary",
            "etag",
            "server",
            "expires",
            "location",
            "set-cookie",
            "content-type",
            "cache-control",
            "last-modified",
            "accept-ranges",
            "content-length",
            "content-encoding",
        ];
        let tchars: Vec<u8> = (0u8..=127)
            .filter(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
            .collect();
        let names = hops.iter().map(|(n, _)| *n).chain(known);
        for name in names {
            let want = match hops.iter().find(|(n, _)| *n == name) {
                Some((_, h)) => Name::Hop(*h),
                None => match classify(name.as_bytes()) {
                    Name::Known(k) => {
                        assert_eq!(k.name(), HeaderName::from_static(name));
                        Name::Known(k)
                    }
                    other => panic!("{name}: {other:?}"),
                },
            };
            for variant in [
                name.to_owned(),
                name.to_ascii_uppercase(),
                name.char_indices()
                    .map(|(i, c)| {
                        if i % 2 == 0 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect(),
            ] {
                assert_eq!(classify(variant.as_bytes()), want, "{variant}");
            }
            for at in 0..name.len() {
                for &t in &tchars {
                    let mut other = name.as_bytes().to_vec();
                    if other[at].eq_ignore_ascii_case(&t) {
                        continue;
                    }
                    other[at] = t;
                    assert_ne!(
                        classify(&other),
                        want,
                        "{:?} taken for {name}",
                        String::from_utf8_lossy(&other)
                    );
                }
            }
        }
        for other in ["x-request-id", "content-lengths", "dates", "", "t"] {
            assert_eq!(classify(other.as_bytes()), Name::Other, "{other}");
        }
    }
}
