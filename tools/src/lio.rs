//! Linux's own SRP target as a test peer: LIO `ib_srpt` over `rdma_rxe` in
//! the lio-srpt QEMU VM from `shared/lio-srpt`, on a QEMU socket segment
//! that other VMs (our ROM, Linux's initiator) or our host NICs join.
//!
//! `shared/` is `$SRPBOOT_SHARED` or `../shared` next to the repository (it
//! is read-only in CI); the VM is built once into `target/lio-srpt`
//! (`$LIO_SRPT_BUILD`).

use crate::qemu::{target_dir, workspace_root};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shared reference material.
pub fn shared() -> PathBuf {
    match std::env::var_os("SRPBOOT_SHARED") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("../shared"),
    }
}

/// The lio-srpt harness directory.
pub fn harness() -> PathBuf {
    shared().join("lio-srpt")
}

/// Where the VM (kernel, initramfs, test disk) is built.
pub fn build_dir() -> PathBuf {
    std::env::var_os("LIO_SRPT_BUILD")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("lio-srpt"))
}

const BUILT: [&str; 4] = ["vmlinuz", "initramfs.cpio.gz", "disk.img", "disk.sha256"];

/// Builds the VM once, serialised between processes by a lock file.
pub fn build() -> PathBuf {
    let dir = build_dir();
    let done = |d: &Path| BUILT.iter().all(|f| d.join(f).exists());
    if done(&dir) {
        return dir;
    }
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    let lock = File::create(dir.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !done(&dir) {
        let st = Command::new("bash")
            .arg(harness().join("build.sh"))
            .env("LIO_SRPT_BUILD", &dir)
            .status()
            .expect("run lio-srpt/build.sh");
        assert!(st.success(), "lio-srpt/build.sh failed");
    }
    dir
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The target VM, listening on a socket segment; killed on drop.
pub struct LioTarget {
    child: Child,
    /// Its console log.
    pub log: PathBuf,
    /// The segment's TCP port (`-netdev socket,connect=127.0.0.1:PORT`).
    pub port: u16,
}

impl Drop for LioTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LioTarget {
    /// Starts the VM exporting `disk` (default: the harness's test disk) and
    /// waits for "SRPT READY". Frames go to `logdir/target.pcap`.
    pub fn start(disk: Option<&Path>, logdir: &Path) -> LioTarget {
        let build = build();
        std::fs::create_dir_all(logdir).unwrap();
        let port = free_port();
        let log = logdir.join("target.log");
        let _ = std::fs::remove_file(&log);
        let mut cmd = Command::new("bash");
        cmd.arg(harness().join("run-target.sh"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--log"])
            .arg(&log)
            .arg("--pcap")
            .arg(logdir.join("target.pcap"));
        if let Some(d) = disk {
            cmd.arg("--disk").arg(d);
        }
        let child = cmd
            .env("LIO_SRPT_BUILD", &build)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(logdir.join("run-target.err")).unwrap())
            .spawn()
            .expect("start run-target.sh");
        let mut t = LioTarget { child, log, port };
        let start = Instant::now();
        loop {
            if let Ok(f) = File::open(&t.log) {
                if BufReader::new(f)
                    .lines()
                    .map_while(Result::ok)
                    .any(|l| l.contains("SRPT READY"))
                {
                    return t;
                }
            }
            if let Ok(Some(st)) = t.child.try_wait() {
                panic!(
                    "target VM exited ({st}) before SRPT READY; see {}",
                    logdir.display()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "no SRPT READY in 180 s; see {}",
                t.log.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
