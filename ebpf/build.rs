//! Compiles the tc programs with clang (`-target bpf -g -O2`; `-g` emits the BTF aya needs)
//! and embeds the object; compiles a host probe of the shared header's layouts so a test can
//! compare them with the Rust mirror in `layout.rs`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for f in [
        "src/bpf/flowscope.bpf.c",
        "src/bpf/flowscope.h",
        "src/bpf/layout_probe.c",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let arch_include = format!("/usr/include/{}-linux-gnu", target_arch_triple());
    let status = Command::new(&clang)
        .args(["-target", "bpf", "-g", "-O2", "-Wall", "-Werror"])
        .arg(format!("-I{arch_include}"))
        .args(["-c", "src/bpf/flowscope.bpf.c", "-o"])
        .arg(out.join("flowscope.bpf.o"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {clang} (install clang): {e}"));
    assert!(
        status.success(),
        "clang failed to compile the eBPF programs"
    );

    // The layout probe runs on the host and prints `name size` / `name.field offset` lines.
    let probe = out.join("layout_probe");
    let status = Command::new(&clang)
        .args(["-O0", "-Isrc/bpf", "src/bpf/layout_probe.c", "-o"])
        .arg(&probe)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {clang}: {e}"));
    assert!(status.success(), "clang failed to compile the layout probe");
    let output = Command::new(&probe).output().expect("run layout probe");
    assert!(output.status.success(), "layout probe failed");
    std::fs::write(out.join("c_layout.txt"), output.stdout).expect("write layout");
}

fn target_arch_triple() -> &'static str {
    match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "aarch64",
        _ => "x86_64",
    }
}
