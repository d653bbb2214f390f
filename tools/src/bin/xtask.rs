//! `cargo xtask <cmd>`: the project's build and test driver.
//!
//! * `rom [--test-disk]`  build the ROM ELF for the i686 bare-metal target
//!   (nightly, build-std) and turn it into `target/srpboot.rom` (or
//!   `target/srpboot-testdisk.rom`) with romtool.
//! * `rom --nic-selftest [--vendor 1af4 --device 1000]`  the NIC self-test
//!   flavour (ARPs for QEMU slirp's gateway at BCV time), with that PCIR ID:
//!   `target/srpboot-nicselftest-<vendor><device>.rom`.
//! * `run`                build the ROM and boot it in QEMU + SeaBIOS, showing COM1.
//! * `demo`               the README's main job: srp-target serves a GRUB +
//!   Debian Linux disk over RoCEv2 on a QEMU socket segment; QEMU + SeaBIOS
//!   boots it with the production ROM (configured by romtool) on virtio-net.
//! * `fuzz [SECONDS]`     run every cargo-fuzz target in `fuzz/` for SECONDS (default 20).
//! * `test`               build every ROM, run every test in the workspace, then
//!   every fuzz target for a bounded time (`SRPBOOT_FUZZ_SECONDS`, default 15).
//! * `bench [--quick] [--runs N] [--only KEYS] [--rom ROM]`  the INT 13h read
//!   benchmark: one payload disk through srpboot, SeaBIOS virtio-blk/AHCI and
//!   iPXE sanboot (iSCSI, HTTP); table + `target/bench/report.json`
//!   (qemu/bench/README.md).
//!
//! Host prerequisites are installed by `scripts/setup` (README).

use std::path::{Path, PathBuf};
use std::process::{exit, Command};
use tools::qemu;
use tools::sanboot;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let result = match cmd {
        "rom" => rom(rest).map(|_| ()),
        "run" => run(rest),
        "test" => test(rest),
        "demo" => demo(rest),
        "fuzz" => fuzz(rest.first().and_then(|s| s.parse().ok()).unwrap_or(20)),
        "bench" => tools::bench::cli(rest, || build_rom(true)),
        _ => {
            eprintln!("usage: cargo xtask <rom [--test-disk | --nic-selftest [--vendor V --device D]] | run | demo | fuzz [SECONDS] | bench [--help] | test>");
            exit(2)
        }
    };
    if let Err(e) = result {
        eprintln!("xtask {cmd}: {e}");
        exit(1);
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(qemu::workspace_root());
    c
}

fn status(mut c: Command) -> Result<(), String> {
    let st = c.status().map_err(|e| format!("cannot run {c:?}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed with {st}", c.get_program()))
    }
}

/// Builds one ROM flavour; returns the image path.
fn rom(args: &[String]) -> Result<PathBuf, String> {
    if args.iter().any(|a| a == "--nic-selftest") {
        let hex = |name: &str, default: u16| -> Result<u16, String> {
            match args.iter().position(|a| a == name).map(|i| args.get(i + 1)) {
                None => Ok(default),
                Some(Some(v)) => {
                    u16::from_str_radix(v, 16).map_err(|_| format!("{name} {v:?}: expected hex"))
                }
                Some(None) => Err(format!("{name} needs a value")),
            }
        };
        let id = (hex("--vendor", 0x1af4)?, hex("--device", 0x1000)?);
        return Ok(build_nic_selftest_roms(&[id])?.remove(0));
    }
    if args.iter().any(|a| a == "--profile") {
        // Measurement build: COM1 gets a TSC breakdown of INT 13h transfers
        // (rom16/src/profile.rs). Own target dir and image name.
        let out = qemu::target_dir().join("srpboot-profile.rom");
        let elf = cargo_build_rom("rom-profile", Some("san,profile"))?;
        romtool_build(&elf, &out, &[])?;
        return Ok(out);
    }
    let test_disk = args.iter().any(|a| a == "--test-disk");
    build_rom(test_disk)
}

/// PCI IDs the NIC self-test ROM is built for by `xtask test`: QEMU's
/// virtio-net (legacy/transitional and modern-only) and e1000.
const NIC_SELFTEST_IDS: [(u16, u16); 3] = [(0x1af4, 0x1000), (0x1af4, 0x1041), (0x8086, 0x100e)];

/// Where the NIC self-test ROM with PCIR `vendor:device` goes
/// (tools/tests/nic_selftest.rs expects this name).
fn nic_selftest_rom(vendor: u16, device: u16) -> PathBuf {
    qemu::target_dir().join(format!("srpboot-nicselftest-{vendor:04x}{device:04x}.rom"))
}

