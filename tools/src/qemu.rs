//! QEMU + SeaBIOS harness: start a headless TCG machine, capture COM1 and the
//! SeaBIOS debug log, stop on a marker, an exit port write or a timeout, and
//! keep every log under `target/qemu-logs/<name>/` for post-mortems.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Exit status QEMU reports for `out 0xf4, al`: (al << 1) | 1.
pub fn debug_exit_status(code: u8) -> i32 {
    ((code as i32) << 1) | 1
}

/// The workspace root (parent of `tools/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `target/` of the workspace (honours CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("target"),
    }
}

/// Where `cargo xtask rom` writes the production ROM.
pub fn production_rom() -> PathBuf {
    target_dir().join("srpboot.rom")
}

/// Where `cargo xtask rom` writes the production ROM with e1000's PCI IDs
/// (8086:100e; SeaBIOS runs a ROM only on the device its PCIR names).
pub fn production_e1000_rom() -> PathBuf {
    target_dir().join("srpboot-e1000.rom")
}

/// Where `cargo xtask rom --test-disk` writes the test-disk ROM.
pub fn testdisk_rom() -> PathBuf {
    target_dir().join("srpboot-testdisk.rom")
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// COM1 output.
    pub serial: String,
    /// SeaBIOS debug log (isa-debugcon 0x402).
    pub debugcon: String,
    /// QEMU's exit status, if it exited by itself.
    pub exit_status: Option<i32>,
    /// The marker was seen.
    pub marker_seen: bool,
    /// Stopped by the timeout.
    pub timed_out: bool,
    /// Seconds from start to the marker (or to the end).
    pub seconds: f64,
    /// Directory holding the logs.
    pub log_dir: PathBuf,
}

impl Outcome {
    /// A one-paragraph description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "exit={:?} marker_seen={} timed_out={} after {:.2}s; logs in {}\n--- COM1 (tail) ---\n{}",
            self.exit_status,
            self.marker_seen,
            self.timed_out,
            self.seconds,
            self.log_dir.display(),
            tail(&self.serial, 3000)
        )
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// A monitor command to send once `trigger` appears on COM1.
struct KeyOnText {
    trigger: String,
    command: String,
    sent: bool,
}

/// Builder for one QEMU run.
pub struct Qemu {
    name: String,
    args: Vec<String>,
    timeout: Duration,
    marker: Option<String>,
    marker_in_debugcon: bool,
    keys: Vec<KeyOnText>,
    sercon: bool,
}

impl Qemu {
    /// A machine with 128 MiB, no display, COM1 and debugcon to files,
    /// the isa-debug-exit device, and no reboot on triple fault.
    pub fn new(name: &str) -> Self {
        Qemu {
            name: name.to_string(),
            args: vec![],
            timeout: Duration::from_secs(60),
            marker: None,
            marker_in_debugcon: false,
            keys: vec![],
            sercon: false,
        }
    }

    /// Adds raw QEMU arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// Puts `rom` on a NIC (`virtio-net-pci`, `e1000`, ...) with a slirp backend.
    pub fn rom_on_nic(self, rom: &Path, nic: &str) -> Self {
        self.args([
            "-netdev".to_string(),
            "user,id=n0".to_string(),
            "-device".to_string(),
            format!("{nic},netdev=n0,romfile={}", rom.display()),
        ])
    }

    /// Stops the run when COM1 contains `marker`.
    pub fn until(mut self, marker: &str) -> Self {
        self.marker = Some(marker.to_string());
        self
    }

    /// Stops the run when the SeaBIOS debug log contains `marker` (BIOS
    /// messages such as "No bootable device." only go to the screen and there).
    pub fn until_bios_log(mut self, marker: &str) -> Self {
        self.marker = Some(marker.to_string());
        self.marker_in_debugcon = true;
        self
    }

    /// Gives up after `secs` seconds.
    pub fn timeout_secs(mut self, secs: u64) -> Self {
        self.timeout = Duration::from_secs(secs);
        self
    }

    /// Mirrors the BIOS screen onto COM1 (SeaBIOS "sercon"), so menus and
    /// INT 10h text can be read from the serial log.
    pub fn sercon(mut self) -> Self {
        self.sercon = true;
        self
    }

    /// Sends `key` (QEMU `sendkey` syntax) once `trigger` shows on COM1.
    pub fn key_when(mut self, trigger: &str, key: &str) -> Self {
        self.keys.push(KeyOnText {
            trigger: trigger.into(),
            command: format!("sendkey {key}"),
            sent: false,
        });
        self
    }

