//! The NIC drivers on QEMU's emulated devices: the `nic-selftest` ROM
//! brings its NIC up at BCV time, ARPs for slirp's gateway 10.0.2.2,
//! prints what it got and quiesces the device; SeaBIOS then carries on to
//! "No bootable device", so the device was left in a state the BIOS copes
//! with.
//!
//! Needs `target/srpboot-nicselftest-<vendor><device>.rom` for 1af4:1000,
//! 1af4:1041 and 8086:100e (`cargo xtask test` builds them; one by hand:
//! `cargo xtask rom --nic-selftest --vendor 8086 --device 100e`).

use std::path::PathBuf;
use tools::qemu::{self, Qemu};

/// slirp's gateway MAC: 52:55 followed by the gateway's IPv4 address.
const GATEWAY_MAC: &str = "52:55:0a:00:02:02";

fn rom(vendor: u16, device: u16) -> PathBuf {
    // Same name as xtask's `nic_selftest_rom`.
    let p = qemu::target_dir().join(format!("srpboot-nicselftest-{vendor:04x}{device:04x}.rom"));
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask rom --nic-selftest --vendor {vendor:04x} --device {device:04x}` (or `cargo xtask test`)",
        p.display()
    );
    p
}

/// Boots `nic` (a QEMU -device string) carrying the self-test ROM with PCIR
/// `vendor:device` and MAC `mac`; checks the result line names `model`, the
/// MAC, link up and slirp's ARP reply, and that the device was quiesced.
/// Returns the ARP round trip the ROM measured, in ms.
fn selftest(name: &str, nic: &str, id: (u16, u16), mac: &str, model: &str) -> u64 {
    let out = Qemu::new(name)
        .rom_on_nic(&rom(id.0, id.1), &format!("{nic},mac={mac}"))
        .until_bios_log("No bootable device")
        .timeout_secs(90)
        .run();
    assert!(out.marker_seen, "{}", out.describe());
    // SeaBIOS ran our ROM (so the PCIR matched the device) ...
    assert!(
        out.debugcon.contains("Running option rom at"),
        "{}",
        out.debugcon
    );
    // ... and it found the NIC, saw the link and got slirp's answer.
    let line = out
        .serial
        .lines()
        .find(|l| l.starts_with("srpboot: nic "))
        .unwrap_or_else(|| panic!("no selftest line:\n{}", out.describe()));
    let prefix =
        format!("srpboot: nic {model} {mac} link up; ARP 10.0.2.2 is-at {GATEWAY_MAC} after ");
    let ms = line
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(" ms"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| {
            panic!(
                "unexpected selftest line {line:?}, wanted {prefix:?}<n> ms\n{}",
                out.describe()
            )
        });
    assert!(
        out.serial.contains("srpboot: nic quiesced"),
        "{}",
        out.describe()
    );
    println!(
        "{name}: {line} (boot to 'No bootable device' in {:.1} s)",
        out.seconds
    );
    ms
}

#[test]
fn virtio_net_legacy() {
    let ms = selftest(
        "nic-virtio-legacy",
        "virtio-net-pci,disable-modern=on",
        (0x1af4, 0x1000),
        "52:54:00:5e:10:01",
        "virtio-net-legacy",
    );
    assert!(ms < 1000, "slirp answers at once; took {ms} ms");
}

#[test]
fn virtio_net_modern() {
    // Modern-only device: its ID is 1af4:1041, so the ROM's PCIR must be too.
    let ms = selftest(
        "nic-virtio-modern",
        "virtio-net-pci,disable-legacy=on",
        (0x1af4, 0x1041),
        "52:54:00:5e:10:02",
        "virtio-net-modern",
    );
    assert!(ms < 1000, "slirp answers at once; took {ms} ms");
}

#[test]
fn virtio_net_transitional_prefers_modern() {
    // QEMU's default virtio-net-pci offers both interfaces.
    selftest(
        "nic-virtio-transitional",
        "virtio-net-pci",
        (0x1af4, 0x1000),
        "52:54:00:5e:10:03",
        "virtio-net-modern",
    );
}

#[test]
fn e1000() {
    // QEMU's e1000 refuses frames for 1 s after RCTL is written (its
    // "flush queue" timer), so the reply to our first request is queued and
    // delivered about a second later: no bound on the time here.
    selftest(
        "nic-e1000",
        "e1000",
        (0x8086, 0x100e),
        "52:54:00:5e:10:04",
        "e1000",
    );
}
