//! Listening addresses as users write them: `HOST:PORT`, `[V6]:PORT`, `unix:PATH`.
//!
//! The grammar lives in `changeover-flags`, shared with `changeover run` and `changeover lint`,
//! so that an address the library refuses is one the supervisor and the lint refuse too, with
//! the same message; this module re-exports it (with host names resolved: feature `resolve`).

pub use changeover_flags::addr::{AddrError, ListenAddr};