    /// Runs a QEMU monitor command (e.g. `pmemsave ADDR LEN FILE`) once
    /// `trigger` shows on COM1.
    pub fn monitor_when(mut self, trigger: &str, command: &str) -> Self {
        self.keys.push(KeyOnText {
            trigger: trigger.into(),
            command: command.into(),
            sent: false,
        });
        self
    }

    /// Runs QEMU to completion, marker or timeout.
    pub fn run(mut self) -> Outcome {
        let log_dir = target_dir().join("qemu-logs").join(&self.name);
        let _ = std::fs::remove_dir_all(&log_dir);
        std::fs::create_dir_all(&log_dir).expect("create log dir");
        let serial = log_dir.join("com1.log");
        let debugcon = log_dir.join("seabios.log");
        let monitor = log_dir.join("monitor.sock");
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args([
            "-display",
            "none",
            "-vga",
            "none",
            "-m",
            "128",
            "-no-reboot",
        ])
        .args(["-serial", &format!("file:{}", serial.display())])
        .args([
            "-chardev",
            &format!("file,id=dbg,path={}", debugcon.display()),
        ])
        .args(["-device", "isa-debugcon,iobase=0x402,chardev=dbg"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"])
        .args([
            "-monitor",
            &format!("unix:{},server=on,wait=off", monitor.display()),
        ]);
        if self.sercon {
            let port = log_dir.join("sercon-port");
            std::fs::write(&port, 0x3f8u16.to_le_bytes()).unwrap();
            cmd.args([
                "-fw_cfg",
                &format!("name=etc/sercon-port,file={}", port.display()),
            ]);
        }
        cmd.args(&self.args);
        std::fs::write(log_dir.join("command.txt"), format!("{cmd:?}\n")).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(log_dir.join("qemu.stdout")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(log_dir.join("qemu.stderr")).unwrap(),
            ));
        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .expect("qemu-system-x86_64 must be installed (scripts/setup)");
        let mut out = Outcome {
            serial: String::new(),
            debugcon: String::new(),
            exit_status: None,
            marker_seen: false,
            timed_out: false,
            seconds: 0.0,
            log_dir: log_dir.clone(),
        };
        loop {
            let text = read_lossy(&serial);
            // Monitor commands first: their trigger may arrive together with
            // the marker.
            for k in self.keys.iter_mut().filter(|k| !k.sent) {
                if text.contains(k.trigger.as_str()) {
                    k.sent = monitor_command(&monitor, &k.command);
                }
            }
            if let Some(m) = &self.marker {
                let hay = if self.marker_in_debugcon {
                    read_lossy(&debugcon)
                } else {
                    text.clone()
                };
                if hay.contains(m.as_str()) {
                    out.marker_seen = true;
                    out.seconds = start.elapsed().as_secs_f64();
                    stop(&mut child);
                    break;
                }
            }
            if let Ok(Some(st)) = child.try_wait() {
                out.exit_status = st.code();
                out.seconds = start.elapsed().as_secs_f64();
                break;
            }
            if start.elapsed() > self.timeout {
                out.timed_out = true;
                out.seconds = start.elapsed().as_secs_f64();
                stop(&mut child);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        out.serial = read_lossy(&serial);
        out.debugcon = read_lossy(&debugcon);
        // Markers are checked on the final log too (a fast exit can beat the poll).
        if let Some(m) = &self.marker {
            let hay = if self.marker_in_debugcon {
                &out.debugcon
            } else {
                &out.serial
            };
            out.marker_seen |= hay.contains(m.as_str());
        }
        out
    }
}

fn read_lossy(p: &Path) -> String {
    std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Sends one HMP command to the monitor socket of a running [`Qemu`]
/// (`target/qemu-logs/<name>/monitor.sock`) and waits for its prompt.
/// `false` when the monitor is not there.
pub fn monitor_command(sock: &Path, line: &str) -> bool {
    use std::io::Read;
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    if s.write_all(format!("{line}\n").as_bytes()).is_err() {
        return false;
    }
    // HMP echoes every keystroke with cursor escapes; keep reading so its
    // output never blocks it, until the prompt comes back after our command.
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        // The first "(qemu)" is the greeting; the second follows our command.
        if seen.windows(6).filter(|w| w == b"(qemu)").count() >= 2 {
            return true;
        }
    }
    true
}