/// One ELF with the `nic-selftest` feature (own target dir), one image per ID.
fn build_nic_selftest_roms(ids: &[(u16, u16)]) -> Result<Vec<PathBuf>, String> {
    let elf = cargo_build_rom("rom-nic", Some("nic-selftest"))?;
    ids.iter()
        .map(|&(v, d)| {
            let out = nic_selftest_rom(v, d);
            romtool_build(
                &elf,
                &out,
                &[
                    "--vendor".into(),
                    format!("{v:04x}"),
                    "--device".into(),
                    format!("{d:04x}"),
                ],
            )?;
            Ok(out)
        })
        .collect()
}

fn build_rom(test_disk: bool) -> Result<PathBuf, String> {
    // The test-disk flavour gets its own target dir so the two builds never
    // invalidate each other's caches.
    let sub = if test_disk { "rom-testdisk" } else { "rom" };
    let out = if test_disk {
        qemu::testdisk_rom()
    } else {
        qemu::production_rom()
    };
    build_rom_into(test_disk, sub, &out)?;
    if !test_disk {
        check_production_size(&out)?;
        // The same ELF with e1000's PCI IDs (SeaBIOS runs a ROM only on
        // the device its PCIR names): for `xtask bench --srp-e1000-rom`.
        let elf = qemu::target_dir().join(sub).join("i686-rom/rom/rom16");
        let e1000 = qemu::production_e1000_rom();
        romtool_build(
            &elf,
            &e1000,
            &[
                "--vendor".into(),
                "8086".into(),
                "--device".into(),
                "100e".into(),
            ],
        )?;
    }
    Ok(out)
}

/// The production ROM's size limit: 64 KiB, what a BIOS's option ROM area
/// can spare next to a VGA BIOS and another NIC's ROM (the body is packed,
/// romfmt::pack; tools/tests/romtool.rs checks the same limit).
const PRODUCTION_ROM_LIMIT: usize = 64 * 1024;

fn check_production_size(rom: &Path) -> Result<(), String> {
    let len = std::fs::metadata(rom)
        .map_err(|e| format!("{}: {e}", rom.display()))?
        .len() as usize;
    if len > PRODUCTION_ROM_LIMIT {
        return Err(format!(
            "{} is {len} bytes, over the {PRODUCTION_ROM_LIMIT}-byte limit of the production ROM",
            rom.display()
        ));
    }
    Ok(())
}

fn build_rom_into(test_disk: bool, sub: &str, out: &Path) -> Result<(), String> {
    let elf = cargo_build_rom(sub, test_disk.then_some("test-disk"))?;
    romtool_build(&elf, out, &[])
}

/// Builds the ROM ELF in `target/<sub>` with an optional cargo feature;
/// returns the ELF's path.
fn cargo_build_rom(sub: &str, feature: Option<&str>) -> Result<PathBuf, String> {
    let root = qemu::workspace_root();
    let target = qemu::target_dir();
    let mut c = cargo();
    c.args([
        "build",
        "--quiet",
        "-p",
        "rom16",
        "--bin",
        "rom16",
        "--profile",
        "rom",
    ])
    .arg("--target")
    .arg(root.join("linker/i686-rom.json"))
    .args(["-Z", "build-std=core,compiler_builtins"])
    .args(["-Z", "build-std-features=compiler-builtins-mem"])
    .args(["-Z", "json-target-spec"])
    .arg("--target-dir")
    .arg(target.join(sub))
    // No file paths or line numbers in the image: smaller, and the bytes
    // do not depend on where the repository is checked out.
    .env("RUSTFLAGS", "-Zlocation-detail=none");
    if let Some(f) = feature {
        c.args(["--features", f]);
    }
    status(c)?;
    Ok(target.join(sub).join("i686-rom/rom/rom16"))
}

/// Same sources, same bytes: a from-scratch build in a second target dir
/// must reproduce the production image exactly.
fn check_reproducible() -> Result<(), String> {
    let first = std::fs::read(qemu::production_rom()).map_err(|e| e.to_string())?;
    let again = qemu::target_dir().join("srpboot-repro.rom");
    let _ = std::fs::remove_dir_all(qemu::target_dir().join("rom-repro"));
    build_rom_into(false, "rom-repro", &again)?;
    let second = std::fs::read(&again).map_err(|e| e.to_string())?;
    if first != second {
        return Err(format!(
            "ROM build is not reproducible: {} differs from a clean rebuild",
            again.display()
        ));
    }
    println!("xtask: ROM build reproducible ({} bytes)", first.len());
    Ok(())
}

