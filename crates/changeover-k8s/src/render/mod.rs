//! Turning a [`Report`](crate::Report) into output: [`text`] for people, [`json`] for scripts,
//! [`sarif`] for code-scanning services, and [`explain`] for one rule.

mod json;
mod sarif;
mod text;

pub use json::json;
pub use sarif::sarif;
pub use text::{explain, summary, text};
