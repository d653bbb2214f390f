//! srp-target's plain IB CM service ID form, end to end in process: the
//! server (from the same options as the binary) on 127.0.0.1 with QEMU
//! stream framing, and our own initiator (soft HCA + `fabric::cm::Initiator`
//! set to a plain service ID + SRP session with the classic 64-byte
//! SRP_LOGIN_REQ, as ib_srp sends it without rdma_cm) logging in through
//! the service ID and reading blocks. Also: the default service ID is the
//! GUID, `--service-id` replaces it, `off` turns it off (REJ 8), and the
//! rdma_cm port keeps working next to it.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use fabric::channel::{Channel, ChannelEvent};
use fabric::cm::CmConfig;
use fabric::nic::Nic;
use fabric::srp::{
    BlockConfig, BlockDevice, DeviceState, LoginLayout, Session, SessionConfig, Transfer,
};
use fabric::time::Instant;
use fabric::transport::HcaConfig;
use fabric::uri::SrpUri;
use fabric::wire::{EthernetAddress, Ipv4Address};
use tools::netdev::NetDev;
use tools::srp_host::{Client, ClientConfig, HostChannel, HostMem, MSG, SLOTS};
use tools::srptarget::inprocess::InProcess;
use tools::srptarget::options::Options;
use tools::srptarget::server::STACK;

const GUID: u64 = 0x0002_c903_0011_2233;
const TARGET_IP: Ipv4Address = Ipv4Address([192, 168, 77, 1]);

