//! The production ROM under QEMU + SeaBIOS: it runs at POST, survives the
//! checksum re-check, registers its BCV and shows up in the boot menu.
//!
//! Needs `target/srpboot.rom` (`cargo xtask rom`; `cargo xtask test` builds it).

use std::path::PathBuf;
use tools::qemu::{self, Qemu};

fn rom() -> PathBuf {
    let p = qemu::production_rom();
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask rom` (or `cargo xtask test`)",
        p.display()
    );
    p
}

/// Parses "srpboot <ver> PCI bb:dd.f ROM ssss LOW ssss BODY aaaaaaaa" from
/// COM1: PCI address, shadow segment, low-copy segment, body address.
fn banner(serial: &str) -> (String, u16, u16, u32) {
    let line = serial
        .lines()
        .find(|l| l.starts_with("srpboot ") && l.contains(" PCI "))
        .unwrap_or_else(|| panic!("no banner on COM1:\n{serial}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = |k: &str| words[words.iter().position(|w| *w == k).unwrap() + 1];
    let rom_seg = u16::from_str_radix(at("ROM"), 16).unwrap();
    let low_seg = u16::from_str_radix(at("LOW"), 16).unwrap();
    let body = u32::from_str_radix(at("BODY"), 16).unwrap();
    (at("PCI").to_string(), rom_seg, low_seg, body)
}

#[test]
fn banner_on_com1_and_seabios_runs_init_and_bcv() {
    let out = Qemu::new("rom-banner")
        .rom_on_nic(&rom(), "virtio-net-pci")
        .args([
            "-device",
            "virtio-net-pci,netdev=n1,mac=52:54:00:00:00:99",
            "-netdev",
            "user,id=n1",
        ])
        .until_bios_log("No bootable device")
        .timeout_secs(60)
        .run();
    assert!(out.marker_seen, "{}", out.describe());
    let (pci, rom_seg, low_seg, body) = banner(&out.serial);
    // Our NIC is the first device after the host bridge and ISA bridge
    // functions QEMU puts at slots 0 and 1 (no VGA in the harness).
    assert_eq!(pci, "00:02.0", "{}", out.describe());
    assert!(out
        .serial
        .contains(&format!("srpboot {} ", env!("CARGO_PKG_VERSION"))));
    // SeaBIOS ran our init at offset 3 of the shadow copy we reported ...
    let init_line = format!("Running option rom at {rom_seg:04x}:0003");
    assert!(
        out.debugcon.contains(&init_line),
        "SeaBIOS log lacks {init_line:?}:\n{}",
        out.debugcon
    );
    // ... kept the ROM after re-checking its checksum, and called the BCV.
    assert!(!out.debugcon.contains("bad checksum"), "{}", out.debugcon);
    let bcv = format!("Running option rom at {rom_seg:04x}:");
    assert_eq!(
        out.debugcon.matches(&bcv).count(),
        2,
        "init and BCV calls expected:\n{}",
        out.debugcon
    );
    // The low copy is a few KiB at the top of base memory, above the
    // 0x7000-0x90000 range SeaBIOS wipes before booting; the body is in
    // PMM memory outside conventional RAM.
    assert!(
        (0x9000..0xa000).contains(&low_seg),
        "low copy segment {low_seg:04x}"
    );
    assert!(body >= 0xa0000 && body % 4096 == 0, "body at {body:#x}");
    // Without a configured target the BCV claims no drive.
    assert!(
        out.serial.contains("not installing a drive"),
        "{}",
        out.describe()
    );
}

#[test]
fn product_string_in_boot_menu() {
    let out = Qemu::new("rom-bootmenu")
        .rom_on_nic(&rom(), "virtio-net-pci")
        .args(["-boot", "menu=on,splash-time=5000"])
        .sercon()
        .key_when("Press ESC for boot menu", "esc")
        .until("srpboot SAN disk (SRP over RoCEv2)")
        .timeout_secs(60)
        .run();
    assert!(out.marker_seen, "{}", out.describe());
    let menu = &out.serial[out
        .serial
        .find("Select boot device:")
        .expect("no boot menu")..];
    let entry = menu
        .lines()
        .find(|l| l.contains("srpboot SAN disk (SRP over RoCEv2)"))
        .unwrap_or_else(|| panic!("product string not in the boot menu:\n{menu}"));
    assert!(
        entry.trim_start().starts_with("1. "),
        "expected first entry, got {entry:?}"
    );
}

fn run_rom(name: &str, rom: &std::path::Path) -> qemu::Outcome {
    Qemu::new(name)
        .rom_on_nic(rom, "virtio-net-pci")
        .until_bios_log("No bootable device")
        .timeout_secs(60)
        .run()
}

fn romtool(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_romtool"))
        .args(args)
        .output()
        .unwrap()
}

/// `romtool config` writes the target into the image; the ROM reads it at POST.
#[test]
fn configured_target_is_reported_at_post() {
    let dir = qemu::target_dir().join("qemu-logs/rom-config");
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("configured.rom");
    std::fs::copy(rom(), &img).unwrap();
    let o = romtool(&[
        "config",
        img.to_str().unwrap(),
        "--target",
        "srp://192.0.2.7:5001/3",
        "--ip",
        "192.0.2.10/24",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        romtool(&["verify", img.to_str().unwrap(), "--expect", "1af4:1000"])
            .status
            .success()
    );
    let out = run_rom("rom-configured", &img);
    assert!(
        out.serial
            .contains("srpboot: target srp://192.0.2.7:5001/3 from 192.0.2.10/24"),
        "{}",
        out.describe()
    );
}

/// A damaged config block (image checksum repaired so SeaBIOS still runs
/// the ROM) is reported, and no drive is claimed.
#[test]
fn corrupt_config_is_reported_and_claims_nothing() {
    let dir = qemu::target_dir().join("qemu-logs/rom-config");
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("corrupt.rom");
    let mut bytes = std::fs::read(rom()).unwrap();
    let at = (0..bytes.len())
        .step_by(16)
        .find(|&i| bytes[i..].starts_with(b"$SRPCFG\0"))
        .expect("config block");
    bytes[at + 0x10] ^= 0x55; // local IP of an unconfigured block must be 0
    let last = bytes.len() - 1;
    let sum = bytes[..last].iter().fold(0u8, |a, b| a.wrapping_add(*b));
    bytes[last] = sum.wrapping_neg();
    std::fs::write(&img, &bytes).unwrap();
    let v = romtool(&["verify", img.to_str().unwrap()]);
    assert!(!v.status.success());
    let out = run_rom("rom-corrupt-config", &img);
    assert!(
        out.serial.contains("configuration block is corrupt"),
        "{}",
        out.describe()
    );
    assert!(
        out.serial.contains("not installing a drive"),
        "{}",
        out.describe()
    );
}
