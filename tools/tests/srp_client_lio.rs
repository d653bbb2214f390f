//! srp-client (the library path) against Linux's own SRP target: LIO
//! ib_srpt over rdma_rxe in the lio-srpt QEMU VM (`shared/lio-srpt`), on a
//! QEMU socket segment our StreamNic joins. Logs in, reads the whole LUN and
//! compares its sha256 with the one build.sh wrote, writes blocks (immediate
//! data and RDMA READ) and reads them back, checks the error of a wrong
//! target port ID, logs out.
//!
//! Shared files: `$SRPBOOT_SHARED` or `../shared` next to the repository.
//! The VM is built once into `target/lio-srpt` (`$LIO_SRPT_BUILD`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fabric::uri::SrpUri;
use fabric::wire::Ipv4Address;
use tools::lio;
use tools::srp_host::{Client, ClientConfig, ClientError};

fn sha256(data: &[u8]) -> String {
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn config(port: u16, target: &str) -> ClientConfig {
    let mut c = ClientConfig::new(
        &format!("connect:127.0.0.1:{port}"),
        Ipv4Address([192, 168, 77, 2]),
        24,
        SrpUri::parse(target).unwrap(),
    );
    c.mac = Some([0x52, 0x54, 0x00, 0x77, 0x00, 0x22]);
    c.timeout = Duration::from_secs(60);
    c
}

fn session(port: u16, expect_sha: &str) -> Result<(), ClientError> {
    let t = Instant::now();
    let mut c = Client::connect(config(port, "srp://192.168.77.1"))?;
    let info = c.info();
    eprintln!(
        "login+open {:?}: {} {} {} blocks of {}, {} credits, immediate {}",
        t.elapsed(),
        info.inquiry.vendor_str(),
        info.inquiry.product_str(),
        info.blocks,
        info.block_len,
        info.login.initial_credits,
        info.login.max_immediate
    );
    assert_eq!(info.inquiry.vendor_str(), "LIO-ORG");
    assert_eq!(info.block_len, 512);
    assert!(
        info.login.max_immediate >= 4096,
        "ib_srpt grants immediate data"
    );
    assert_eq!(c.report_luns()?, [fabric::wire::scsi::Lun::ZERO]);

    // The whole LUN, checked against build.sh's sha256.
    let t = Instant::now();
    let mut disk = Vec::new();
    c.read_to(0, info.blocks, &mut disk)?;
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "read {} bytes in {secs:.2} s ({:.1} MiB/s)",
        disk.len(),
        disk.len() as f64 / secs / 1048576.0
    );
    assert_eq!(disk.len() as u64, info.capacity());
    assert_eq!(sha256(&disk), expect_sha, "whole-disk sha256");
    assert_eq!(&disk[510..512], &[0x55, 0xAA]);

    // One block as immediate data, 64 KiB by RDMA READ; read both back.
    let block: Vec<u8> = (0..512u32).map(|i| (i * 7 + 3) as u8).collect();
    c.write_from(5, &block)?;
    let big: Vec<u8> = (0..65536u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    c.write_from(1000, &big)?;
    let mut back = Vec::new();
    c.read_to(5, 1, &mut back)?;
    assert_eq!(back, block, "immediate-data write read back");
    back.clear();
    c.read_to(1000, 128, &mut back)?;
    assert_eq!(back, big, "RDMA READ write read back");
    back.clear();
    c.read_to(4, 1, &mut back)?;
    assert_eq!(back, disk[4 * 512..5 * 512], "neighbour untouched");
    // Abort a READ right after sending it: either the target answers the
    // ABORT TASK or the READ's own response wins; the session goes on.
    let now = c.now();
    let buf = tools::srp_host::MEM_BASE + 8192;
    let h = c
        .device_mut()
        .start_read(now, 0, 64, buf)
        .map_err(|error| ClientError::Io {
            what: "READ".into(),
            error,
        })?;
    c.device_mut()
        .abort(now, h)
        .map_err(|error| ClientError::Io {
            what: "ABORT TASK".into(),
            error,
        })?;
    let mut outcome = None;
    c.poll_until("ABORT TASK", |d| {
        outcome = d.finish(h);
        outcome.is_some()
    })?;
    match outcome.unwrap() {
        Ok(_) => eprintln!("abort: the READ completed first"),
        Err(fabric::srp::BlockError::Session(fabric::srp::SessionError::Aborted)) => {
            eprintln!("abort: confirmed by the target")
        }
        Err(e) => panic!("abort: unexpected {e}"),
    }
    back.clear();
    c.read_to(4, 1, &mut back)?;
    assert_eq!(
        back,
        disk[4 * 512..5 * 512],
        "session healthy after the abort"
    );

    let s = c.device().session().counters();
    assert_eq!((s.malformed, s.unexpected), (0, 0));
    assert!(s.unknown_tag <= 1, "at most the abort's loser: {s:?}");
    c.logout()
}

#[test]
fn srp_client_against_linux_lio_srpt() {
    assert!(
        lio::harness().join("run-target.sh").exists(),
        "no lio-srpt harness at {} (set SRPBOOT_SHARED)",
        lio::harness().display()
    );
    let build_dir = lio::build();
    let expect = std::fs::read_to_string(build_dir.join("disk.sha256")).unwrap();
    let expect = expect.split_whitespace().next().unwrap().to_string();
    let logdir = tools::qemu::target_dir().join("srp-client-lio");
    let target = lio::LioTarget::start(None, &logdir);
    let port = target.port;

    // The soft HCA's tables are large; run on a roomy stack.
    let worker = std::thread::Builder::new().stack_size(256 << 20);
    let r = worker
        .spawn(move || session(port, &expect).map_err(|e| e.to_string()))
        .unwrap()
        .join()
        .unwrap();
    if let Err(e) = r {
        panic!("{e}\n(target log: {})", target.log.display());
    }

    // A wrong target port ID is refused with the target's SRP reason. The
    // socket segment takes one peer at a time: the first one has gone.
    let r = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            match Client::connect(config(port, "srp://192.168.77.1?guid=0x0000000000000001")) {
                Ok(_) => "logged in with a wrong target port ID".to_string(),
                Err(e) => e.to_string(),
            }
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(r.contains("SRP login") && r.contains("0x00010003"), "{r}");
    drop(target);
}
