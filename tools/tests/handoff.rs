//! The ROM → OS handoff end to end: the production ROM boots SYSLINUX from
//! srp-target in QEMU; at SYSLINUX's marker base memory 0x80000-0xA0000 is
//! saved and the VM frozen — its link and so the ROM's SRP channel stay
//! up, as when an OS takes over. Then, on the host, as the OS boot driver
//! would: `oskernel` finds the sBFT in the dump, `BootDisk` logs in to the
//! same srp-target as the same initiator (same MAC/IP, same port ID) over a
//! new link — the target replaces the ROM's live channel — and reads what
//! INT 13h served the loader.
//!
//! Needs `target/srpboot.rom` (`cargo xtask rom`).

use fabric::time::{Duration, Instant};
use oskernel::{find, BootDisk, DiskConfig, DiskState, Identity, TableError};
use std::path::{Path, PathBuf};
use tools::images::image;
use tools::netdev::StreamNic;
use tools::qemu;
use tools::sanboot::{configured_production_rom, qemu_on_segment, SrpTargetProc, TARGET_URI};
use tools::srp_host::{HostMem, MEM_BASE};

/// Base memory the ROM's low copy (and the table in it) lives in.
const LOW: u64 = 0x8_0000;
const LOW_LEN: u64 = 0x2_0000;

