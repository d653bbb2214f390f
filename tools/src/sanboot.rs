//! Fixtures for SAN-boot runs: our `srp-target` serving a disk on a QEMU
//! socket segment, a copy of the production ROM configured for it, and the
//! QEMU arguments that put that ROM on a NIC plugged into the segment.

use crate::lio::free_port;
use crate::qemu::Qemu;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Our initiator's addresses on the test segment (the target defaults to
/// 52:54:00:77:00:01 / 192.168.77.1, like the lio-srpt VM).
pub const ROM_MAC: &str = "52:54:00:77:00:02";
/// The ROM's IPv4 address and prefix.
pub const ROM_IP: &str = "192.168.77.2/24";
/// The target URI the ROM is configured with.
pub const TARGET_URI: &str = "srp://192.168.77.1";

/// An `srp-target` process listening for QEMU stream links; killed on drop.
pub struct SrpTargetProc {
    child: Option<Child>,
    bin: PathBuf,
    args: Vec<String>,
    /// The segment's TCP port (`-netdev socket,connect=127.0.0.1:PORT`).
    pub port: u16,
    dgram: bool,
    /// Its output.
    pub log: PathBuf,
}

impl SrpTargetProc {
    /// Starts `bin --disk DISK --listen 127.0.0.1:PORT EXTRA…` and waits until
    /// it listens.
    pub fn start(bin: &Path, disk: &Path, extra: &[&str], logdir: &Path) -> SrpTargetProc {
        let port = free_port();
        Self::spawn(
            bin,
            disk,
            &["--listen".into(), format!("127.0.0.1:{port}")],
            extra,
            port,
            false,
            logdir,
        )
    }

    /// Like [`SrpTargetProc::start`] over QEMU's `-netdev dgram` framing (one
    /// UDP datagram per frame): a restarted target is on the same "wire"
    /// again at once, which a TCP stream link is not. Returns the target and
    /// the QEMU `-netdev` value for the ROM's side.
    pub fn start_dgram(
        bin: &Path,
        disk: &Path,
        extra: &[&str],
        logdir: &Path,
    ) -> (SrpTargetProc, String) {
        let (ours, theirs) = free_udp_ports();
        let t = Self::spawn(
            bin,
            disk,
            &[
                "--dgram".into(),
                format!("127.0.0.1:{ours},127.0.0.1:{theirs}"),
            ],
            extra,
            ours,
            true,
            logdir,
        );
        let netdev = format!(
            "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={theirs},remote.type=inet,remote.host=127.0.0.1,remote.port={ours}"
        );
        (t, netdev)
    }

    fn spawn(
        bin: &Path,
        disk: &Path,
        link: &[String],
        extra: &[&str],
        port: u16,
        dgram: bool,
        logdir: &Path,
    ) -> SrpTargetProc {
        std::fs::create_dir_all(logdir).unwrap();
        let mut args = vec!["--disk".to_string(), disk.display().to_string()];
        args.extend(link.iter().cloned());
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut t = SrpTargetProc {
            child: None,
            bin: bin.to_path_buf(),
            args,
            port,
            dgram,
            log: logdir.join("srp-target.log"),
        };
        t.restart();
        t
    }

    /// Kills the target (-9), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again with the same arguments (and port).
    pub fn restart(&mut self) {
        self.kill();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(&self.bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display()));
        self.child = Some(child);
        if self.dgram {
            // Nothing to probe on UDP: wait for the startup summary.
            let start = Instant::now();
            while !self.output().contains("how to connect") {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "srp-target did not start; see {}",
                    self.log.display()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
        let start = Instant::now();
        let marker = format!("127.0.0.1:{}", self.port);
        loop {
            let listening = std::net::TcpStream::connect_timeout(
                &marker.parse().unwrap(),
                Duration::from_millis(200),
            )
            .is_ok();
            // A probe connection counts as a link that comes and goes; fine.
            if listening {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("srp-target exited ({st}); see {}", self.log.display());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "srp-target did not listen; see {}",
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        File::open(&self.log)
            .map(|f| {
                BufReader::new(f)
                    .lines()
                    .map_while(Result::ok)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
}

impl Drop for SrpTargetProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two distinct free UDP ports (both sockets are held until both are known).
fn free_udp_ports() -> (u16, u16) {
    let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// Copies `rom` to `out` and writes the boot configuration into it with
/// `romtool` (`romtool_bin`).
pub fn configure_rom(romtool_bin: &Path, rom: &Path, out: &Path, uri: &str, ip: &str) {
    std::fs::copy(rom, out).unwrap_or_else(|e| panic!("copy {}: {e}", rom.display()));
    let o = Command::new(romtool_bin)
        .arg("config")
        .arg(out)
        .args(["--target", uri, "--ip", ip])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "romtool config: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The production ROM (`cargo xtask rom`) configured for `uri` from our
/// segment address, written to `out`.
pub fn configured_production_rom(romtool_bin: &Path, out: &Path, uri: &str) -> PathBuf {
    configured(&crate::qemu::production_rom(), romtool_bin, out, uri)
}

/// The same for the production ROM with e1000's PCI IDs.
pub fn configured_production_e1000_rom(romtool_bin: &Path, out: &Path, uri: &str) -> PathBuf {
    configured(&crate::qemu::production_e1000_rom(), romtool_bin, out, uri)
}

fn configured(src: &Path, romtool_bin: &Path, out: &Path, uri: &str) -> PathBuf {
    assert!(
        src.exists(),
        "{} is missing: run `cargo xtask rom`",
        src.display()
    );
    configure_rom(romtool_bin, src, out, uri, ROM_IP);
    out.to_path_buf()
}

/// A QEMU run with `rom` on a virtio-net NIC joined to the segment on
/// `port` (our target or the LIO VM).
pub fn qemu_on_segment(name: &str, rom: &Path, port: u16) -> Qemu {
    qemu_on_segment_with(name, rom, port, "virtio-net-pci")
}

/// Like [`qemu_on_segment`] with another QEMU NIC model (e.g. `e1000`; the
/// ROM's PCIR IDs must match it).
pub fn qemu_on_segment_with(name: &str, rom: &Path, port: u16, nic: &str) -> Qemu {
    Qemu::new(name).args([
        "-netdev".to_string(),
        format!("socket,id=n0,connect=127.0.0.1:{port}"),
        "-device".to_string(),
        format!("{nic},netdev=n0,romfile={},mac={ROM_MAC}", rom.display()),
    ])
}
