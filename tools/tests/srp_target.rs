//! srp-target core, in process: SCSI semantics, copy-on-write overlays,
//! durability, login rules, credits, task management and hostile IUs,
//! through the simulated initiator (`tools::srptarget::sim`).

use std::path::{Path, PathBuf};

use fabric::wire::scsi::{Cdb, Lun as ScsiLun, Sense, SenseKey};
use fabric::wire::srp::{
    CmdPacket, DirectDesc, LoginRejReason, LoginReqRdmaPacket, PortId, Tag, TaskMgmtFunction,
    TskMgmtPacket, TskMgmtRepr,
};
use tools::srptarget::sim::{login_req, Data, Sim};
use tools::srptarget::{LoginLayout, LoginOutcome, Lun, LunConfig, Target, TargetConfig};

const GUID: u64 = 0x5054_00ff_fe77_0001;
const CHECK: u8 = 0x02;
const GOOD: u8 = 0x00;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("srpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A deterministic image: every 16 bytes of block n read `LBA%08x SRP\n`-like.
fn image(dir: &Path, name: &str, bytes: usize) -> PathBuf {
    let mut v = vec![0u8; bytes];
    for (i, c) in v.chunks_mut(16).enumerate() {
        let s = format!("B{:08x}-{:05x}\n", i / 32, i % 32);
        let n = c.len();
        c.copy_from_slice(&s.as_bytes()[..n]);
    }
    let p = dir.join(name);
    std::fs::write(&p, &v).unwrap();
    p
}

fn lun(path: &Path, index: usize, bs: u32, ro: bool, cow: Option<&Path>) -> Lun {
    Lun::open(
        LunConfig {
            path: path.into(),
            read_only: ro,
            block_size: bs,
            cow_dir: cow.map(Into::into),
        },
        index,
    )
    .unwrap()
}

fn quiet(mut t: Target) -> Target {
    t.set_log(Box::new(|_| {}));
    t
}

fn initiator(n: u8) -> PortId {
    PortId::new(0, 0x5054_00ff_fe77_0000 | u64::from(n))
}

fn sim_with(luns: Vec<Lun>, cfg: TargetConfig, who: PortId) -> Sim {
    Sim::login(quiet(Target::new(cfg, luns)), who)
        .map_err(|b| b.1)
        .expect("login accepted")
}

fn sim1(path: &Path) -> Sim {
    sim_with(
        vec![lun(path, 0, 512, false, None)],
        TargetConfig::new(GUID),
        initiator(2),
    )
}

fn sense(r: &tools::srptarget::sim::Response) -> (u8, u8, u8) {
    r.sense.expect("sense data")
}

fn key(s: Sense) -> (u8, u8, u8) {
    (u8::from(s.key), s.asc, s.ascq)
}

#[test]
fn inquiry_standard_and_vpd() {
    let d = tmpdir("inq");
    let p = image(&d, "a.img", 64 * 1024);
    let mut s = sim1(&p);
    let (r, data) = s.cdb(Cdb::inquiry(36), Data::In(36));
    assert_eq!(r.status, GOOD);
    assert_eq!(&data[8..16], b"SRPBOOT ");
    assert_eq!(data[0], 0, "direct-access disk, connected");
    // Linux asks for 96: the 36 bytes come back with a residual.
    let (r, data) = s.cdb(Cdb::inquiry(96), Data::In(96));
    assert_eq!(r.data_in_residual, 60);
    assert_eq!(data[4], 31);
    let (r, data) = s.cdb(Cdb::inquiry_vpd(0, 255), Data::In(255));
    assert_eq!(r.status, GOOD);
    assert_eq!(&data[..7], &[0, 0, 0, 3, 0x00, 0x80, 0x83]);
    let (_, data) = s.cdb(Cdb::inquiry_vpd(0x80, 255), Data::In(255));
    let serial = String::from_utf8(data[4..4 + usize::from(data[3])].to_vec()).unwrap();
    assert_eq!(serial.len(), 16);
    let (_, data) = s.cdb(Cdb::inquiry_vpd(0x83, 255), Data::In(255));
    let page = fabric::wire::scsi::VpdPage::parse(&data).unwrap();
    let ds: Vec<_> = page.designators().collect();
    assert_eq!(ds.len(), 3);
    assert_eq!(ds[0].designator_type, 3);
    assert_eq!(ds[0].data[0] >> 4, 6, "NAA 6");
    assert_eq!(ds[2].designator_type, 4);
    let naa = ds[0].data.to_vec();
    // Header-only request, as Linux does first.
    let (r, data) = s.cdb(Cdb::inquiry_vpd(0x83, 4), Data::In(4));
    assert_eq!(r.status, GOOD);
    assert_eq!(
        u16::from_be_bytes([data[2], data[3]]) as usize,
        page.page_len as usize
    );
    // Unsupported page.
    let (r, _) = s.cdb(Cdb::inquiry_vpd(0xB7, 255), Data::In(255));
    assert_eq!(r.status, CHECK);
    assert_eq!(sense(&r), key(Sense::INVALID_FIELD_IN_CDB));
    // The identifiers are stable across a restart.
    let mut s2 = sim1(&p);
    let (_, data) = s2.cdb(Cdb::inquiry_vpd(0x80, 255), Data::In(255));
    assert_eq!(String::from_utf8(data[4..20].to_vec()).unwrap(), serial);
    let (_, data) = s2.cdb(Cdb::inquiry_vpd(0x83, 255), Data::In(255));
    assert_eq!(
        fabric::wire::scsi::VpdPage::parse(&data)
            .unwrap()
            .designators()
            .next()
            .unwrap()
            .data,
        &naa[..]
    );
}

#[test]
fn capacity_report_luns_and_block_sizes() {
    let d = tmpdir("cap");
    let a = image(&d, "a.img", 1 << 20);
    let b = image(&d, "b.img", (1 << 20) + 100);
    let mut s = sim_with(
        vec![lun(&a, 0, 512, false, None), lun(&b, 1, 4096, false, None)],
        TargetConfig::new(GUID),
        initiator(2),
    );
    let (r, data) = s.cdb(Cdb::ReadCapacity10, Data::In(8));
    assert_eq!(r.status, GOOD);
    assert_eq!(data, [0, 0, 0x07, 0xFF, 0, 0, 2, 0]);
    let l1 = ScsiLun::from_index(1).unwrap();
    let (r, data) = s.command(
        l1,
        &Cdb::ReadCapacity16 { alloc_len: 32 }.to_padded(),
        Data::In(32),
    );
    assert_eq!(r.status, GOOD);
    assert_eq!(u64::from_be_bytes(data[..8].try_into().unwrap()), 255);
    assert_eq!(u32::from_be_bytes(data[8..12].try_into().unwrap()), 4096);
    let (r, data) = s.cdb(
        Cdb::ReportLuns {
            select_report: 0,
            alloc_len: 4096,
        },
        Data::In(4096),
    );
    assert_eq!(r.status, GOOD);
    assert_eq!(&data[..4], &[0, 0, 0, 16]);
    assert_eq!(
        &data[8..24],
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(r.data_in_residual, 4096 - 24);
    // 4 KiB LUN: read block 1.
    let (r, data) = s.command(l1, &Cdb::read(1, 1).to_padded(), Data::In(4096));
    assert_eq!(r.status, GOOD);
    assert_eq!(data, std::fs::read(&b).unwrap()[4096..8192]);
    // Out of range on the 4 KiB LUN.
    let (r, _) = s.command(l1, &Cdb::read(256, 1).to_padded(), Data::In(4096));
    assert_eq!(sense(&r), key(Sense::LBA_OUT_OF_RANGE));
    // A LUN that does not exist.
    let l5 = ScsiLun::from_index(5).unwrap();
    let (r, _) = s.command(l5, &Cdb::read(0, 1).to_padded(), Data::In(512));
    assert_eq!(sense(&r), key(Sense::LUN_NOT_SUPPORTED));
    let (r, data) = s.command(l5, &Cdb::inquiry(36).to_padded(), Data::In(36));
    assert_eq!(r.status, GOOD);
    assert_eq!(data[0], 0x7F, "qualifier 3, no device");
    let (r, _) = s.command(l5, &Cdb::TestUnitReady.to_padded(), Data::None);
    assert_eq!(sense(&r), key(Sense::LUN_NOT_SUPPORTED));
}

#[test]
fn read_write_roundtrip_rdma_and_immediate() {
    let d = tmpdir("rw");
    let p = image(&d, "a.img", 1 << 20);
    let orig = std::fs::read(&p).unwrap();
    let mut s = sim1(&p);
    // Whole LUN read in 64 KiB pieces.
    let mut all = Vec::new();
    for lba in (0..2048).step_by(128) {
        let (r, data) = s.cdb(Cdb::read(lba, 128), Data::In(65536));
        assert_eq!(r.status, GOOD);
        assert_eq!(r.data_in_residual, 0);
        all.extend(data);
    }
    assert_eq!(all, orig);
    // Write by RDMA READ (48 KiB), and by immediate data (4 KiB).
    let pat: Vec<u8> = (0..49152u32).map(|i| (i * 7 + 3) as u8).collect();
    let (r, _) = s.cdb(Cdb::write(100, 96), Data::Out(&pat));
    assert_eq!(r.status, GOOD);
    assert_eq!(r.data_out_residual, 0);
    assert!(s.io.reads >= 1);
    let small = vec![0xA5u8; 4096];
    let (r, _) = s.cdb(Cdb::write(8, 8), Data::Immediate(&small));
    assert_eq!(r.status, GOOD);
    let (_, back) = s.cdb(Cdb::read(100, 96), Data::In(49152));
    assert_eq!(back, pat);
    let (_, back) = s.cdb(Cdb::read(8, 8), Data::In(4096));
    assert_eq!(back, small);
    // READ(16)/WRITE(16) and FUA.
    let w16 = Cdb::Write16 {
        lba: 2047,
        blocks: 1,
        fua: true,
    };
    let (r, _) = s.cdb(w16, Data::Out(&[0x5Au8; 512]));
    assert_eq!(r.status, GOOD);
    let (_, back) = s.cdb(
        Cdb::Read16 {
            lba: 2047,
            blocks: 1,
            fua: false,
        },
        Data::In(512),
    );
    assert_eq!(back, vec![0x5A; 512]);
    let file = std::fs::read(&p).unwrap();
    assert_eq!(&file[100 * 512..196 * 512], &pat[..]);
    assert_eq!(&file[2047 * 512..], &[0x5A; 512][..]);
    let c = s.target.counters();
    assert_eq!(c.writes, 3);
    assert_eq!(c.bytes_out, 49152 + 4096 + 512);
}

#[test]
fn residuals_and_short_buffers() {
    let d = tmpdir("resid");
    let p = image(&d, "a.img", 1 << 20);
    let orig = std::fs::read(&p).unwrap();
    let mut s = sim1(&p);
    // Buffer smaller than the transfer: what fits, overflow reported.
    let (r, data) = s.cdb(Cdb::read(0, 2), Data::In(600));
    assert_eq!(r.status, GOOD);
    assert_eq!(r.data_in_residual, -(1024 - 600));
    assert_eq!(&data[..], &orig[..600]);
    // Buffer larger: underflow.
    let (r, data) = s.cdb(Cdb::read(1, 1), Data::In(1000));
    assert_eq!(r.data_in_residual, 1000 - 512);
    assert_eq!(&data[..512], &orig[512..1024]);
    // Zero blocks: nothing, GOOD.
    let (r, _) = s.cdb(Cdb::read(5, 0), Data::None);
    assert_eq!(r.status, GOOD);
    // A write whose data-out does not match the CDB is refused (as LIO).
    let (r, _) = s.cdb(Cdb::write(0, 2), Data::Out(&[1u8; 512]));
    assert_eq!(r.status, CHECK);
    assert_eq!(sense(&r), (5, 0x0E, 0x03));
    assert_eq!(r.data_out_residual, 512);
    assert_eq!(
        std::fs::read(&p).unwrap(),
        orig,
        "refused write left the image alone"
    );
}

#[test]
fn out_of_range_and_unknown_opcodes() {
    let d = tmpdir("oor");
    let p = image(&d, "a.img", 1 << 20);
    let orig = std::fs::read(&p).unwrap();
    let mut s = sim1(&p);
    for (lba, n) in [
        (2048u64, 1u32),
        (2047, 2),
        (u64::from(u32::MAX), 1),
        (u64::MAX, 1),
        (2049, 0),
    ] {
        let (r, _) = s.cdb(Cdb::read(lba, n), Data::In(1024));
        assert_eq!(sense(&r), key(Sense::LBA_OUT_OF_RANGE), "read {lba}+{n}");
        let (r, _) = s.cdb(Cdb::write(lba, n), Data::Out(&vec![9u8; n as usize * 512]));
        assert_eq!(sense(&r), key(Sense::LBA_OUT_OF_RANGE), "write {lba}+{n}");
    }
    let (r, _) = s.cdb(
        Cdb::SynchronizeCache10 {
            lba: 5000,
            blocks: 1,
            immed: false,
        },
        Data::None,
    );
    assert_eq!(sense(&r), key(Sense::LBA_OUT_OF_RANGE));
    // Unknown opcodes, REPORT SUPPORTED OPCODES, a bad field.
    for op in [0x04u8, 0xA3, 0xFF, 0x41, 0x93, 0xC0] {
        let mut cdb = [0u8; 16];
        cdb[0] = op;
        let (r, _) = s.command(ScsiLun::ZERO, &cdb, Data::In(512));
        assert_eq!(r.status, CHECK, "opcode {op:#x}");
        assert_eq!(sense(&r), key(Sense::INVALID_OPCODE), "opcode {op:#x}");
    }
    let mut bad = Cdb::read(0, 1).to_padded();
    bad[1] = 0xE0; // RDPROTECT
    let (r, _) = s.command(ScsiLun::ZERO, &bad, Data::In(512));
    assert_eq!(sense(&r), key(Sense::INVALID_FIELD_IN_CDB));
    let (r, _) = s.cdb(Cdb::TestUnitReady, Data::None);
    assert_eq!(r.status, GOOD);
    let (r, data) = s.cdb(
        Cdb::RequestSense {
            desc: false,
            alloc_len: 18,
        },
        Data::In(18),
    );
    assert_eq!(r.status, GOOD);
    assert_eq!(data[0], 0x70);
    assert_eq!(std::fs::read(&p).unwrap(), orig);
    // Every answer returned exactly one credit.
    assert_eq!(s.credits, 62);
}

#[test]
fn mode_sense_and_read_only() {
    let d = tmpdir("mode");
    let p = image(&d, "a.img", 1 << 20);
    let orig = std::fs::read(&p).unwrap();
    let mut s = sim_with(
        vec![lun(&p, 0, 512, true, None)],
        TargetConfig::new(GUID),
        initiator(2),
    );
    let ms6 = |page: u8, dbd: bool| Cdb::ModeSense6 {
        dbd,
        page_control: 0,
        page_code: page,
        subpage: 0,
        alloc_len: 255,
    };
    let (r, data) = s.cdb(ms6(0x3F, false), Data::In(255));
    assert_eq!(r.status, GOOD);
    assert_eq!(data[2] & 0x80, 0x80, "write protected");
    assert_eq!(data[3], 8, "one block descriptor");
    assert_eq!(usize::from(data[0]) + 1, data.len());
    assert_eq!(&data[4..8], &[0, 0, 0x08, 0]);
    assert_eq!(data[12], 0x08, "caching page first");
    let (_, data) = s.cdb(ms6(0x08, true), Data::In(255));
    assert_eq!(data[3], 0);
    assert_eq!(data[4], 0x08);
    assert_eq!(data[6] & 0x04, 0x04, "WCE");
    let (r, _) = s.cdb(ms6(0x19, true), Data::In(255));
    assert_eq!(sense(&r), key(Sense::INVALID_FIELD_IN_CDB));
    let ms10 = Cdb::ModeSense10 {
        llbaa: true,
        dbd: false,
        page_control: 0,
        page_code: 0x0A,
        subpage: 0,
        alloc_len: 512,
    };
    let (r, data) = s.cdb(ms10, Data::In(512));
    assert_eq!(r.status, GOOD);
    assert_eq!(
        u16::from_be_bytes([data[0], data[1]]) as usize + 2,
        data.len()
    );
    assert_eq!(data[4] & 1, 1, "LONGLBA");
    assert_eq!(u16::from_be_bytes([data[6], data[7]]), 16);
    // Writes are refused on a read-only LUN.
    let (r, _) = s.cdb(Cdb::write(0, 1), Data::Out(&[0u8; 512]));
    assert_eq!(sense(&r), key(Sense::WRITE_PROTECTED));
    let (r, _) = s.cdb(Cdb::write(0, 8), Data::Immediate(&[0u8; 4096]));
    assert_eq!(sense(&r).0, u8::from(SenseKey::DataProtect));
    assert_eq!(std::fs::read(&p).unwrap(), orig);
}

#[test]
fn copy_on_write_per_initiator() {
    let d = tmpdir("cow");
    let p = image(&d, "base.img", 1 << 20);
    let orig = std::fs::read(&p).unwrap();
    let cow = d.join("overlays");
    let mk = || {
        quiet(Target::new(
            TargetConfig::new(GUID),
            vec![lun(&p, 0, 512, false, Some(&cow))],
        ))
    };
    let mut a = Sim::login(mk(), initiator(2)).map_err(|_| ()).unwrap();
    // Unaligned partial-chunk writes: blocks 3..5 and 4095 of chunk 0 edges.
    let (r, _) = a.cdb(Cdb::write(3, 2), Data::Out(&[0x11; 1024]));
    assert_eq!(r.status, GOOD);
    let (r, _) = a.cdb(Cdb::write(7, 10), Data::Out(&[0x22; 5120]));
    assert_eq!(r.status, GOOD);
    let (r, _) = a.cdb(
        Cdb::SynchronizeCache10 {
            lba: 0,
            blocks: 0,
            immed: false,
        },
        Data::None,
    );
    assert_eq!(r.status, GOOD);
    let mut want = orig.clone();
    want[3 * 512..5 * 512].fill(0x11);
    want[7 * 512..17 * 512].fill(0x22);
    let (_, back) = a.cdb(Cdb::read(0, 64), Data::In(32768));
    assert_eq!(back, want[..32768]);
    assert_eq!(std::fs::read(&p).unwrap(), orig, "base untouched");
    // Another initiator sees the base.
    let mut t = a.target;
    let out = t.login("b", &login_req(initiator(3), GUID), LoginLayout::RdmaCm);
    let LoginOutcome::Accepted { chan, .. } = out else {
        panic!("{out:?}")
    };
    let mut b = Sim::login(mk(), initiator(3)).map_err(|_| ()).unwrap();
    let _ = chan;
    let (_, back) = b.cdb(Cdb::read(0, 64), Data::In(32768));
    assert_eq!(back, orig[..32768]);
    drop(t);
    // A restart keeps A's synced overlay.
    let mut a2 = Sim::login(mk(), initiator(2)).map_err(|_| ()).unwrap();
    let (_, back) = a2.cdb(Cdb::read(0, 2048), Data::In(1 << 20));
    assert_eq!(back, want);
    assert_eq!(std::fs::read(&p).unwrap(), orig);
    let files: Vec<String> = std::fs::read_dir(&cow)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with(".lun0.cow") && f.starts_with("0000000000000000505400fffe770002")),
        "{files:?}"
    );
}

