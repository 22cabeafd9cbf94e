//! Link settings of the `gatecast-player` binary.
//!
//! On Linux with glibc the binary is linked with packed relative relocations (DT_RELR,
//! binutils ≥ 2.38, glibc ≥ 2.36: Debian 12 and Raspberry Pi OS 12, see deploy/deb/README.md).
//! The position-independent binary otherwise carries about 600 KB of relative relocations
//! that the loader reads whole at every start and that stay resident afterwards; packed, they
//! take a few KB (docs/BENCHMARKS.md, "Player idle RSS (prss)").
#![forbid(unsafe_code)]

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" && linker_packs_relocations() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the system linker knows `-z pack-relative-relocs` (binutils 2.38 and later); an
/// older one would fail the link, so the binary is then linked as before.
fn linker_packs_relocations() -> bool {
    std::process::Command::new("ld")
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("pack-relative-relocs"))
}
