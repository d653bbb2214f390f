//! Raw-Ethernet mode: srp-target (`--iface`, AF_PACKET) and srp-client in
//! two network namespaces joined by a veth pair that the test makes itself;
//! the client reads the whole LUN, its sha256 must match the image. Needs
//! root (CAP_NET_ADMIN for `ip netns`, CAP_NET_RAW for AF_PACKET); without
//! it the test says so and passes.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Two namespaces and a veth pair; removed on drop.
struct Netns {
    t: String,
    i: String,
}

impl Netns {
    fn new() -> Option<Netns> {
        let id = std::process::id() % 100_000;
        let n = Netns {
            t: format!("srpt-t{id}"),
            i: format!("srpt-i{id}"),
        };
        let (vt, vi) = (format!("vst{id}"), format!("vsi{id}"));
        let ok = ip(&["netns", "add", &n.t])
            && ip(&["netns", "add", &n.i])
            && ip(&["link", "add", &vt, "type", "veth", "peer", "name", &vi])
            && ip(&["link", "set", &vt, "netns", &n.t])
            && ip(&["link", "set", &vi, "netns", &n.i])
            && ip(&["-n", &n.t, "link", "set", &vt, "up"])
            && ip(&["-n", &n.i, "link", "set", &vi, "up"])
            && ip(&["-n", &n.t, "link", "set", "lo", "up"])
            && ip(&["-n", &n.i, "link", "set", "lo", "up"]);
        if !ok {
            drop(n);
            let _ = ip(&["link", "del", &vt]);
            return None;
        }
        Some(n)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so both.
        let _ = ip(&["netns", "del", &self.t]);
        let _ = ip(&["netns", "del", &self.i]);
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sha256(p: &std::path::Path) -> String {
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

#[test]
fn whole_lun_over_veth_between_namespaces() {
    // SAFETY: geteuid has no preconditions.
    // No silent skip: the test suite runs as root (CI does), with iproute2
    // installed by scripts/setup.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "needs root for network namespaces and AF_PACKET"
    );
    let ns = Netns::new().expect("cannot create network namespaces / veth (iproute2, root)");
    let id = std::process::id() % 100_000;
    let dir = std::env::temp_dir().join(format!("srpt-veth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("disk.img");
    let data: Vec<u8> = (0..(3u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(&img, &data).unwrap();
    let log = dir.join("target.log");
    let target = Killed(
        Command::new("ip")
            .args(["netns", "exec", &ns.t, env!("CARGO_BIN_EXE_srp-target")])
            .arg("--disk")
            .arg(&img)
            .args([
                "--iface",
                &format!("vst{id}"),
                "--mac",
                "52:54:00:77:00:01",
                "--ip",
                "192.168.77.1/24",
            ])
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start srp-target"),
    );
    let text = |p: &PathBuf| {
        let mut s = String::new();
        File::open(p)
            .and_then(|mut f| f.read_to_string(&mut s))
            .ok();
        s
    };
    let t0 = Instant::now();
    while !text(&log).contains("how to connect") {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "srp-target did not start: {}",
            text(&log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = dir.join("read.img");
    let client = Command::new("ip")
        .args(["netns", "exec", &ns.i, env!("CARGO_BIN_EXE_srp-client")])
        .args([
            "--iface",
            &format!("vsi{id}"),
            "--mac",
            "52:54:00:77:00:02",
            "--ip",
            "192.168.77.2/24",
        ])
        .args([
            "--target",
            "srp://192.168.77.1",
            "--timeout",
            "60",
            "read",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run srp-client");
    let ctx = format!(
        "client: {}\n{}\ntarget:\n{}",
        client.status,
        String::from_utf8_lossy(&client.stderr),
        text(&log)
    );
    assert!(client.status.success(), "{ctx}");
    assert_eq!(sha256(&out), sha256(&img), "{ctx}");
    let t0 = Instant::now();
    while !text(&log).contains("logout:") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no logout line: {ctx}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        text(&log).contains("link iface") || text(&log).contains("login: channel 1"),
        "{ctx}"
    );
    drop(target);
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}