fn romtool_build(elf: &Path, out: &Path, extra: &[String]) -> Result<(), String> {
    let mut c = cargo();
    c.args([
        "run", "--quiet", "-p", "tools", "--bin", "romtool", "--", "build", "--elf",
    ])
    .arg(elf)
    .arg("--out")
    .arg(out)
    .args(extra);
    status(c)
}

/// The main job for now: boot the production ROM and show what it prints.
fn run(_args: &[String]) -> Result<(), String> {
    let rom = build_rom(false)?;
    println!("booting {} on virtio-net in QEMU (TCG) ...", rom.display());
    let out = qemu::Qemu::new("xtask-run")
        .rom_on_nic(&rom, "virtio-net-pci")
        .sercon()
        .until_bios_log("No bootable device")
        .timeout_secs(30)
        .run();
    println!("{}", out.serial);
    println!("(logs: {})", out.log_dir.display());
    if out.serial.contains("srpboot ") {
        Ok(())
    } else {
        Err("the ROM did not print its banner".into())
    }
}

/// The main job for now: a real loader and kernel boot from our INT 13h.
fn demo(_args: &[String]) -> Result<(), String> {
    let rom = build_rom(false)?;
    // The host tools the demo runs: srp-target (release: it serves the disk)
    // and romtool (writes the target into a copy of the ROM).
    let mut c = cargo();
    c.args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "tools",
        "--bin",
        "srp-target",
        "--bin",
        "romtool",
    ]);
    status(c)?;
    let bin = qemu::target_dir().join("release");
    println!(
        "building the GRUB + Linux demo disk (first run downloads Debian's kernel package) ..."
    );
    let disk = tools::images::image("grub-linux");
    let dir = qemu::target_dir().join("demo");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let disk_copy = dir.join("grub-linux.img");
    std::fs::copy(&disk, &disk_copy).map_err(|e| e.to_string())?;
    let target = sanboot::SrpTargetProc::start(&bin.join("srp-target"), &disk_copy, &[], &dir);
    let configured = dir.join("srpboot.rom");
    sanboot::configure_rom(
        &bin.join("romtool"),
        &rom,
        &configured,
        sanboot::TARGET_URI,
        sanboot::ROM_IP,
    );
    println!(
        "srp-target serves {} on 127.0.0.1:{} (log: {})",
        disk_copy.display(),
        target.port,
        target.log.display()
    );
    println!(
        "booting QEMU + SeaBIOS with {} on virtio-net, configured for {} ...",
        configured.display(),
        sanboot::TARGET_URI
    );
    let out = sanboot::qemu_on_segment("xtask-demo", &configured, target.port)
        .args(["-m", "256"])
        .until("SRPBOOT-LINUX-OK")
        .timeout_secs(300)
        .run();
    println!("{}", out.serial);
    println!("(logs: {})", out.log_dir.display());
    println!("--- srp-target ---\n{}", target.output());
    if out.marker_seen {
        println!(
            "demo: Linux booted from the remote SRP disk in {:.1} s",
            out.seconds
        );
        Ok(())
    } else {
        Err("Linux did not reach its marker".into())
    }
}

/// Every test: build both ROM flavours, then the whole workspace's tests.
fn test(_args: &[String]) -> Result<(), String> {
    build_rom(false)?;
    build_rom(true)?;
    build_nic_selftest_roms(&NIC_SELFTEST_IDS)?;
    check_reproducible()?;
    let mut c = cargo();
    c.args(["test", "--workspace"]);
    status(c)?;
    let secs = std::env::var("SRPBOOT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    fuzz(secs)
}

/// Fuzz targets: the `[[bin]]` names in fuzz/Cargo.toml.
fn fuzz_targets() -> Result<Vec<String>, String> {
    let toml = std::fs::read_to_string(qemu::workspace_root().join("fuzz/Cargo.toml"))
        .map_err(|e| e.to_string())?;
    let mut names = vec![];
    let mut in_bin = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(v) = line
                .strip_prefix("name")
                .map(str::trim)
                .and_then(|r| r.strip_prefix('='))
            {
                names.push(v.trim().trim_matches('"').to_string());
            }
        }
    }
    Ok(names)
}

/// Runs each fuzz target for `secs` seconds; any crash fails the run.
fn fuzz(secs: u32) -> Result<(), String> {
    let targets = fuzz_targets()?;
    for t in &targets {
        println!("xtask: fuzzing {t} for {secs} s");
        let mut c = Command::new("bash");
        c.arg(qemu::workspace_root().join("fuzz/run.sh"))
            .arg(t)
            .arg(secs.to_string());
        status(c)
            .map_err(|e| format!("fuzz target {t}: {e} (reproducer in fuzz/artifacts/{t}/)"))?;
    }
    println!(
        "xtask: {} fuzz targets ran {secs} s each without a crash",
        targets.len()
    );
    Ok(())
}
