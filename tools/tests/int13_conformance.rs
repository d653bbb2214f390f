//! Differential INT 13h conformance: the real-mode program in
//! `qemu/conformance/` calls every INT 13h function with valid and invalid
//! inputs and logs registers, flags and data hashes on COM1. It runs once on
//! SeaBIOS's own virtio-blk disk and once on our drive (test-disk ROM), both
//! holding the same image, in the same test; the logs must match except for
//! the rules in `mask.txt` (implementation-specific, e.g. EDD device paths)
//! and `mask-srpboot.txt` (our deliberate, documented deviations).

use std::path::Path;
use std::process::Command;
use tools::images::image;
use tools::qemu::{self, debug_exit_status, workspace_root, Qemu};

fn run(name: &str, disk: &Path, ours: bool) -> qemu::Outcome {
    let q = Qemu::new(name).args(["-m", "64"]);
    let q = if ours {
        let rom = qemu::testdisk_rom();
        assert!(
            rom.exists(),
            "{} missing: cargo xtask rom --test-disk",
            rom.display()
        );
        q.rom_on_nic(&rom, "virtio-net-pci").args([
            "-fw_cfg".to_string(),
            format!("name=opt/srpboot/disk,file={}", disk.display()),
        ])
    } else {
        q.args([
            "-drive".to_string(),
            format!(
                "file={},if=none,id=d0,format=raw,snapshot=on",
                disk.display()
            ),
        ])
        .args(["-device", "virtio-blk-pci,drive=d0"])
    };
    let out = q.timeout_secs(120).run();
    assert_eq!(
        out.exit_status,
        Some(debug_exit_status(0x10)),
        "{}",
        out.describe()
    );
    assert!(out.serial.contains("SUMMARY"), "{}", out.describe());
    out
}

#[test]
fn our_int13_matches_seabios_virtio_blk() {
    let disk = image("conformance");
    let seabios = run("conformance-seabios", &disk, false);
    let ours = run("conformance-srpboot", &disk, true);
    // The handler preserved everything it must (the program flags anomalies).
    let summary = ours
        .serial
        .lines()
        .find(|l| l.starts_with("SUMMARY"))
        .unwrap();
    assert!(summary.contains("anomalies=0"), "{summary}");

    let dir = &ours.log_dir;
    let mask = dir.join("mask.txt");
    let root = workspace_root().join("qemu/conformance");
    let rules = std::fs::read_to_string(root.join("mask.txt")).unwrap()
        + &std::fs::read_to_string(root.join("mask-srpboot.txt")).unwrap();
    std::fs::write(&mask, rules).unwrap();
    let exp = seabios.log_dir.join("com1.log");
    let act = ours.log_dir.join("com1.log");
    let out = Command::new("bash")
        .arg(root.join("compare.sh"))
        .arg(&exp)
        .arg(&act)
        .arg(&mask)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "INT 13h differs from SeaBIOS:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every test line was compared (none missing on either side).
    let last = text.lines().last().unwrap_or("");
    assert!(
        last.starts_with("conformance: ") && last.ends_with(" 0 failed"),
        "{text}"
    );
    let passed: usize = last["conformance: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(passed >= 100, "{text}");
}