#[test]
fn durable_after_synchronize_cache() {
    let d = tmpdir("dur");
    let p = image(&d, "a.img", 1 << 20);
    let mut s = sim1(&p);
    let (r, _) = s.cdb(Cdb::write(10, 1), Data::Out(&[0x77; 512]));
    assert_eq!(r.status, GOOD);
    let (r, _) = s.cdb(
        Cdb::SynchronizeCache16 {
            lba: 0,
            blocks: 0,
            immed: false,
        },
        Data::None,
    );
    assert_eq!(r.status, GOOD);
    assert_eq!(s.target.counters().syncs, 1);
    // Another handle on the file sees it (the real kill -9 test is in
    // srp_target_durability.rs).
    assert_eq!(
        &std::fs::read(&p).unwrap()[10 * 512..11 * 512],
        &[0x77; 512][..]
    );
}

#[test]
fn login_rules() {
    let d = tmpdir("login");
    let p = image(&d, "a.img", 1 << 20);
    let mk = |acl: Option<Vec<PortId>>| {
        let mut c = TargetConfig::new(GUID);
        c.acl = acl;
        quiet(Target::new(c, vec![lun(&p, 0, 512, false, None)]))
    };
    let reason = |o: LoginOutcome| match o {
        LoginOutcome::Rejected { reason, rej } => {
            assert_eq!(rej[0], 0xC2);
            assert_eq!(
                u32::from_be_bytes(rej[4..8].try_into().unwrap()),
                u32::from(reason)
            );
            reason
        }
        o => panic!("accepted: {o:?}"),
    };
    let mut t = mk(None);
    // Wrong target port ID (one half, then the other).
    let mut req = login_req(initiator(2), GUID);
    req[32 + 15] ^= 1;
    assert_eq!(
        reason(t.login("x", &req, LoginLayout::RdmaCm)),
        LoginRejReason::UnableToAssociate
    );
    let mut req = login_req(initiator(2), GUID);
    req[32] ^= 1;
    assert_eq!(
        reason(t.login("x", &req, LoginLayout::RdmaCm)),
        LoginRejReason::UnableToAssociate
    );
    // IU lengths.
    for len in [63u32, 9000, u32::MAX] {
        let mut req = login_req(initiator(2), GUID);
        LoginReqRdmaPacket::new_unchecked(&mut req[..]).set_req_it_iu_len(len);
        assert_eq!(
            reason(t.login("x", &req, LoginLayout::RdmaCm)),
            LoginRejReason::ItIuLenTooLarge
        );
    }
    // Garbage and short private data.
    assert_eq!(
        reason(t.login("x", &[1, 2, 3], LoginLayout::RdmaCm)),
        LoginRejReason::NoReason
    );
    assert_eq!(
        reason(t.login("x", &[0xFF; 64], LoginLayout::Classic)),
        LoginRejReason::NoReason
    );
    // ACL.
    let mut t = mk(Some(vec![initiator(3)]));
    assert_eq!(
        reason(t.login("x", &login_req(initiator(2), GUID), LoginLayout::RdmaCm)),
        LoginRejReason::ChannelLimitReached
    );
    assert!(matches!(
        t.login("x", &login_req(initiator(3), GUID), LoginLayout::RdmaCm),
        LoginOutcome::Accepted { .. }
    ));
    assert_eq!(t.counters().rejected, 1);
    // Login response fields (what Linux reads).
    let mut t = mk(None);
    let LoginOutcome::Accepted {
        chan: c1,
        rsp,
        terminated,
    } = t.login("x", &login_req(initiator(2), GUID), LoginLayout::RdmaCm)
    else {
        panic!()
    };
    assert!(terminated.is_empty());
    assert_eq!(rsp[0], 0xC0);
    assert_eq!(u32::from_be_bytes(rsp[4..8].try_into().unwrap()), 62);
    assert_eq!(u32::from_be_bytes(rsp[16..20].try_into().unwrap()), 8276);
    assert_eq!(u32::from_be_bytes(rsp[20..24].try_into().unwrap()), 8260);
    assert_eq!(&rsp[24..27], &[0, 6, 0x80]);
    // The same initiator port logs in again: the old channel goes.
    let LoginOutcome::Accepted {
        chan: c2,
        rsp,
        terminated,
    } = t.login("x", &login_req(initiator(2), GUID), LoginLayout::RdmaCm)
    else {
        panic!()
    };
    assert_eq!(terminated, vec![c1]);
    assert_eq!(rsp[26] & 3, 1, "TERMINATED");
    assert_eq!(t.channels(), vec![c2]);
    // The classic 64-byte layout (IB CM service ID form) works too.
    let mut classic = [0u8; 64];
    let r = fabric::wire::srp::LoginReqRepr::parse_rdma(
        &LoginReqRdmaPacket::new_checked(&login_req(initiator(4), GUID)[..]).unwrap(),
    )
    .unwrap();
    r.emit(&mut fabric::wire::srp::LoginReqPacket::new_unchecked(
        &mut classic[..],
    ));
    assert!(matches!(
        t.login("x", &classic, LoginLayout::Classic),
        LoginOutcome::Accepted { .. }
    ));
    // No immediate data when the offset is inside the header.
    let mut req = login_req(initiator(5), GUID);
    LoginReqRdmaPacket::new_unchecked(&mut req[..]).set_imm_data_offset(20);
    let LoginOutcome::Accepted { rsp, .. } = t.login("x", &req, LoginLayout::RdmaCm) else {
        panic!()
    };
    assert_eq!(rsp[26] & 0x80, 0);
}

