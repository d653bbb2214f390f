//! Benchmark (not a test; `#[ignore]`d): Linux's own initiator (ib_srp on
//! rdma_rxe in the lio-srpt QEMU VM, TCG) reads the whole LUN with O_DIRECT
//! from srp-target, then from LIO ib_srpt (the lio-srpt target VM) serving
//! the same image, in the same run. Both sessions are captured on the
//! initiator's NIC (QEMU filter-dump) and measured the same way from the
//! capture: from the SRP_CMD that starts the whole-LUN pass (READ at LBA 0)
//! to the last SRP_RSP — MiB/s and commands/s (IOPS of 64 KiB-class reads,
//! as Linux splits them) — and the ratio srp-target / LIO is printed.
//!
//! Run: `cargo test --release -p tools --test srp_target_bench -- --ignored --nocapture`
//! (`SRPT_BENCH_MB`, default 32: image size).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn shared() -> PathBuf {
    std::env::var_os("SRPBOOT_SHARED").map_or_else(|| repo().join("../shared"), PathBuf::from)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(p: &Path) -> String {
    let mut s = String::new();
    File::open(p)
        .and_then(|mut f| f.read_to_string(&mut s))
        .ok();
    s
}

/// What one capture says about the whole-LUN pass.
#[derive(Debug, Clone, Copy)]
struct Pass {
    seconds: f64,
    bytes: u64,
    commands: u64,
}

impl Pass {
    fn mib_s(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1048576.0
    }
    fn iops(&self) -> f64 {
        self.commands as f64 / self.seconds
    }
}