/// A fresh log directory per test (srp-target appends to its log, and the
/// login count below must see this run only).
fn logdir(name: &str) -> PathBuf {
    let d = qemu::target_dir().join("handoff").join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn start_target(name: &str) -> (SrpTargetProc, PathBuf, Vec<u8>) {
    let img = image("syslinux");
    let disk = logdir(name).join("syslinux.img");
    std::fs::copy(&img, &disk).unwrap();
    let _ = std::fs::remove_file(logdir(name).join("srp-target.log"));
    let t = SrpTargetProc::start(
        Path::new(env!("CARGO_BIN_EXE_srp-target")),
        &disk,
        &[],
        &logdir(name),
    );
    (t, disk, std::fs::read(&img).unwrap())
}

fn clock() -> impl FnMut() -> Instant {
    let t0 = std::time::Instant::now();
    move || {
        // srp-target is another process on the same two cores: yield.
        std::thread::yield_now();
        Instant(t0.elapsed().as_micros() as u64)
    }
}

/// A VM frozen by the monitor (`stop`) in a thread of its own; dropping it
/// quits QEMU and waits for it.
struct FrozenVm {
    monitor: PathBuf,
    run: Option<std::thread::JoinHandle<qemu::Outcome>>,
}

impl Drop for FrozenVm {
    fn drop(&mut self) {
        qemu::monitor_command(&self.monitor, "quit");
        if let Some(h) = self.run.take() {
            let _ = h.join();
        }
    }
}

/// Like [`boot_and_dump`], but the VM is frozen right after the dump and
/// kept: its NIC's link — and with it the ROM's SRP channel — stays up.
fn boot_dump_and_freeze(t: &SrpTargetProc, name: &str) -> (Vec<u8>, FrozenVm) {
    let rom = configured_rom(name);
    let dump = logdir(name).join("base-memory.bin");
    let _ = std::fs::remove_file(&dump);
    let vm = format!("handoff-{name}");
    let monitor = qemu::target_dir()
        .join("qemu-logs")
        .join(&vm)
        .join("monitor.sock");
    let q = qemu_on_segment(&vm, &rom, t.port)
        .monitor_when(
            "SRPBOOT-SYSLINUX-OK",
            &format!("pmemsave {LOW:#x} {LOW_LEN:#x} \"{}\"", dump.display()),
        )
        .monitor_when("SRPBOOT-SYSLINUX-OK", "stop")
        .timeout_secs(180);
    let run = std::thread::spawn(move || q.run());
    let start = std::time::Instant::now();
    while std::fs::metadata(&dump).map_or(true, |m| m.len() < LOW_LEN) {
        assert!(
            !run.is_finished() && start.elapsed() < std::time::Duration::from_secs(170),
            "no dump: {}",
            t.output()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The `stop` follows the dump on the same monitor.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mem = std::fs::read(&dump).unwrap();
    let vm = FrozenVm {
        monitor,
        run: Some(run),
    };
    (mem, vm)
}

/// The production ROM configured for the segment's target.
fn configured_rom(name: &str) -> PathBuf {
    configured_production_rom(
        Path::new(env!("CARGO_BIN_EXE_romtool")),
        &logdir(name).join("srpboot.rom"),
        TARGET_URI,
    )
}

/// Boots the ROM against `t` and returns the base-memory dump taken when
/// SYSLINUX ran (the ROM still owns INT 13h and its session then).
fn boot_and_dump(t: &SrpTargetProc, name: &str) -> Vec<u8> {
    let rom = configured_rom(name);
    let dump = logdir(name).join("base-memory.bin");
    let _ = std::fs::remove_file(&dump);
    // SYSLINUX waits 0.1 s at its prompt after the marker before it boots
    // exit.bs: the dump (synchronous over HMP) is taken in that window.
    let out = qemu_on_segment(&format!("handoff-{name}"), &rom, t.port)
        .monitor_when(
            "SRPBOOT-SYSLINUX-OK",
            &format!("pmemsave {LOW:#x} {LOW_LEN:#x} \"{}\"", dump.display()),
        )
        .until("SRPBOOT-SYSLINUX-OK")
        .timeout_secs(120)
        .run();
    assert!(out.marker_seen, "{}\n{}", out.describe(), t.output());
    assert!(
        out.serial.contains("srpboot: path MTU 4096"),
        "{}",
        out.describe()
    );
    let mem = std::fs::read(&dump).expect("base memory dump (pmemsave)");
    assert_eq!(mem.len() as u64, LOW_LEN);
    // The table is where the ROM said it put it.
    let (at, _) = find(&mem).expect("sBFT in the dump");
    let said = format!("srpboot: sBFT at {:#x}", LOW + at as u64);
    assert!(out.serial.contains(&said), "{said}?\n{}", out.describe());
    mem
}

#[test]
fn os_driver_takes_over_the_roms_session() {
    let (mut t, disk, original) = start_target("takeover");
    let sectors = original.len() as u64 / 512;
    let (mem, vm) = boot_dump_and_freeze(&t, "takeover");

    // As the OS driver: the table, then the same session on a new link.
    let (_, target) = find(&mem).unwrap();
    assert_eq!(target.initiator_mac.0, [0x52, 0x54, 0, 0x77, 0, 2]);
    assert_eq!(target.path_mtu, 4096);
    assert_eq!((target.prefix_len, target.gateway), (24, None));
    let who = format!("{}", target.initiator_port_id);
    assert_eq!(who, "0000000000000000505400fffe770002");

    let mut nic = StreamNic::connect(("127.0.0.1", t.port), target.initiator_mac.0).unwrap();
    nic.set_max_frame(9014);
    let host = HostMem::new(1 << 20);
    let scratch = MEM_BASE;
    let buf = MEM_BASE + 4096;
    let cfg = DiskConfig {
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
        scratch_addr: scratch,
        // What EDD told the OS (the image's size): the LUN must match it.
        expect: Some(Identity {
            blocks: sectors,
            block_len: 512,
        }),
    };
    let mut d = BootDisk::new(&target, nic, host.clone(), cfg).unwrap();
    let mut clock = clock();
    let t0 = std::time::Instant::now();
    d.wait_ready(&mut clock, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.output()));
    let login_ms = t0.elapsed().as_millis();
    assert_eq!(d.state(), DiskState::Ready);
    assert_ne!(d.channel().hca().qpn(0), target.rom_qpn);

    // The target saw the same initiator log in twice: the ROM, then us
    // (its log is another process's output: give it a moment).
    let logins = |t: &SrpTargetProc| {
        t.output()
            .lines()
            .filter(|l| l.contains("login: channel") && l.contains(&who))
            .count()
    };
    let waited = std::time::Instant::now();
    while logins(&t) < 2 && waited.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(logins(&t), 2, "{}", t.output());
    // ... and our login replaced the ROM's channel, still live (the frozen
    // VM's link is up), not a dead one.
    assert!(
        t.output()
            .lines()
            .any(|l| l.contains("login: channel") && l.contains("replaced 1 old channel")),
        "{}",
        t.output()
    );
    assert!(
        !t.output().contains("link lost"),
        "the ROM's link must still be up: {}",
        t.output()
    );

    // Sector 0 is what INT 13h served the loader.
    let io = Duration::from_secs(10);
    d.start_read(clock(), 0, 1, buf).unwrap();
    d.complete(&mut clock, io).unwrap();
    host.with(buf, 512, |b| {
        assert!(b == &original[..512], "sector 0 differs")
    });
    // The last sectors of the disk.
    let n = 8;
    d.start_read(clock(), sectors - n, n, buf).unwrap();
    d.complete(&mut clock, io).unwrap();
    let tail = &original[((sectors - n) * 512) as usize..];
    host.with(buf, tail.len(), |b| {
        assert!(b == tail, "last sectors differ")
    });

    // Write one scratch sector of the private copy and read it back.
    let scratch_lba = sectors - 1;
    let pat: Vec<u8> = (0..512u32).map(|i| (i * 31 + 7) as u8).collect();
    host.with(buf, 512, |b| b.copy_from_slice(&pat));
    d.start_write(clock(), scratch_lba, 1, buf).unwrap();
    d.complete(&mut clock, io).unwrap();
    d.start_read(clock(), scratch_lba, 1, buf + 0x1_0000)
        .unwrap();
    d.complete(&mut clock, io).unwrap();
    host.with(buf + 0x1_0000, 512, |b| assert_eq!(b, &pat[..]));
    drop(d);
    drop(vm);
    t.kill();
    let written = std::fs::read(&disk).unwrap();
    assert_eq!(&written[(scratch_lba * 512) as usize..], &pat[..]);
    eprintln!("handoff: OS login + identify took {login_ms} ms");
}

#[test]
fn broken_table_checksum_is_a_clear_error() {
    let (t, _, _) = start_target("cksum");
    let mut mem = boot_and_dump(&t, "cksum");
    let (at, _) = find(&mem).unwrap();
    mem[at + 9] = mem[at + 9].wrapping_add(1);
    let e = find(&mem).unwrap_err();
    assert_eq!(e, TableError::BadChecksum { at });
    assert_eq!(e.to_string(), format!("sBFT at +{at:#x}: bad checksum"));
}