#[test]
fn credits_exhausted_and_restored() {
    let d = tmpdir("credits");
    let p = image(&d, "a.img", 1 << 20);
    let orig = std::fs::read(&p).unwrap();
    let mut s = sim1(&p);
    s.auto_complete = false;
    // 62 writes waiting for their RDMA READ data hold every credit.
    let data = vec![0x3C; 512];
    for i in 0..62u32 {
        let (iu, _, _) = s.build(
            ScsiLun::ZERO,
            &Cdb::write(u64::from(i), 1).to_padded(),
            &Data::Out(&data),
        );
        s.send_raw(&iu);
    }
    assert!(s.io.sent.is_empty());
    assert_eq!(s.target.credits(s.chan), Some(0));
    // One more: TASK SET FULL, no credit back, nothing written.
    let (iu, tag, _) = s.build(
        ScsiLun::ZERO,
        &Cdb::write(100, 1).to_padded(),
        &Data::Out(&data),
    );
    s.send_raw(&iu);
    let r = s.take_response().unwrap();
    assert_eq!((r.tag, r.status, r.req_lim_delta), (tag, 0x28, 0));
    assert_eq!(s.target.counters().overruns, 1);
    // The data arrives: 62 GOOD responses, one credit each.
    while s.complete_one() {}
    let mut n = 0;
    while let Some(r) = s.take_response() {
        assert_eq!((r.status, r.req_lim_delta), (GOOD, 1));
        n += 1;
    }
    assert_eq!(n, 62);
    assert_eq!(s.target.credits(s.chan), Some(62));
    let f = std::fs::read(&p).unwrap();
    assert_eq!(&f[..62 * 512], &vec![0x3C; 62 * 512][..]);
    assert_eq!(&f[62 * 512..], &orig[62 * 512..]);
}

