//! Compiles the BPF-LSM programs in `c/` for the bpf target with clang, into
//! `$OUT_DIR/linerate.bpf.o`, which the loader embeds.
//!
//! `CLANG` names another clang. `-g` keeps the BTF that CO-RE relocations
//! and BTF-defined maps need; `-I/usr/include/<triple>` finds `asm/types.h`
//! on Debian, where the bpf target has no multiarch folder of its own.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("linerate.bpf.o");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_owned());
    for f in ["c/linerate.bpf.c", "c/kernel.h", "c/abi.h"] {
        println!("cargo:rerun-if-changed={}", dir.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=CLANG");

    let status = Command::new(&clang)
        .args([
            "-g",
            "-O2",
            "-target",
            "bpf",
            "-D__TARGET_ARCH_x86",
            "-Wall",
            "-Werror",
        ])
        .arg("-I/usr/include/x86_64-linux-gnu")
        .arg("-c")
        .arg(dir.join("c/linerate.bpf.c"))
        .arg("-o")
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed to compile bpf/c/linerate.bpf.c ({s}); see its messages above"),
        Err(e) => panic!(
            "cannot run `{clang}` ({e}): building linerate-bpf needs clang with the bpf target and \
             libbpf's headers (Debian: apt-get install clang llvm libbpf-dev), or CLANG=/path/to/clang"
        ),
    }
}
