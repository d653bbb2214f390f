//! srp-target end to end in process: the server (exactly what the binary
//! runs, from the same options) on 127.0.0.1 with QEMU stream framing, and
//! our own initiator (`tools::srp_host::Client`: soft HCA, active CM, SRP
//! session) on TCP links: whole-LUN reads checked byte for byte, writes by
//! immediate data and RDMA READ, two initiators at once on their own links,
//! copy-on-write overlays, ACL rejection, a new login replacing an old
//! channel, link loss, option and port errors.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use fabric::uri::SrpUri;
use fabric::wire::Ipv4Address;
use tools::srp_host::{Client, ClientConfig};
use tools::srptarget::inprocess::InProcess;
use tools::srptarget::options::Options;
use tools::srptarget::server::{Control, Server, STACK};

type Log = Arc<Mutex<Vec<String>>>;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("srpt-net-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn image(dir: &Path, name: &str, bytes: usize, salt: u32) -> PathBuf {
    let v: Vec<u8> = (0..bytes as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(salt) >> 13) as u8)
        .collect();
    let p = dir.join(name);
    std::fs::write(&p, &v).unwrap();
    p
}

fn config(port: u16, mac_last: u8, uri: &str) -> ClientConfig {
    let mut c = ClientConfig::new(
        &format!("connect:127.0.0.1:{port}"),
        Ipv4Address([192, 168, 77, mac_last]),
        24,
        SrpUri::parse(uri).unwrap(),
    );
    c.mac = Some([0x52, 0x54, 0x00, 0x77, 0x00, mac_last]);
    c.timeout = Duration::from_secs(30);
    c
}

/// Runs `f` on a thread with room for an HCA.
fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
}

#[test]
fn fabric_initiator_reads_writes_two_links_at_once() {
    let d = tmpdir("e2e");
    let a = image(&d, "a.img", 2 << 20, 1);
    let b = image(&d, "b.img", 1 << 20, 2);
    let (a_orig, b_orig) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let srv = InProcess::serve(&["--disk", a.to_str().unwrap(), "--disk", b.to_str().unwrap()]);
    let port = srv.port;
    // Initiator 1 on LUN 0: whole read, writes, read back.
    let t1 = on_big_stack(move || {
        let mut c =
            Client::connect(config(port, 2, "srp://192.168.77.1/0")).map_err(|e| e.to_string())?;
        let info = c.info();
        assert_eq!(info.inquiry.vendor_str(), "SRPBOOT");
        assert_eq!(info.blocks, 4096);
        assert_eq!(info.login.initial_credits, 62);
        assert!(info.login.max_immediate >= 4096);
        assert_eq!(c.report_luns().map_err(|e| e.to_string())?.len(), 2);
        let mut disk = Vec::new();
        c.read_to(0, info.blocks, &mut disk)
            .map_err(|e| e.to_string())?;
        let small: Vec<u8> = (0..512u32).map(|i| (i * 7 + 3) as u8).collect();
        c.write_from(5, &small).map_err(|e| e.to_string())?;
        let big: Vec<u8> = (0..(256 << 10) as u32)
            .map(|i| (i ^ (i >> 9)) as u8)
            .collect();
        c.write_from(1000, &big).map_err(|e| e.to_string())?;
        let mut back = Vec::new();
        c.read_to(1000, 512, &mut back).map_err(|e| e.to_string())?;
        assert_eq!(back, big);
        c.logout().map_err(|e| e.to_string())?;
        Ok::<_, String>((disk, small, big))
    });
    // Initiator 2 at the same time, its own link, LUN 1 (same IP and
    // MAC would be fine too: links are separate).
    let t2 = on_big_stack(move || {
        let mut c =
            Client::connect(config(port, 3, "srp://192.168.77.1/1")).map_err(|e| e.to_string())?;
        let mut disk = Vec::new();
        c.read_to(0, c.info().blocks, &mut disk)
            .map_err(|e| e.to_string())?;
        c.logout().map_err(|e| e.to_string())?;
        Ok::<_, String>(disk)
    });
    let (disk_a, small, big) = t1.join().unwrap().unwrap();
    let disk_b = t2.join().unwrap().unwrap();
    assert!(disk_a == a_orig, "LUN 0 read back differs");
    assert!(disk_b == b_orig, "LUN 1 read back differs");
    srv.wait_for("logout:", 2);
    let log = srv.stop();
    let f = std::fs::read(&a).unwrap();
    assert_eq!(&f[5 * 512..6 * 512], &small[..]);
    assert_eq!(&f[1000 * 512..1512 * 512], &big[..]);
    assert_eq!(&f[..5 * 512], &a_orig[..5 * 512]);
    assert_eq!(std::fs::read(&b).unwrap(), b_orig);
    let all = log.join("\n");
    assert_eq!(
        log.iter().filter(|l| l.starts_with("login:")).count(),
        2,
        "{all}"
    );
    assert!(all.contains("initiator disconnected (DREQ)"), "{all}");
    assert!(
        all.contains("counters: logins 2 rejected 0 logouts 2"),
        "{all}"
    );
    assert!(
        all.contains("-netdev socket,id=n0,connect=127.0.0.1:"),
        "{all}"
    );
}

