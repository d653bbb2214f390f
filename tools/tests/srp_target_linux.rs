//! The acceptance test of srp-target: Linux's own SRP initiator (ib_srp over
//! rdma_rxe in the lio-srpt QEMU VM, `shared/lio-srpt/run-initiator.sh`)
//! against the srp-target binary on a QEMU stream socket. Two initiator VMs
//! in turn, each: login, the golden small reads, writes (4 KiB immediate
//! data, 64 KiB by RDMA READ) read back and restored, the whole LUN read
//! and its sha256 checked, logout (CM DREQ). The target serves the image
//! with `--cow`, so the base image must be unchanged afterwards while the
//! initiator's overlay holds the written chunks.
//!
//! Shared files: `$SRPBOOT_SHARED` or `../shared` next to the repository.
//! The VM is built once into `target/lio-srpt` (`$LIO_SRPT_BUILD`). TCG
//! only; each VM run takes 15-30 s here.

use std::fs::File;
use std::io::Read;
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
    match std::env::var_os("SRPBOOT_SHARED") {
        Some(p) => PathBuf::from(p),
        None => repo().join("../shared"),
    }
}

const BUILT: [&str; 4] = ["vmlinuz", "initramfs.cpio.gz", "disk.img", "disk.sha256"];

/// Builds the VM once, serialised by a lock file (as srp_client_lio.rs).
fn build(lio: &Path, build_dir: &Path) {
    let done = || BUILT.iter().all(|f| build_dir.join(f).exists());
    if done() {
        return;
    }
    std::fs::create_dir_all(build_dir.parent().unwrap()).unwrap();
    let lock = File::create(build_dir.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !done() {
        let st = Command::new("bash")
            .arg(lio.join("build.sh"))
            .env("LIO_SRPT_BUILD", build_dir)
            .status()
            .expect("run lio-srpt/build.sh");
        assert!(st.success(), "lio-srpt/build.sh failed");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The target process; killed on drop.
struct TargetProc {
    child: Child,
    log: PathBuf,
}

impl TargetProc {
    fn text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for TargetProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_vm(lio: &Path, build_dir: &Path, port: u16, log: &Path, expect: &str) -> String {
    let _ = std::fs::remove_file(log);
    let mut vm = Command::new("bash")
        .arg(lio.join("run-initiator.sh"))
        .args([
            "--connect",
            &format!("127.0.0.1:{port}"),
            "--golden",
            "--expect",
            expect,
            "--log",
        ])
        .arg(log)
        .env("LIO_SRPT_BUILD", build_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start run-initiator.sh");
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = vm.try_wait() {
            break;
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = vm.kill();
            let _ = vm.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("initiator VM ran {:.1} s", start.elapsed().as_secs_f64());
    let mut s = String::new();
    File::open(log)
        .and_then(|mut f| f.read_to_string(&mut s))
        .ok();
    s
}

#[test]
fn linux_ib_srp_against_srp_target_two_vms_in_turn_with_cow() {
    let lio = shared().join("lio-srpt");
    assert!(
        lio.join("run-initiator.sh").exists(),
        "no lio-srpt harness at {} (set SRPBOOT_SHARED)",
        lio.display()
    );
    let build_dir = std::env::var_os("LIO_SRPT_BUILD")
        .map_or_else(|| repo().join("target/lio-srpt"), PathBuf::from);
    build(&lio, &build_dir);
    let expect = std::fs::read_to_string(build_dir.join("disk.sha256")).unwrap();
    let expect = expect.split_whitespace().next().unwrap().to_string();

    let dir = repo().join("target/srp-target-linux");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("base.img");
    std::fs::copy(build_dir.join("disk.img"), &base).unwrap();
    let base_mtime = std::fs::metadata(&base).unwrap().modified().unwrap();
    let cow = dir.join("cow");
    let port = free_port();
    let log = dir.join("target.log");
    let child = Command::new(env!("CARGO_BIN_EXE_srp-target"))
        .arg("--disk")
        .arg(&base)
        .arg("--cow")
        .arg(&cow)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(File::create(&log).unwrap())
        .stderr(File::create(dir.join("target.err")).unwrap())
        .spawn()
        .expect("start srp-target");
    let target = TargetProc { child, log };
    let t0 = Instant::now();
    while !target.text().contains("how to connect") {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "srp-target did not start: {}",
            target.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    for (n, vm) in ["vm1", "vm2"].iter().enumerate() {
        let out = run_vm(
            &lio,
            &build_dir,
            port,
            &dir.join(format!("{vm}.log")),
            &expect,
        );
        let ctx = || format!("{vm} console:\n{out}\n--- target log:\n{}", target.text());
        assert!(out.contains("SRP LOGIN OK"), "{vm}: no login\n{}", ctx());
        assert!(
            out.contains("golden: direct read 512B @LBA0: LBA00000000 SRP"),
            "{vm}: golden reads\n{}",
            ctx()
        );
        assert!(
            out.contains("SRP WRITE CHECK PASS"),
            "{vm}: write check\n{}",
            ctx()
        );
        assert!(
            out.contains(&format!("SRP RESULT PASS sha256={expect}")),
            "{vm}: whole-LUN sha256\n{}",
            ctx()
        );
        // Login and logout lines of this VM.
        let t = target.text();
        assert_eq!(
            t.lines().filter(|l| l.starts_with("login:")).count(),
            n + 1,
            "{}",
            ctx()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while target
            .text()
            .lines()
            .filter(|l| l.starts_with("logout:"))
            .count()
            < n + 1
        {
            assert!(Instant::now() < deadline, "{vm}: no logout line\n{}", ctx());
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            target.text().contains("initiator disconnected (DREQ)"),
            "{}",
            ctx()
        );
    }

    // Counters at exit (SIGTERM).
    // SAFETY: plain kill(2) on our child.
    unsafe { libc::kill(target.child.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    while !target.text().contains("counters:") && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = target.text();
    assert!(
        text.contains("counters: logins 2 rejected 0 logouts 2"),
        "{text}"
    );

    // The base image was never written; the overlay holds the writes.
    assert_eq!(sha256(&base), expect, "base image unchanged");
    assert_eq!(
        std::fs::metadata(&base).unwrap().modified().unwrap(),
        base_mtime
    );
    let maps: Vec<PathBuf> = std::fs::read_dir(&cow)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "map"))
        .collect();
    assert_eq!(maps.len(), 1, "one initiator port, one overlay: {maps:?}");
    let map = std::fs::read(&maps[0]).unwrap();
    let chunks: u32 = map[32..].iter().map(|b| b.count_ones()).sum();
    // 4 KiB at LBA 16 and 64 KiB at LBA 128 = 1 + 16 chunks of 4 KiB.
    assert!(chunks >= 17, "overlay chunks {chunks}");
    assert!(maps[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("0000000000000000505400fffe770002"));
}
