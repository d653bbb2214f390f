//! Durability: a write acknowledged after SYNCHRONIZE CACHE survives killing
//! the srp-target process with SIGKILL and starting it again — on a plain
//! image and with a copy-on-write overlay (whose chunk map lives in memory
//! until a sync). The writes come from our own initiator
//! (`srp_host::Client::write_from` ends with SYNCHRONIZE CACHE).

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fabric::uri::SrpUri;
use fabric::wire::Ipv4Address;
use tools::srp_host::{Client, ClientConfig};
use tools::srptarget::server::STACK;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("srpt-dur-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Proc(Child, PathBuf);

impl Proc {
    fn start(args: &[&str], port: u16, log: PathBuf) -> Proc {
        let child = Command::new(env!("CARGO_BIN_EXE_srp-target"))
            .args(args)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start srp-target");
        let p = Proc(child, log);
        let t0 = Instant::now();
        while !p.text().contains("how to connect") {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "srp-target did not start: {}",
                p.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }
    fn text(&self) -> String {
        let mut s = String::new();
        File::open(&self.1)
            .and_then(|mut f| f.read_to_string(&mut s))
            .ok();
        s
    }
    fn kill9(mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGKILL) };
        let st = self.0.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&st),
            Some(libc::SIGKILL)
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn client(port: u16) -> Client {
    let mut c = ClientConfig::new(
        &format!("connect:127.0.0.1:{port}"),
        Ipv4Address([192, 168, 77, 2]),
        24,
        SrpUri::parse("srp://192.168.77.1").unwrap(),
    );
    c.mac = Some([0x52, 0x54, 0x00, 0x77, 0x00, 0x02]);
    c.timeout = Duration::from_secs(30);
    Client::connect(c).unwrap()
}

fn survives_kill9(dir: &Path, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let img = dir.join("disk.img");
    let orig: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 253) as u8).collect();
    std::fs::write(&img, &orig).unwrap();
    let mut args = vec!["--disk", img.to_str().unwrap()];
    args.extend_from_slice(extra);
    let port = free_port();
    let p = Proc::start(&args, port, dir.join("t1.log"));
    let pat: Vec<u8> = (0..(192u32 << 10))
        .map(|i| (i.wrapping_mul(31) >> 3) as u8 ^ 0x5A)
        .collect();
    let p2 = pat.clone();
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let mut c = client(port);
            c.write_from(333, &p2).unwrap(); // acknowledged after SYNCHRONIZE CACHE
                                             // No logout: the target dies with the channel open.
            std::mem::forget(c);
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(
        p.text().contains("SynchronizeCache") || p.text().contains("login:"),
        "{}",
        p.text()
    );
    p.kill9();
    let port = free_port();
    let p = Proc::start(&args, port, dir.join("t2.log"));
    let back = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let mut c = client(port);
            let mut back = Vec::new();
            c.read_to(333, 384, &mut back).unwrap();
            c.logout().unwrap();
            back
        })
        .unwrap()
        .join()
        .unwrap();
    drop(p);
    assert!(
        back == pat,
        "acknowledged data lost after kill -9 ({extra:?})"
    );
    (orig, std::fs::read(&img).unwrap())
}

#[test]
fn synced_write_survives_kill9_plain_image() {
    let d = tmpdir("plain");
    let (orig, now) = survives_kill9(&d, &["-v"]);
    assert_ne!(orig, now, "the image holds the write");
}

#[test]
fn synced_write_survives_kill9_cow_overlay() {
    let d = tmpdir("cow");
    let cow = d.join("cow");
    let (orig, now) = survives_kill9(&d, &["--cow", cow.to_str().unwrap()]);
    assert!(orig == now, "base untouched");
}
