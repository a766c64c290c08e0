//! Turning a [`Report`](crate::Report) into output: `text.rs` for people (the report's
//! `summary`, `overview`, `timeline_text` and `samples_text` methods), `json.rs` for scripts
//! (its `Serialize` impl).

use std::fmt::{self, Write as _};

/// Appends formatted text to a `String` place, as `write!` does, with no `Result` to drop:
/// `put!(s, "{n} ok")`.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        $crate::render::push_fmt(&mut $out, format_args!($($arg)*))
    };
}

/// [`put!`] and a newline.
macro_rules! putln {
    ($out:expr, $($arg:tt)*) => {{
        put!($out, $($arg)*);
        $out.push('\n');
    }};
}

mod json;
mod text;

/// Appends `args` to `out`. Writing into a `String` cannot fail by itself; only a `Display`
/// impl that returns an error could make it, which none of this crate's does, and `format!`
/// panics on that too.
pub(crate) fn push_fmt(out: &mut String, args: fmt::Arguments<'_>) {
    out.write_fmt(args)
        .expect("a formatting trait implementation returned an error");
}