#[test]
fn copy_on_write_keeps_the_base_and_survives_a_restart() {
    let d = tmpdir("cow");
    let a = image(&d, "base.img", 1 << 20, 5);
    let orig = std::fs::read(&a).unwrap();
    let cow = d.join("overlays");
    let args = [
        "--disk",
        a.to_str().unwrap(),
        "--cow",
        cow.to_str().unwrap(),
    ];
    let srv = InProcess::serve(&args);
    let port = srv.port;
    let pat: Vec<u8> = (0..(64 << 10) as u32).map(|i| (i * 13) as u8).collect();
    let p2 = pat.clone();
    on_big_stack(move || {
        let mut c = Client::connect(config(port, 2, "srp://192.168.77.1")).unwrap();
        c.write_from(7, &p2).unwrap();
        let mut back = Vec::new();
        c.read_to(0, 2048, &mut back).unwrap();
        assert_eq!(&back[7 * 512..7 * 512 + p2.len()], &p2[..]);
        c.logout().unwrap();
    })
    .join()
    .unwrap();
    // Another initiator sees the base.
    let o2 = orig.clone();
    on_big_stack(move || {
        let mut c = Client::connect(config(port, 9, "srp://192.168.77.1")).unwrap();
        let mut back = Vec::new();
        c.read_to(0, 2048, &mut back).unwrap();
        assert!(back == o2, "other initiator sees the base");
        c.logout().unwrap();
    })
    .join()
    .unwrap();
    srv.wait_for("logout:", 2);
    srv.stop();
    assert!(std::fs::read(&a).unwrap() == orig, "base image unchanged");
    // Restart: initiator 2's overlay is still there.
    let srv = InProcess::serve(&args);
    let port = srv.port;
    on_big_stack(move || {
        let mut c = Client::connect(config(port, 2, "srp://192.168.77.1")).unwrap();
        let mut back = Vec::new();
        c.read_to(7, 128, &mut back).unwrap();
        assert_eq!(back, pat);
        c.logout().unwrap();
    })
    .join()
    .unwrap();
    srv.stop();
    assert!(std::fs::read(&a).unwrap() == orig);
}

#[test]
fn acl_rejects_and_a_new_login_replaces_the_old_channel() {
    let d = tmpdir("acl");
    let a = image(&d, "a.img", 256 << 10, 3);
    // Port ID of MAC 52:54:00:77:00:02 as Linux forms it.
    let srv = InProcess::serve(&[
        "--disk",
        a.to_str().unwrap(),
        "--allow",
        "0x0000000000000000505400fffe770002",
    ]);
    let port = srv.port;
    let e = on_big_stack(move || {
        Client::connect(config(port, 3, "srp://192.168.77.1"))
            .err()
            .map(|e| e.to_string())
    })
    .join()
    .unwrap()
    .expect("a port ID outside the ACL is refused");
    assert!(
        e.contains("0x00010006") || e.to_lowercase().contains("channel limit"),
        "{e}"
    );
    srv.wait_for("login REJECTED", 1);
    // Allowed initiator logs in; then "restarts" and logs in again on a new
    // link: the old channel is disconnected.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let first = on_big_stack(move || {
        let mut cfg = config(port, 2, "srp://192.168.77.1");
        cfg.timeout = Duration::from_secs(3);
        let mut c = Client::connect(cfg).unwrap();
        let mut back = Vec::new();
        c.read_to(0, 8, &mut back).unwrap();
        tx.send(()).unwrap();
        // Keep the link up until the replacement happened, then try again:
        // the target's DREQ has closed the session.
        std::thread::sleep(Duration::from_millis(1500));
        back.clear();
        let failed = c.read_to(0, 8, &mut back).is_err();
        (failed, format!("{:?}", c.device().session().state()))
    });
    rx.recv().unwrap();
    let second = on_big_stack(move || {
        let mut c = Client::connect(config(port, 2, "srp://192.168.77.1")).unwrap();
        let mut back = Vec::new();
        c.read_to(0, 512, &mut back).unwrap();
        c.logout().unwrap();
        back.len()
    });
    assert_eq!(second.join().unwrap(), 256 << 10);
    srv.wait_for("replaced by a new login", 1);
    let (failed, state) = first.join().unwrap();
    assert!(failed, "the replaced channel no longer works");
    assert!(
        state.contains("Closed"),
        "the old session saw the target's DREQ: {state}"
    );
    let log = srv.stop();
    assert!(
        log.iter().any(|l| l.contains("replaced 1 old channel")),
        "{}",
        log.join("\n")
    );
}