/// Reads the pcap: SRP_CMDs from `initiator`, SRP_RSPs to it.
fn analyse(pcap: &Path, initiator: [u8; 4]) -> Pass {
    let b = std::fs::read(pcap).unwrap();
    assert!(
        b.len() > 24 && b[..4] == [0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap"
    );
    let mut at = 24;
    // (time, is_cmd, READ(10) lba and blocks)
    type Ev = (f64, bool, Option<(u32, u16)>);
    let mut evs: Vec<Ev> = Vec::new();
    while at + 16 <= b.len() {
        let u = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let t = f64::from(u(at)) + f64::from(u(at + 4)) / 1e6;
        let len = u(at + 8) as usize;
        let f = &b[at + 16..(at + 16 + len).min(b.len())];
        at += 16 + len;
        if f.len() < 14 + 20 + 8 + 12 + 1 || f[12..14] != [0x08, 0x00] || f[23] != 17 {
            continue;
        }
        let ihl = usize::from(f[14] & 0x0F) * 4;
        let udp = 14 + ihl;
        if u16::from_be_bytes([f[udp + 2], f[udp + 3]]) != 4791 {
            continue;
        }
        let bth = udp + 8;
        let op = f[bth];
        if op != 0x04 && op != 0x00 {
            continue; // RC SEND_ONLY / SEND_FIRST
        }
        let p = &f[bth + 12..];
        let from_init = f[26..30] == initiator;
        if from_init && p.first() == Some(&0x02) && p.len() >= 48 {
            let cdb = &p[32..48];
            let rd = (cdb[0] == 0x28).then(|| {
                (
                    u32::from_be_bytes(cdb[2..6].try_into().unwrap()),
                    u16::from_be_bytes([cdb[7], cdb[8]]),
                )
            });
            evs.push((t, true, rd));
        } else if !from_init && p.first() == Some(&0xC1) {
            evs.push((t, false, None));
        }
    }
    let start = evs
        .iter()
        .rposition(|e| matches!(e.2, Some((0, n)) if n > 8))
        .expect("no whole-LUN pass (READ at LBA 0) in the capture");
    let end = evs.iter().rposition(|e| !e.1).expect("no SRP_RSP");
    let (mut bytes, mut commands) = (0u64, 0u64);
    for e in &evs[start..] {
        if e.1 {
            commands += 1;
            bytes += e.2.map_or(0, |(_, n)| u64::from(n) * 512);
        }
    }
    Pass {
        seconds: evs[end].0 - evs[start].0,
        bytes,
        commands,
    }
}

fn run_initiator(lio: &Path, build: &Path, port: u16, dir: &Path, name: &str, sha: &str) -> Pass {
    let log = dir.join(format!("{name}-initiator.log"));
    let pcap = dir.join(format!("{name}.pcap"));
    let _ = std::fs::remove_file(&pcap);
    let st = Command::new("bash")
        .arg(lio.join("run-initiator.sh"))
        .args([
            "--connect",
            &format!("127.0.0.1:{port}"),
            "--expect",
            sha,
            "--log",
        ])
        .arg(&log)
        .arg("--pcap")
        .arg(&pcap)
        .env("LIO_SRPT_BUILD", build)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let out = text(&log);
    assert!(
        st.success() && out.contains("SRP RESULT PASS"),
        "{name}: initiator failed:\n{out}"
    );
    analyse(&pcap, [192, 168, 77, 2])
}

#[test]
#[ignore = "benchmark: two QEMU TCG VMs plus one; run with --ignored --nocapture"]
fn bench_linux_initiator_srp_target_vs_lio() {
    let lio = shared().join("lio-srpt");
    let build = std::env::var_os("LIO_SRPT_BUILD")
        .map_or_else(|| repo().join("target/lio-srpt"), PathBuf::from);
    if !build.join("initramfs.cpio.gz").exists() {
        let st = Command::new("bash")
            .arg(lio.join("build.sh"))
            .env("LIO_SRPT_BUILD", &build)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let mb: u32 = std::env::var("SRPT_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let dir = repo().join("target/srp-target-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join(format!("disk{mb}.img"));
    if !img.exists() {
        let st = Command::new("python3")
            .arg(lio.join("vm/gen-disk.py"))
            .arg(&img)
            .arg(mb.to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }
    let out = Command::new("sha256sum").arg(&img).output().unwrap();
    let sha = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    // srp-target.
    let port = free_port();
    let tlog = dir.join("srp-target.log");
    let ours = {
        let _t = Killed(
            Command::new(env!("CARGO_BIN_EXE_srp-target"))
                .arg("--disk")
                .arg(&img)
                .args(["--read-only", "--listen", &format!("127.0.0.1:{port}")])
                .stdout(File::create(&tlog).unwrap())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let t0 = Instant::now();
        while !text(&tlog).contains("how to connect") {
            assert!(t0.elapsed() < Duration::from_secs(20));
            std::thread::sleep(Duration::from_millis(50));
        }
        run_initiator(&lio, &build, port, &dir, "srp-target", &sha)
    };

    // LIO ib_srpt in its VM, same image, same initiator.
    let port = free_port();
    let llog = dir.join("lio-target.log");
    let _ = std::fs::remove_file(&llog);
    let lio_pass = {
        let _t = Killed(
            Command::new("bash")
                .arg(lio.join("run-target.sh"))
                .args(["--listen", &format!("127.0.0.1:{port}"), "--disk"])
                .arg(&img)
                .arg("--log")
                .arg(&llog)
                .env("LIO_SRPT_BUILD", &build)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let t0 = Instant::now();
        loop {
            let ready = File::open(&llog)
                .map(|f| {
                    BufReader::new(f)
                        .lines()
                        .map_while(Result::ok)
                        .any(|l| l.contains("SRPT READY"))
                })
                .unwrap_or(false);
            if ready {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(180), "LIO VM not ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        run_initiator(&lio, &build, port, &dir, "lio", &sha)
    };

    println!("whole-LUN sequential read by Linux ib_srp (O_DIRECT, 64 KiB), {mb} MiB, measured on the initiator NIC:");
    for (name, p) in [("srp-target", ours), ("LIO ib_srpt (VM)", lio_pass)] {
        println!(
            "  {name:<18} {:>7.2} MiB/s  {:>7.1} IOPS  ({} commands, {:.2} s)",
            p.mib_s(),
            p.iops(),
            p.commands,
            p.seconds
        );
    }
    println!(
        "  ratio srp-target / LIO: {:.2}x MiB/s, {:.2}x IOPS",
        ours.mib_s() / lio_pass.mib_s(),
        ours.iops() / lio_pass.iops()
    );
    assert_eq!(ours.bytes, u64::from(mb) << 20);
}
