//! Real loaders from Debian packages boot from a disk served by our INT 13h
//! (the test-disk ROM: QEMU fw_cfg file `opt/srpboot/disk`), in QEMU + SeaBIOS.
//!
//! Needs `target/srpboot-testdisk.rom` (`cargo xtask rom --test-disk`).

use std::path::{Path, PathBuf};
use tools::images::image;
use tools::qemu::{self, debug_exit_status, Qemu};

fn rom() -> PathBuf {
    let p = qemu::testdisk_rom();
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask rom --test-disk`",
        p.display()
    );
    p
}

fn boot(name: &str, disk: &Path, marker: &str, mem_mib: u32) -> qemu::Outcome {
    Qemu::new(name)
        .rom_on_nic(&rom(), "virtio-net-pci")
        .args(["-m".to_string(), mem_mib.to_string()])
        .args([
            "-fw_cfg".to_string(),
            format!("name=opt/srpboot/disk,file={}", disk.display()),
        ])
        .until(marker)
        .timeout_secs(180)
        .run()
}

#[test]
fn syslinux_boots_with_edd() {
    let disk = image("syslinux");
    let out = Qemu::new("loader-syslinux")
        .rom_on_nic(&rom(), "virtio-net-pci")
        .args([
            "-fw_cfg".to_string(),
            format!("name=opt/srpboot/disk,file={}", disk.display()),
        ])
        .timeout_secs(120)
        .run();
    // SYSLINUX printed its banner (the EDD build), ran its config, and
    // chain-loaded the exit program with DL = our drive.
    assert!(out.serial.contains("SYSLINUX 6.04"), "{}", out.describe());
    assert!(
        out.serial.contains("SRPBOOT-SYSLINUX-OK"),
        "{}",
        out.describe()
    );
    assert!(
        out.serial.contains("SRPBOOT-EXIT-BS dl=80"),
        "{}",
        out.describe()
    );
    assert_eq!(
        out.exit_status,
        Some(debug_exit_status(0x10)),
        "{}",
        out.describe()
    );
}

#[test]
fn grub_boots_and_reads_its_files() {
    let disk = image("grub");
    let out = Qemu::new("loader-grub")
        .rom_on_nic(&rom(), "virtio-net-pci")
        .args([
            "-fw_cfg".to_string(),
            format!("name=opt/srpboot/disk,file={}", disk.display()),
        ])
        .timeout_secs(120)
        .run();
    assert!(out.serial.contains("SRPBOOT-GRUB-OK"), "{}", out.describe());
    assert!(
        out.serial.contains("SRPBOOT-GRUB-DONE"),
        "{}",
        out.describe()
    );
    assert_eq!(
        out.exit_status,
        Some(debug_exit_status(0x10)),
        "{}",
        out.describe()
    );
}

/// GRUB loads Debian's kernel with linux16; the kernel's real-mode setup
/// probes EDD through our INT 13h, and edd.ko reports what it saw.
#[test]
fn grub_linux16_kernel_sees_our_edd_disk() {
    let disk = image("grub-linux");
    let bytes = std::fs::read(&disk).unwrap();
    let out = boot("loader-grub-linux", &disk, "SRPBOOT-LINUX-OK", 256);
    assert!(out.marker_seen, "{}", out.describe());
    let edd = |k: &str| -> String {
        let key = format!("EDD {k}=");
        let line = out
            .serial
            .lines()
            .find(|l| l.starts_with(&key))
            .unwrap_or_else(|| panic!("no {key} line\n{}", out.describe()));
        line[key.len()..].trim().to_string()
    };
    assert_eq!(edd("sectors"), (bytes.len() / 512).to_string());
    let sig = u32::from_le_bytes(bytes[440..444].try_into().unwrap());
    assert_eq!(edd("mbr_signature"), format!("0x{sig:08x}"));
    // Host bus path = our NIC's PCI address, as the ROM banner reports it.
    let pci = out
        .serial
        .lines()
        .find(|l| l.starts_with("srpboot ") && l.contains(" PCI "))
        .and_then(|l| l.split(" PCI ").nth(1))
        .map(|s| s[..7].to_string())
        .expect("banner");
    assert_eq!(edd("host_bus"), format!("PCI {pci} channel: 0"));
    assert_eq!(edd("interface"), "SCSI id: 0 lun: 0");
    assert_eq!(edd("version"), "0x30");
    assert!(edd("extensions").contains("64-bit extensions"));
    // The ROM's state is hidden from the OS: the low copy (banner LOW) is
    // inside an E820-reserved range and the body (banner BODY) is in no
    // usable range.
    let banner = out
        .serial
        .lines()
        .find(|l| l.starts_with("srpboot ") && l.contains(" LOW "))
        .expect("banner")
        .to_string();
    let field = |k: &str| {
        banner
            .split(&format!(" {k} "))
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .map(|s| u64::from_str_radix(s, 16).unwrap())
            .unwrap()
    };
    let (low, body) = (field("LOW") * 16, field("BODY"));
    let ranges = |kind: &str| -> Vec<(u64, u64)> {
        out.serial
            .lines()
            .filter(|l| l.contains("BIOS-e820: [mem ") && l.ends_with(kind))
            .map(|l| {
                let r = &l[l.find("[mem ").unwrap() + 5..];
                let r = &r[..r.find(']').unwrap()];
                let (a, b) = r.split_once('-').unwrap();
                (
                    u64::from_str_radix(&a[2..], 16).unwrap(),
                    u64::from_str_radix(&b[2..], 16).unwrap(),
                )
            })
            .collect()
    };
    let reserved = ranges("reserved").iter().any(|&(a, b)| a <= low && low < b);
    assert!(
        ranges("usable").iter().all(|&(a, b)| body < a || body > b),
        "body at {body:#x} is usable RAM to the OS:\n{}",
        out.describe()
    );
    let ram = low;
    assert!(
        reserved,
        "low copy at {ram:#x} is not E820-reserved:\n{}",
        out.describe()
    );
}

/// With a second, SeaBIOS-owned disk and our ROM first in the boot order,
/// our drive is 0x80, SeaBIOS's becomes 0x81 (40:75 counts both), and a
/// loader sees both, numbered contiguously.
#[test]
fn drives_stay_contiguous_with_a_seabios_disk() {
    let disk = image("grub");
    let other = image("syslinux");
    let out = Qemu::new("loader-two-disks")
        .args([
            "-netdev".to_string(),
            "user,id=n0".to_string(),
            "-device".to_string(),
            format!(
                "virtio-net-pci,netdev=n0,romfile={},bootindex=1",
                rom().display()
            ),
            "-drive".to_string(),
            format!(
                "file={},if=none,id=d1,format=raw,snapshot=on",
                other.display()
            ),
            "-device".to_string(),
            "ide-hd,drive=d1,bootindex=2".to_string(),
            "-fw_cfg".to_string(),
            format!("name=opt/srpboot/disk,file={}", disk.display()),
        ])
        .timeout_secs(120)
        .run();
    assert!(
        out.serial.contains("srpboot: drive 80:"),
        "{}",
        out.describe()
    );
    // GRUB booted from our drive (0x80) and its `ls` lists the IDE disk as hd1.
    assert!(out.serial.contains("SRPBOOT-GRUB-OK"), "{}", out.describe());
    let ls = out
        .serial
        .lines()
        .find(|l| l.contains("(hd0)"))
        .unwrap_or_else(|| panic!("no ls line\n{}", out.describe()));
    assert!(ls.contains("(hd1)") && ls.contains("(hd1,msdos1)"), "{ls}");
    assert_eq!(
        out.exit_status,
        Some(debug_exit_status(0x10)),
        "{}",
        out.describe()
    );
}
