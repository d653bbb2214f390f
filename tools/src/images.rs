//! Test disk images built from Debian packages by `qemu/images/mkdisk.sh`
//! (and the INT 13h conformance disk), cached under `target/images/`.

use crate::qemu::{target_dir, workspace_root};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static BUILD: Mutex<()> = Mutex::new(());

/// Returns the image of `kind` (`syslinux`, `grub`, `grub-linux`,
/// `conformance`), building it on first use.
pub fn image(kind: &str) -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir().join("images");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{kind}.img"));
    if out.exists() {
        return out;
    }
    let root = workspace_root();
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