fn image(name: &str, bytes: usize) -> (PathBuf, Vec<u8>) {
    let d = std::env::temp_dir().join(format!("srpt-svcid-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let v: Vec<u8> = (0..bytes as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let p = d.join("disk.img");
    std::fs::write(&p, &v).unwrap();
    (p, v)
}

fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
}

const SCRATCH: u64 = tools::srp_host::MEM_BASE;
const WINDOW: u64 = SCRATCH + 4096;

/// A channel on its own TCP link to the server, connecting by plain IB
/// CM service ID `sid` (or the rdma_cm port when `None`).
fn channel(port: u16, mac_last: u8, sid: Option<u64>, mem: &HostMem) -> Box<HostChannel> {
    let mac = [0x52, 0x54, 0x00, 0x77, 0x00, mac_last];
    let nic = NetDev::open(&format!("connect:127.0.0.1:{port}"), Some(mac)).unwrap();
    assert_eq!(nic.mac(), mac);
    let mut hc = HcaConfig::new(
        Ipv4Address([192, 168, 77, mac_last]),
        u64::from(mac_last) << 32 | u64::from(std::process::id()),
    );
    hc.netmask = Ipv4Address([255, 255, 255, 0]);
    let mut chan = Box::new(HostChannel::new(
        nic,
        mem.clone(),
        hc,
        CmConfig::default(),
        TARGET_IP,
        5000,
    ));
    chan.set_service_id(sid);
    chan
}

/// Logs in with the classic layout through service ID `sid` and reads
/// `blocks` blocks at LBA 0 (the device's identification included).
fn classic_login_and_read(port: u16, mac_last: u8, sid: u64, blocks: u64) -> Vec<u8> {
    let mem = HostMem::new(4096 + (1 << 20));
    let chan = channel(port, mac_last, Some(sid), &mem);
    let uri = SrpUri::parse(&format!("srp://192.168.77.1/0?guid=0x{GUID:016x}")).unwrap();
    let mac = EthernetAddress([0x52, 0x54, 0x00, 0x77, 0x00, mac_last]);
    let mut sc = SessionConfig::for_uri(&uri, mac, EthernetAddress([0; 6]));
    sc.layout = LoginLayout::Classic;
    let session = Session::new(*chan, sc);
    let mut dev: Box<BlockDevice<HostChannel, HostMem, SLOTS, MSG>> = Box::new(BlockDevice::new(
        session,
        mem.clone(),
        BlockConfig::new(uri.scsi_lun(), SCRATCH),
    ));
    let clock = std::time::Instant::now();
    let now = || Instant(clock.elapsed().as_micros() as u64 + 1);
    let idle = |dev: &BlockDevice<HostChannel, HostMem, SLOTS, MSG>| {
        dev.session()
            .channel()
            .hca()
            .nic()
            .wait(Duration::from_millis(2));
    };
    dev.open(now()).unwrap();
    while dev.state() == DeviceState::Opening {
        assert!(clock.elapsed() < Duration::from_secs(30), "login timed out");
        if !dev.poll(now()) {
            idle(&dev);
        }
    }
    assert_eq!(dev.state(), DeviceState::Ready);
    let info = *dev.info().unwrap();
    assert_eq!(info.inquiry.vendor_str(), "SRPBOOT");
    assert_eq!(info.login.initial_credits, 62);
    let mut x = Transfer::<8>::read(0, blocks, WINDOW);
    loop {
        assert!(clock.elapsed() < Duration::from_secs(30), "read timed out");
        if let Some(r) = x.poll(now(), &mut dev) {
            r.unwrap();
            break;
        }
        idle(&dev);
    }
    let data = mem.with(WINDOW, (blocks * u64::from(info.block_len)) as usize, |b| {
        b.to_vec()
    });
    dev.close(now());
    while !matches!(dev.session().state(), fabric::srp::SessionState::Closed(_)) {
        assert!(
            clock.elapsed() < Duration::from_secs(30),
            "logout timed out"
        );
        if !dev.poll(now()) {
            idle(&dev);
        }
    }
    data
}

#[test]
fn classic_login_through_the_default_service_id_reads_blocks() {
    let (img, orig) = image("default", 1 << 20);
    let guid = format!("0x{GUID:016x}");
    let srv = InProcess::serve(&["--disk", img.to_str().unwrap(), "--guid", &guid]);
    let port = srv.port;
    let sum = srv.all();
    assert!(
        sum.contains(&format!(
            "plain IB CM service ID 0x{GUID:016x} (classic 64-byte SRP_LOGIN_REQ"
        )),
        "{sum}"
    );
    let data = on_big_stack(move || classic_login_and_read(port, 2, GUID, 64))
        .join()
        .unwrap();
    assert!(data == orig[..64 * 512], "blocks read back differ");
    srv.wait_for("logout:", 1);
    // The rdma_cm port answers next to it, with the rdma_cm layout.
    let data = on_big_stack(move || {
        let mut c = ClientConfig::new(
            &format!("connect:127.0.0.1:{port}"),
            Ipv4Address([192, 168, 77, 3]),
            24,
            SrpUri::parse(&format!("srp://192.168.77.1/0?guid=0x{GUID:016x}")).unwrap(),
        );
        c.mac = Some([0x52, 0x54, 0x00, 0x77, 0x00, 3]);
        let mut c = Client::connect(c).map_err(|e| e.to_string())?;
        let mut v = Vec::new();
        c.read_to(8, 8, &mut v).map_err(|e| e.to_string())?;
        c.logout().map_err(|e| e.to_string())?;
        Ok::<_, String>(v)
    })
    .join()
    .unwrap()
    .unwrap();
    assert!(data == orig[8 * 512..16 * 512]);
    let all = srv.stop().join("\n");
    assert!(
        all.contains(&format!("IB CM service ID 0x{GUID:016x})")),
        "the login line names the service ID:\n{all}"
    );
    assert!(
        all.contains("counters: logins 2 rejected 0 logouts 2"),
        "{all}"
    );
}

#[test]
fn explicit_service_ids_replace_the_default_and_off_turns_them_off() {
    let (img, orig) = image("explicit", 256 << 10);
    let guid = format!("0x{GUID:016x}");
    let srv = InProcess::serve(&[
        "--disk",
        img.to_str().unwrap(),
        "--guid",
        &guid,
        "--service-id",
        "0x1122334455667788",
        "--service-id=0x99",
    ]);
    let port = srv.port;
    let data = on_big_stack(move || classic_login_and_read(port, 4, 0x99, 8))
        .join()
        .unwrap();
    assert!(data == orig[..8 * 512]);
    srv.wait_for("logout:", 1);
    // The GUID is no longer a service ID: REJ 8 (invalid service ID).
    assert_eq!(rejected(port, 5, GUID), Some(8));
    let all = srv.stop().join("\n");
    assert!(all.contains("service ID 0x1122334455667788"), "{all}");
    assert!(all.contains("service ID 0x0000000000000099"), "{all}");
    assert!(!all.contains(&format!("service ID 0x{GUID:016x}")), "{all}");

    let srv = InProcess::serve(&["--disk", img.to_str().unwrap(), "--service-id", "off"]);
    let port = srv.port;
    let default_guid = 0x5054_00ff_fe77_0001;
    assert_eq!(rejected(port, 6, default_guid), Some(8));
    let all = srv.stop().join("\n");
    assert!(all.contains("plain IB CM service IDs: none"), "{all}");
}

/// Connects by service ID with a classic-sized login and returns the REJ
/// reason, if rejected.
fn rejected(port: u16, mac_last: u8, sid: u64) -> Option<u16> {
    on_big_stack(move || {
        let mem = HostMem::new(4096);
        let mut chan = channel(port, mac_last, Some(sid), &mem);
        let clock = std::time::Instant::now();
        let now = || Instant(clock.elapsed().as_micros() as u64 + 1);
        chan.connect(now(), &[0u8; 64]).unwrap();
        while clock.elapsed() < Duration::from_secs(20) {
            let r = chan.poll(now(), |e| match e {
                ChannelEvent::Rejected { reason, .. } => Some(Some(reason)),
                ChannelEvent::Established(_) => Some(None),
                _ => None,
            });
            if let Some(Some(r)) = r {
                return r;
            }
            chan.hca().nic().wait(Duration::from_millis(2));
        }
        panic!("no answer to the REQ");
    })
    .join()
    .unwrap()
}

#[test]
fn service_id_options() {
    let err = |a: &[&str]| {
        let mut v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        v.extend(["--disk".into(), "x".into()]);
        match Options::parse(&v) {
            Err(Err(m)) => m,
            _ => panic!("{a:?} accepted"),
        }
    };
    assert!(err(&["--service-id", "zz"]).contains("--service-id"));
    assert!(err(&["--service-id", "0"]).contains("--service-id"));
    assert!(err(&["--service-id", "0x01061388"]).contains("rdma_cm service ID (port 5000)"));
    let five = [
        "--service-id",
        "1",
        "--service-id",
        "2",
        "--service-id",
        "3",
    ];
    let mut a = five.to_vec();
    a.extend(["--service-id", "4", "--service-id", "5"]);
    assert!(err(&a).contains("at most 4"));
    let ok = |a: &[&str]| {
        let mut v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        v.extend(["--disk".into(), "x".into()]);
        Options::parse(&v).unwrap()
    };
    assert_eq!(ok(&["--guid", "0xabc"]).service_ids, vec![0xabc]);
    assert_eq!(ok(&[]).service_ids, vec![0x5054_00ff_fe77_0001]);
    assert_eq!(
        ok(&["--service-id", "0x5", "--service-id", "5"]).service_ids,
        vec![5]
    );
    assert!(ok(&["--service-id", "off"]).service_ids.is_empty());
    assert_eq!(
        ok(&["--service-id", "off", "--service-id", "7"]).service_ids,
        vec![7]
    );
}
