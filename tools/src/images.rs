//! Test disk images built from Debian packages by `qemu/images/mkdisk.sh`
//! (and the INT 13h conformance disk), cached under `target/images/`.

use crate::qemu::{target_dir, workspace_root};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static BUILD: Mutex<()> = Mutex::new(());

/// Returns the image of `kind` (`syslinux`, `grub`, `grub-linux`,
/// `conformance`), building it on first use. The cached file's name
/// carries a hash of the builder's sources, so a changed test program or
/// script gets a fresh image instead of a stale one.
pub fn image(kind: &str) -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir().join("images");
    std::fs::create_dir_all(&dir).unwrap();
    let root = workspace_root();
    let out = dir.join(format!("{kind}-{:016x}.img", sources_hash(kind)));
    if out.exists() {
        return out;
    }
    let tmp = dir.join(format!("{kind}.img.tmp"));
    let mut cmd = if kind == "conformance" {
        let mut c = Command::new("bash");
        c.arg(root.join("qemu/conformance/build.sh")).arg(&tmp);
        c
    } else {
        let mut c = Command::new("bash");
        c.arg(root.join("qemu/images/mkdisk.sh"))
            .arg(kind)
            .arg(&tmp);
        c
    };
    let st = cmd.status().expect("run image builder");
    assert!(st.success(), "building the {kind} image failed ({st})");
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// FNV-1a over the files that decide what `kind`'s builder produces (the
/// Debian packages it installs are pinned by the distribution, not here).
fn sources_hash(kind: &str) -> u64 {
    let root = workspace_root();
    let files: &[&str] = if kind == "conformance" {
        &[
            "qemu/conformance/build.sh",
            "qemu/conformance/conf13.asm",
            "qemu/conformance/tests.inc",
        ]
    } else {
        &[
            "qemu/images/mkdisk.sh",
            "qemu/images/exit-bs.asm",
            "qemu/lib/uart.inc",
        ]
    };
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for f in files {
        let bytes = std::fs::read(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        for b in f.bytes().chain(bytes) {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}