#[test]
fn link_loss_closes_the_channel() {
    let d = tmpdir("loss");
    let a = image(&d, "a.img", 32 << 20, 4);
    let srv = InProcess::serve(&["--disk", a.to_str().unwrap()]);
    // An initiator process that dies mid-read: the TCP link just goes away.
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_srp-client"))
        .args([
            "--connect",
            &format!("127.0.0.1:{}", srv.port),
            "--ip",
            "192.168.77.2/24",
        ])
        .args([
            "--target",
            "srp://192.168.77.1",
            "read",
            "--out",
            "/dev/null",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    srv.wait_for("login:", 1);
    std::thread::sleep(Duration::from_millis(200));
    let _ = c.kill();
    let _ = c.wait();
    srv.wait_for("link down", 1);
    let log = srv.stop();
    assert!(
        log.iter()
            .any(|l| l.starts_with("logout:") && l.contains("link lost")),
        "{}",
        log.join("\n")
    );
}

#[test]
fn option_and_startup_errors_are_clear() {
    let err = |a: &[&str]| {
        let v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        match Options::parse(&v) {
            Err(Err(m)) => m,
            o => panic!("{a:?} parsed: {o:?}"),
        }
    };
    assert!(err(&[]).contains("no --disk"));
    assert!(err(&["--disk", "x", "--mac", "zz"]).contains("--mac"));
    assert!(err(&["--disk", "x", "--ip", "1.2.3"]).contains("--ip"));
    assert!(err(&["--disk", "x", "--port", "0"]).contains("--port"));
    assert!(err(&["--disk", "x", "--block-size", "1024"]).contains("512 or 4096"));
    assert!(err(&["--disk", "x", "--allow", "nope"]).contains("--allow"));
    assert!(err(&["--disk", "x", "--frobnicate"]).contains("unknown option"));
    assert!(err(&["--disk", "x", "--mtu", "9001"]).contains("--mtu: 576..=9000"));
    assert!(err(&["--disk", "x", "--mtu", "big"]).contains("--mtu"));
    assert!(err(&["--disk"]).contains("--disk needs"));
    assert!(err(&["--disk", "x", "--listen", "a:1", "--dgram", "b:1,c:2"]).contains("one of"));
    // Defaults: GUID = EUI-64 of the MAC.
    let o = Options::parse(&[
        "--disk".into(),
        "x".into(),
        "--mac".into(),
        "52:54:00:77:00:01".into(),
    ])
    .unwrap();
    assert_eq!(o.guid, 0x5054_00ff_fe77_0001);
    // A missing image.
    let o = Options::parse(&["--disk".into(), "/nonexistent/disk.img".into()]).unwrap();
    let e = o.target().err().unwrap();
    assert!(
        e.contains("cannot open disk image /nonexistent/disk.img"),
        "{e}"
    );
    // A busy port.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = l.local_addr().unwrap().to_string();
    let o = Options::parse(&["--disk".into(), "x".into(), "--listen".into(), busy]).unwrap();
    let e = o.transport().err().unwrap();
    assert!(e.contains("address already in use"), "{e}");
}

#[test]
fn dgram_transport() {
    let d = tmpdir("dgram");
    let a = image(&d, "a.img", 512 << 10, 6);
    let orig = std::fs::read(&a).unwrap();
    let free = || {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (tp, cp) = (free(), free());
    let opts = Options::parse(&[
        "--disk".into(),
        a.to_str().unwrap().into(),
        "--dgram".into(),
        format!("127.0.0.1:{tp},127.0.0.1:{cp}"),
    ])
    .unwrap();
    let ctl = Control::new();
    let log: Log = Arc::default();
    let l2 = log.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = on_big_stack(move || {
        let mut t = opts.target().unwrap();
        let l3 = l2.clone();
        t.set_log(Box::new(move |s| l3.lock().unwrap().push(s.to_string())));
        let mut s = Server::new(t, opts.net(), opts.transport().unwrap());
        tx.send(opts.summary(&s.target, &s)).unwrap();
        s.run(&ctl);
    });
    let summary = rx.recv().unwrap();
    assert!(
        summary.contains(&format!("-netdev dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={cp},remote.type=inet,remote.host=127.0.0.1,remote.port={tp}")),
        "{summary}"
    );
    let back = on_big_stack(move || {
        let mut c = config(0, 2, "srp://192.168.77.1");
        c.netdev = format!("dgram:127.0.0.1:{cp},127.0.0.1:{tp}");
        let mut c = Client::connect(c).unwrap();
        let mut back = Vec::new();
        c.read_to(0, 1024, &mut back).unwrap();
        c.logout().unwrap();
        back
    })
    .join()
    .unwrap();
    assert!(back == orig);
    for _ in 0..200 {
        if log.lock().unwrap().iter().any(|l| l.starts_with("logout:")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ctl.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    srv.join().unwrap();
    assert!(log.lock().unwrap().iter().any(|l| l.starts_with("logout:")));
}
