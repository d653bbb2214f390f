//! Hostile initiators against the srp-target core (`tools::srptarget`):
//! the input is a login request followed by a sequence of IUs and fabric
//! events (RDMA completions delivered, held back or failed, the send queue
//! full or not). Properties: nothing panics, the target never posts more
//! than the initiator's credits allow it to answer, and the read-only base
//! image is never written.
//!
//! Input format: byte 0 selects the login layout and options; then records
//! `[kind][len][bytes…]`: kind 0 = an IU, 1 = deliver completions, 2 = set
//! the send queue room to `len`, 3 = a fresh login (replacing the channel).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use fabric::wire::srp::PortId;
use libfuzzer_sys::fuzz_target;
use tools::srptarget::sim::{login_req, SimIo};
use tools::srptarget::{LoginLayout, LoginOutcome, Lun, LunConfig, Target, TargetConfig};

const GUID: u64 = 0x5054_00ff_fe77_0001;

fn image() -> &'static (PathBuf, Vec<u8>) {
    static IMG: OnceLock<(PathBuf, Vec<u8>)> = OnceLock::new();
    IMG.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("srp-target-fuzz-{}.img", std::process::id()));
        let bytes: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        (p, bytes)
    })
}

fuzz_target!(|data: &[u8]| {
    let (path, bytes) = image();
    let Some((&opts, mut rest)) = data.split_first() else {
        return;
    };
    let lun = |i, bs| {
        Lun::open(
            LunConfig {
                path: path.clone(),
                read_only: true,
                block_size: bs,
                cow_dir: None,
            },
            i,
        )
        .unwrap()
    };
    let mut cfg = TargetConfig::new(GUID);
    cfg.credits = 1 + u32::from(opts & 0x0F);
    let mut t = Target::new(cfg, vec![lun(0, 512), lun(1, 4096)]);
    t.set_log(Box::new(|_| {}));
    let who = PortId::new(0, u64::from(opts));
    let layout = if opts & 0x80 != 0 {
        LoginLayout::Classic
    } else {
        LoginLayout::RdmaCm
    };
    let mut req = login_req(who, GUID).to_vec();
    if layout == LoginLayout::Classic {
        req = rest.get(..64).map(<[u8]>::to_vec).unwrap_or_default();
    }
    let mut chan = match t.login("fuzz", &req, layout) {
        LoginOutcome::Accepted { chan, .. } => chan,
        LoginOutcome::Rejected { .. } => return,
    };
    let mut io = SimIo::default();
    let mut region = vec![0u8; 1 << 16];
    region
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = i as u8);
    io.regions.insert(0x100, (0x1000, region));
    while rest.len() >= 2 {
        let (kind, len) = (rest[0], usize::from(rest[1]) * 4);
        rest = &rest[2..];
        match kind % 4 {
            0 => {
                let n = len.min(rest.len());
                let (iu, r) = rest.split_at(n);
                rest = r;
                t.on_message(chan, iu, &mut io);
            }
            1 => {
                for _ in 0..=len {
                    let Some((wr, ok, d)) = io.done.pop_front() else {
                        break;
                    };
                    io.in_flight = io.in_flight.saturating_sub(1);
                    t.on_completion(chan, wr, ok && len % 8 != 3, d.as_deref(), &mut io);
                }
            }
            2 => {
                io.room_limit = if len == 0 { None } else { Some(len / 4) };
                t.flush(chan, &mut io);
            }
            _ => {
                if let LoginOutcome::Accepted {
                    chan: c,
                    terminated,
                    ..
                } = t.login("fuzz", &login_req(who, GUID), LoginLayout::RdmaCm)
                {
                    assert_eq!(terminated, vec![chan]);
                    chan = c;
                    io = SimIo {
                        regions: io.regions,
                        ..SimIo::default()
                    };
                }
            }
        }
        // Responses never exceed what the initiator could have asked for.
        let credits = t.credits(chan).unwrap_or(0);
        assert!(
            credits <= 1 + u32::from(opts & 0x0F),
            "credits grew past the grant: {credits}"
        );
        io.sent.clear();
    }
    while let Some((wr, ok, d)) = io.done.pop_front() {
        t.on_completion(chan, wr, ok, d.as_deref(), &mut io);
    }
    assert_eq!(
        &std::fs::read(path).unwrap(),
        bytes,
        "read-only image changed"
    );
});
