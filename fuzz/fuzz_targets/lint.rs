//! Any bytes through the whole `changeover lint` path: load (binary and UTF-8 checks, YAML with
//! its depth and alias budgets), model, every rule, every renderer. The property is simply that
//! nothing panics, overflows the stack or runs away with memory.

#![no_main]

use changeover_k8s::{Config, KubeVersion, Linter, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut config = Config::default();
    // Let the first byte switch on the version-dependent rules too.
    if data.first().is_some_and(|b| b & 1 == 1) {
        config.kube_version = Some(KubeVersion::new(1, 29));
    }
    let mut linter = Linter::new(config);
    linter.add_input("fuzz.yaml", data);
    let report = linter.finish();
    let _ = render::text(&report);
    let _ = render::json(&report);
    let _ = render::sarif(&report);
});