#[test]
fn fabric_backpressure_keeps_order() {
    let d = tmpdir("busy");
    let p = image(&d, "a.img", 1 << 20);
    let orig = std::fs::read(&p).unwrap();
    let mut s = sim1(&p);
    s.auto_complete = false;
    s.io.room_limit = Some(3);
    let mut keys = Vec::new();
    for lba in 0..10u64 {
        let (iu, _, k) = s.build(
            ScsiLun::ZERO,
            &Cdb::read(lba * 4, 4).to_padded(),
            &Data::In(2048),
        );
        s.send_raw(&iu);
        keys.push((lba, k.unwrap()));
    }
    assert!(s.target.queued(s.chan) > 0, "work waits for room");
    loop {
        let progressed = s.complete_one();
        s.target.flush(s.chan, &mut s.io);
        if !progressed && s.io.done.is_empty() {
            break;
        }
    }
    assert_eq!(s.target.queued(s.chan), 0);
    let mut n = 0;
    while let Some(r) = s.take_response() {
        assert_eq!(r.status, GOOD);
        n += 1;
    }
    assert_eq!(n, 10);
    for (lba, k) in keys {
        let off = lba as usize * 2048;
        assert_eq!(s.region_bytes(k), &orig[off..off + 2048]);
    }
}

#[test]
fn bad_descriptors() {
    let d = tmpdir("desc");
    let p = image(&d, "a.img", 1 << 20);
    let orig = std::fs::read(&p).unwrap();
    let mut s = sim1(&p);
    // Indirect table that is not all inline: refused.
    let (va, rkey) = s.region(vec![0; 4096]);
    let descs = [DirectDesc {
        va,
        rkey,
        len: 4096,
    }];
    let cmd = fabric::wire::srp::CmdRepr {
        sol_not: fabric::wire::srp::CmdSolNot::empty(),
        tag: Tag::from_u64(77),
        lun: ScsiLun::ZERO,
        task_attr: fabric::wire::srp::TaskAttr::Simple,
        cdb: &Cdb::read(0, 8).to_padded(),
        data_out: fabric::wire::srp::DataBuffer::None,
        data_in: fabric::wire::srp::DataBuffer::Indirect {
            table: DirectDesc {
                va: 0x999,
                rkey: 1,
                len: 32,
            },
            total_len: 4096,
            descs: fabric::wire::srp::DescList::Slice(&descs),
        },
    };
    let mut iu = vec![0u8; cmd.buffer_len()];
    cmd.emit(&mut CmdPacket::new_unchecked(&mut iu[..]));
    s.send_raw(&iu);
    let r = s.take_response().unwrap();
    assert_eq!((r.tag, r.status), (Tag::from_u64(77), CHECK));
    assert_eq!(sense(&r), (5, 0x0E, 0x03));
    // The same with a consistent table: two inline descriptors get the data.
    let (va2, rkey2) = s.region(vec![0; 1024]);
    let two = [
        DirectDesc {
            va,
            rkey,
            len: 3072,
        },
        DirectDesc {
            va: va2,
            rkey: rkey2,
            len: 1024,
        },
    ];
    let mut c2 = cmd;
    c2.tag = Tag::from_u64(78);
    c2.data_in = fabric::wire::srp::DataBuffer::Indirect {
        table: DirectDesc {
            va: 0x999,
            rkey: 1,
            len: 32,
        },
        total_len: 4096,
        descs: fabric::wire::srp::DescList::Slice(&two),
    };
    let mut iu = vec![0u8; c2.buffer_len()];
    c2.emit(&mut CmdPacket::new_unchecked(&mut iu[..]));
    s.send_raw(&iu);
    let r = s.take_response().unwrap();
    assert_eq!(r.status, GOOD);
    assert_eq!(&s.region_bytes(rkey)[..3072], &orig[..3072]);
    assert_eq!(s.region_bytes(rkey2), &orig[3072..4096]);
    // Immediate data without having negotiated it is a bad IU... (it was
    // negotiated here, so use a too-long immediate length instead).
    let (mut iu, tag, _) = s.build(
        ScsiLun::ZERO,
        &Cdb::write(0, 1).to_padded(),
        &Data::Immediate(&[1u8; 512]),
    );
    iu[48..52].copy_from_slice(&100_000u32.to_be_bytes());
    s.send_raw(&iu);
    let r = s.take_response().unwrap();
    assert_eq!((r.tag, r.status), (tag, CHECK));
    // An rkey the initiator never registered: the RDMA fails (a real QP
    // would go to error), nothing is written.
    let (mut iu, _, _) = s.build(
        ScsiLun::ZERO,
        &Cdb::write(0, 1).to_padded(),
        &Data::Out(&[2u8; 512]),
    );
    iu[56..60].copy_from_slice(&0xDEADu32.to_be_bytes());
    s.send_raw(&iu);
    assert!(s.io.failed);
    assert_eq!(std::fs::read(&p).unwrap(), orig);
}

