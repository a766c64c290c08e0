//! Black-box tests of `changeover lint`: the built binary, run in a fresh temporary directory,
//! checked on its exit status, standard output and standard error. One file per contract:
//!
//! - `output`: exit 0 when no finding reaches `--fail-on`, 1 when one does, 2 for bad usage; the
//!   formats and the options that choose what is reported;
//! - `inputs`: what is read, and an input that cannot be read or parsed exits 2 while the other
//!   inputs are still linted and reported;
//! - `agrees_with_the_cli`: the lint and the binary parse and check command lines alike.
//!
//! `harness` runs the binary and prints the command and both streams on every failure. One test
//! binary, so the files link once.

mod agrees_with_the_cli;
mod harness;
mod inputs;
mod output;
