//! Lays out the `dist` build's code so the functions the agent runs sit together.
//!
//! The kernel maps code 64 KiB around each page fault, so the agent's resident code is
//! set by how many 64 KiB windows its executed functions are spread over. `link-order.txt`
//! (written by `bench/link_order.py` from a callgrind run of the agent) lists them; lld's
//! `--symbol-ordering-file` places them first. Measured in docs/BENCHMARKS.md: resident
//! code at 1,500 series 3.8 → 2.1 MiB.
//!
//! Only for the `dist` profile (the shipped artefact) on x86_64-unknown-linux-gnu, whose
//! default linker is rustc's own lld; skipped, with a warning, when RUSTFLAGS choose
//! another linker. The layout changes nothing else: a listed function that no longer
//! exists is ignored, an unlisted one is placed with the cold code.

use std::path::Path;

fn main() {
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("link-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" || !is_dist_profile() {
        return;
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "link-self-contained", "fuse-ld"]
        .iter()
        .any(|f| flags.contains(f))
    {
        println!(
            "cargo:warning=RUSTFLAGS choose the linker: {} not applied (it needs lld)",
            order.display()
        );
        return;
    }
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}

/// Cargo tells a build script its profile only as debug/release; the output directory
/// is `<target-dir>/[<triple>/]<profile>/build/<package>-<hash>/out`.
fn is_dist_profile() -> bool {
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    Path::new(&out)
        .ancestors()
        .nth(3)
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "dist")
}