#[test]
fn task_management_abort() {
    let d = tmpdir("tmf");
    let p = image(&d, "a.img", 1 << 20);
    let orig = std::fs::read(&p).unwrap();
    let mut s = sim1(&p);
    s.auto_complete = false;
    let (iu, tag, _) = s.build(
        ScsiLun::ZERO,
        &Cdb::write(0, 1).to_padded(),
        &Data::Out(&[9u8; 512]),
    );
    s.send_raw(&iu);
    let tm = TskMgmtRepr {
        sol_not: fabric::wire::srp::CmdSolNot::empty(),
        tag: Tag::from_u64(500),
        lun: ScsiLun::ZERO,
        function: TaskMgmtFunction::AbortTask,
        task_tag: tag,
    };
    let mut b = [0u8; 48];
    tm.emit(&mut TskMgmtPacket::new_unchecked(&mut b[..]));
    s.send_raw(&b);
    let r = s.take_response().unwrap();
    assert_eq!(r.tag, Tag::from_u64(500));
    assert_eq!(r.response_data.as_deref(), Some(&[0u8, 0, 0, 0][..]));
    assert_eq!(
        r.req_lim_delta, 2,
        "the aborted command's credit rides along"
    );
    while s.complete_one() {}
    assert!(
        s.take_response().is_none(),
        "no response for the aborted task"
    );
    assert_eq!(std::fs::read(&p).unwrap(), orig);
    // Unsupported function.
    let mut tm2 = tm;
    tm2.function = TaskMgmtFunction::ClearAca;
    tm2.tag = Tag::from_u64(501);
    tm2.emit(&mut TskMgmtPacket::new_unchecked(&mut b[..]));
    s.send_raw(&b);
    let r = s.take_response().unwrap();
    assert_eq!(r.response_data.as_deref(), Some(&[0u8, 0, 0, 4][..]));
    assert_eq!(s.target.credits(s.chan), Some(62));
}

#[test]
fn logout_iu_disconnects() {
    let d = tmpdir("logout");
    let p = image(&d, "a.img", 64 * 1024);
    let mut s = sim1(&p);
    let mut iu = [0u8; 16];
    iu[0] = 0x03;
    s.send_raw(&iu);
    assert!(s.io.disconnected);
    s.target.close(s.chan, "test");
    assert!(s.target.channels().is_empty());
}

/// Deterministic pseudo-random bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn hostile_ius_never_crash_or_corrupt() {
    let d = tmpdir("hostile");
    let p = image(&d, "a.img", 256 * 1024);
    let orig = std::fs::read(&p).unwrap();
    let mut s = sim_with(
        vec![lun(&p, 0, 512, true, None), lun(&p, 1, 4096, true, None)],
        TargetConfig::new(GUID),
        initiator(2),
    );
    // A valid region the hostile descriptors may or may not hit.
    let (va, rkey) = s.region(vec![0u8; 65536]);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let seeds: Vec<Vec<u8>> = vec![
        s.build(ScsiLun::ZERO, &Cdb::read(0, 8).to_padded(), &Data::In(4096))
            .0,
        s.build(
            ScsiLun::ZERO,
            &Cdb::write(0, 8).to_padded(),
            &Data::Immediate(&[1u8; 4096]),
        )
        .0,
        s.build(
            ScsiLun::ZERO,
            &Cdb::write(0, 8).to_padded(),
            &Data::Out(&[1u8; 4096]),
        )
        .0,
        s.build(ScsiLun::ZERO, &Cdb::inquiry(96).to_padded(), &Data::In(96))
            .0,
        vec![0x01; 48],
        vec![0x03; 16],
    ];
    for i in 0..20_000 {
        let mut iu = seeds[i % seeds.len()].clone();
        let n = 1 + rng.next() % 6;
        for _ in 0..n {
            let at = (rng.next() as usize) % iu.len().max(1);
            match rng.next() % 5 {
                0 if !iu.is_empty() => iu[at] = rng.next() as u8,
                1 => iu.truncate(at),
                2 => iu.extend((0..rng.next() % 64).map(|_| rng.next() as u8)),
                3 if iu.len() >= 64 => {
                    iu[48..56].copy_from_slice(&(va + rng.next() % 70000).to_be_bytes());
                    iu[56..60].copy_from_slice(&rkey.to_be_bytes());
                }
                _ => {
                    if !iu.is_empty() {
                        iu[0] = [0x02, 0x01, 0x03, 0x41, 0x42, 0x00, 0xC1, 0x80]
                            [(rng.next() % 8) as usize];
                    }
                }
            }
        }
        s.send_raw(&iu);
        while s.io.sent.pop_front().is_some() {}
        s.io.failed = false;
        if s.io.disconnected {
            s.io.disconnected = false;
        }
    }
    assert_eq!(std::fs::read(&p).unwrap(), orig);
    assert!(s.target.counters().bad_ius > 0);
}

#[test]
fn bad_images_give_clear_errors() {
    let d = tmpdir("badimg");
    let e = Lun::open(
        LunConfig {
            path: d.join("missing.img"),
            read_only: false,
            block_size: 512,
            cow_dir: None,
        },
        0,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("missing.img"), "{e}");
    std::fs::write(d.join("tiny.img"), [0u8; 100]).unwrap();
    let e = Lun::open(
        LunConfig {
            path: d.join("tiny.img"),
            read_only: false,
            block_size: 512,
            cow_dir: None,
        },
        0,
    )
    .err()
    .unwrap();
    assert!(
        e.to_string().contains("smaller than one 512-byte block"),
        "{e}"
    );
    let e = Lun::open(
        LunConfig {
            path: d.join("tiny.img"),
            read_only: false,
            block_size: 1024,
            cow_dir: None,
        },
        0,
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("block size"), "{e}");
    let e = Lun::open(
        LunConfig {
            path: d.clone(),
            read_only: true,
            block_size: 512,
            cow_dir: None,
        },
        0,
    )
    .err()
    .unwrap();
    assert!(
        e.to_string().contains("directory") || e.to_string().contains("cannot"),
        "{e}"
    );
}
