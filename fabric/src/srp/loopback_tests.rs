//! The SRP initiator over the real stack: [`BlockDevice`] on
//! `cm::Initiator` (soft HCA + IB CM) against a minimal SRP target on the
//! passive CM, both in this process on the seeded lossy loopback segment.
//! The target moves data with real RDMA WRITEs and READs into and out of
//! the regions the session registered. With loss, duplication and
//! reordering on the wire, the disk must still read back byte for byte.

extern crate std;

use std::boxed::Box;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

use super::scsi::{BlockConfig, BlockDevice, BlockError, DeviceState, Transfer};
use super::session::Session;
use super::tests::{golden_config, Mem, MEM_BASE};
use crate::cm::{CmConfig, CmEvent, ConnId, Initiator, Passive};
use crate::memory::Memory;
use crate::nic::loopback::{Faults, Segment};
use crate::time::Instant;
use crate::transport::tests::{SharedPort, VecMem, IP_A, IP_B, MAC_A, MAC_B};
use crate::transport::{HcaConfig, WcStatus};
use crate::wire::scsi::{Cdb, InquiryData, Lun, ReadCapacity10, Sense, Status};
use crate::wire::srp::{
    BufferFormats, CmdPacket, CmdRepr, DataBuffer, LoginReqRdmaPacket, LoginReqRepr, LoginRspFlags,
    LoginRspPacket, LoginRspRepr, MultiChannelResult, Residual, RspPacket, RspRepr, Tag,
};

const PORT: u16 = 5000;
const MSG: usize = 8260;
type Init = Initiator<SharedPort, Mem, 16, MSG>;
type Tgt = Passive<SharedPort, VecMem, 2, 32, MSG>;
type Dev = BlockDevice<Init, Mem, 8, MSG>;

const BLOCKS: u64 = 2048;

fn pattern(lba: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    let s = std::format!("blk{:08x}srp!\n", lba);
    b.copy_from_slice(&s.as_bytes()[..16]);
    b
}

/// A small SRP target: logs anyone in, answers the identification
/// commands, READ/WRITE(10) by RDMA against a disk in its own memory.
struct MiniTarget {
    cm: Box<Tgt>,
    conn: Option<ConnId>,
    /// Responses waiting for a send slot.
    out: VecDeque<Vec<u8>>,
    /// RDMA READs in flight: wr_id → (tag).
    reads: Vec<(u64, Tag)>,
    next_wr: u64,
    logins: u32,
}

impl MiniTarget {
    fn rsp(tag: Tag, status: Status, sense: Option<Sense>, di: Residual) -> Vec<u8> {
        let mut sb = [0u8; 18];
        let mut r = RspRepr::new(tag, status);
        r.data_in_residual = di;
        if let Some(s) = sense {
            s.emit_fixed(&mut sb);
            r.sense_data = Some(&sb);
        }
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut RspPacket::new_unchecked(&mut b[..]));
        b
    }

    fn wr(&mut self) -> u64 {
        self.next_wr += 1;
        self.next_wr
    }

    fn command(&mut self, conn: ConnId, iu: &[u8]) {
        let cmd = CmdRepr::parse(&CmdPacket::new_unchecked(iu), 68).unwrap();
        let tag = cmd.tag;
        let cdb = Cdb::parse(cmd.cdb).unwrap();
        // Parameter data goes through a staging area above the disk.
        let stage = BLOCKS * 512;
        let mut param: Option<Vec<u8>> = None;
        match cdb {
            Cdb::Inquiry { evpd: false, .. } => {
                let mut b = vec![0u8; 36];
                InquiryData::disk(*b"LOOPBACK", *b"mini srp target ", *b"0001").emit(&mut b);
                param = Some(b);
            }
            Cdb::ReadCapacity10 => {
                let mut b = vec![0u8; 8];
                ReadCapacity10::for_disk(BLOCKS, 512).emit(&mut b);
                param = Some(b);
            }
            Cdb::TestUnitReady | Cdb::SynchronizeCache10 { .. } => {}
            Cdb::Read10 { lba, blocks, .. } => {
                let DataBuffer::Direct(d) = cmd.data_in else {
                    panic!("read without descriptor")
                };
                let wr = self.wr();
                let local = u64::from(lba) * 512;
                assert_eq!(d.len, u32::from(blocks) * 512);
                self.cm
                    .rdma_write(conn, wr, local, d.va, d.rkey, d.len)
                    .unwrap();
            }
            Cdb::Write10 { lba, .. } => match cmd.data_out {
                DataBuffer::Direct(d) => {
                    let wr = self.wr();
                    self.cm
                        .rdma_read(conn, wr, u64::from(lba) * 512, d.va, d.rkey, d.len)
                        .unwrap();
                    self.reads.push((wr, tag));
                    return; // answered when the READ completes
                }
                DataBuffer::Immediate { data, .. } => {
                    assert!(self
                        .cm
                        .hca_mut()
                        .memory_mut()
                        .write(u64::from(lba) * 512, data));
                }
                other => panic!("{other:?}"),
            },
            _ => {
                self.out.push_back(Self::rsp(
                    tag,
                    Status::CheckCondition,
                    Some(Sense::INVALID_OPCODE),
                    Residual::None,
                ));
                return;
            }
        }
        let mut res = Residual::None;
        if let Some(p) = param {
            let DataBuffer::Direct(d) = cmd.data_in else {
                panic!()
            };
            let n = p.len().min(d.len as usize);
            assert!(self.cm.hca_mut().memory_mut().write(stage, &p[..n]));
            let wr = self.wr();
            self.cm
                .rdma_write(conn, wr, stage, d.va, d.rkey, n as u32)
                .unwrap();
            if (n as u32) < d.len {
                res = Residual::Underflow(d.len - n as u32);
            }
        }
        self.out.push_back(Self::rsp(tag, Status::Good, None, res));
    }

    fn poll(&mut self, now: Instant) {
        for _ in 0..64 {
            let mut msg: Option<(ConnId, Vec<u8>)> = None;
            let mut req: Option<(ConnId, Vec<u8>)> = None;
            let mut done: Option<(u64, WcStatus)> = None;
            let got = self.cm.poll(now, |e| match e {
                CmEvent::ConnectRequest {
                    conn, private_data, ..
                } => req = Some((conn, private_data.to_vec())),
                CmEvent::Message { conn, data } => msg = Some((conn, data.to_vec())),
                CmEvent::Completion { completion, .. } => {
                    done = Some((completion.wr_id, completion.status))
                }
                CmEvent::Established { conn, .. } => self.conn = Some(conn),
                CmEvent::Closed { .. } | CmEvent::Rejected { .. } => self.conn = None,
            });
            if got.is_none() {
                break;
            }
            if let Some((conn, pd)) = req {
                let login =
                    LoginReqRepr::parse_rdma(&LoginReqRdmaPacket::new_checked(&pd[..]).unwrap())
                        .unwrap();
                assert_eq!(login.target_port_id, golden_config().target_port_id);
                let rsp = LoginRspRepr {
                    req_lim_delta: 16,
                    tag: login.tag,
                    max_it_iu_len: 8276,
                    max_ti_iu_len: login.req_it_iu_len,
                    buffer_formats: BufferFormats::DIRECT | BufferFormats::INDIRECT,
                    multi_channel: MultiChannelResult::NoExisting,
                    flags: LoginRspFlags::IMMED_SUPP,
                };
                let mut b = [0u8; 52];
                rsp.emit(&mut LoginRspPacket::new_unchecked(&mut b[..]));
                self.cm.accept(now, conn, &b).unwrap();
                self.logins += 1;
            }
            if let Some((conn, iu)) = msg {
                self.command(conn, &iu);
            }
            if let Some((wr, status)) = done {
                if let Some(i) = self.reads.iter().position(|r| r.0 == wr) {
                    let (_, tag) = self.reads.remove(i);
                    assert_eq!(status, WcStatus::Success);
                    self.out
                        .push_back(Self::rsp(tag, Status::Good, None, Residual::None));
                }
            }
        }
        if let Some(conn) = self.conn {
            while let Some(r) = self.out.front() {
                let wr = self.next_wr + 1;
                if self.cm.send(conn, wr, r).is_err() {
                    break;
                }
                self.next_wr = wr;
                self.out.pop_front();
            }
        }
    }
}

fn setup(faults: Faults) -> (Box<Dev>, MiniTarget, Mem) {
    let seg = Rc::new(RefCell::new(Box::new(Segment::new(MAC_A.0, MAC_B.0))));
    seg.borrow_mut().set_faults(faults);
    let cm = CmConfig {
        cm_response_timeout: 14,
        local_ack_timeout: 12,
        max_cm_retries: 8,
        ..CmConfig::default()
    };
    let mut hc = HcaConfig::new(IP_A, 11);
    hc.retransmit_us = 20_000;
    let mem = Mem::new(4 << 20);
    let init = Init::new(
        SharedPort {
            seg: seg.clone(),
            port: 0,
        },
        mem.clone(),
        hc,
        cm,
        IP_B,
        PORT,
    );
    let mut hc = HcaConfig::new(IP_B, 12);
    hc.retransmit_us = 20_000;
    let mut disk = vec![0u8; (BLOCKS as usize + 8) * 512];
    for lba in 0..BLOCKS {
        for c in disk[lba as usize * 512..][..512].chunks_mut(16) {
            c.copy_from_slice(&pattern(lba));
        }
    }
    let mut tgt = Box::new(Tgt::new(
        SharedPort { seg, port: 1 },
        VecMem {
            base: 0,
            bytes: disk,
        },
        hc,
        CmConfig {
            initiator_depth: 4,
            ..cm
        },
    ));
    tgt.listen(PORT).unwrap();
    let target = MiniTarget {
        cm: tgt,
        conn: None,
        out: VecDeque::new(),
        reads: Vec::new(),
        next_wr: 0,
        logins: 0,
    };
    let session = Session::new(init, golden_config());
    let mut bc = BlockConfig::new(Lun::ZERO, MEM_BASE);
    bc.max_transfer_len = 32 * 1024;
    (
        Box::new(BlockDevice::new(session, mem.clone(), bc)),
        target,
        mem,
    )
}

fn advance(now: &mut u64, dev: &Dev, tgt: &MiniTarget) {
    let next = [dev.poll_at(), tgt.cm.poll_at()]
        .into_iter()
        .flatten()
        .min();
    *now = match next {
        Some(n) if n.0 > *now => n.0,
        _ => *now + 10,
    };
}

/// Logs in and identifies, both ends polled in turn on virtual time.
fn open(dev: &mut Dev, tgt: &mut MiniTarget, now: &mut u64) {
    dev.open(Instant(*now)).unwrap();
    for _ in 0..200_000 {
        dev.poll(Instant(*now));
        tgt.poll(Instant(*now));
        if dev.state() != DeviceState::Opening {
            break;
        }
        advance(now, dev, tgt);
    }
    assert_eq!(dev.state(), DeviceState::Ready, "open");
}

/// Runs a transfer to its end, both ends polled in turn.
fn finish<const K: usize>(
    x: &mut Transfer<K>,
    dev: &mut Dev,
    tgt: &mut MiniTarget,
    now: &mut u64,
) -> Result<(), BlockError> {
    loop {
        if let Some(r) = x.poll(Instant(*now), dev) {
            return r;
        }
        tgt.poll(Instant(*now));
        advance(now, dev, tgt);
    }
}

/// The HCAs and their MRs live on the stack by value: more than a test
/// thread's default stack.
fn on_big_stack(run: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

/// A device logged in to a fresh target, and the virtual time after it.
fn opened() -> (Box<Dev>, MiniTarget, Mem, u64) {
    let (mut dev, mut tgt, mem) = setup(Faults::default());
    let mut now = 1u64;
    open(&mut dev, &mut tgt, &mut now);
    (dev, tgt, mem, now)
}

fn scenario(faults: Faults) -> (u64, std::time::Duration) {
    let (mut dev, mut tgt, mem) = setup(faults);
    let mut now = 1u64;
    open(&mut dev, &mut tgt, &mut now);
    assert_eq!(dev.info().unwrap().blocks, BLOCKS);
    assert_eq!(dev.info().unwrap().inquiry.vendor_str(), "LOOPBACK");

    // Whole disk, several commands in flight.
    let buf = MEM_BASE + 4096;
    let wall = std::time::Instant::now();
    let t0 = now;
    let mut x = Transfer::<6>::read(0, BLOCKS, buf);
    let mut most = 0;
    let r = loop {
        if let Some(r) = x.poll(Instant(now), &mut dev) {
            break r;
        }
        most = most.max(x.in_flight());
        tgt.poll(Instant(now));
        advance(&mut now, &dev, &tgt);
    };
    let elapsed = wall.elapsed();
    let virt = now - t0;
    r.unwrap();
    assert!(most >= 4, "several commands in flight ({most})");
    let got = mem.get(buf, (BLOCKS * 512) as usize);
    for lba in 0..BLOCKS {
        assert_eq!(got[lba as usize * 512..][..16], pattern(lba), "block {lba}");
    }

    // Write 64 KiB by RDMA READ, 4 KiB as immediate data, read both back.
    let src = buf;
    let data: Vec<u8> = (0..65536u32).map(|i| ((i * 13) >> 3) as u8).collect();
    assert!(mem.clone().write(src, &data));
    let mut w = Transfer::<4>::write(100, 128, src);
    finish(&mut w, &mut dev, &mut tgt, &mut now).unwrap();
    let imm = vec![0xC3u8; 4096];
    let h = dev.start_write_immediate(Instant(now), 1000, &imm).unwrap();
    loop {
        dev.poll(Instant(now));
        if let Some(r) = dev.finish_io(h) {
            r.unwrap();
            break;
        }
        tgt.poll(Instant(now));
        advance(&mut now, &dev, &tgt);
    }
    let disk = &tgt.cm.hca().memory().bytes;
    assert_eq!(&disk[100 * 512..228 * 512], &data[..]);
    assert_eq!(&disk[1000 * 512..1008 * 512], &imm[..]);
    assert_eq!(
        dev.session().channel().hca().regions().live(),
        0,
        "every region released"
    );

    dev.close(Instant(now));
    for _ in 0..100_000 {
        dev.poll(Instant(now));
        tgt.poll(Instant(now));
        if matches!(
            dev.session().state(),
            super::session::SessionState::Closed(_)
        ) {
            break;
        }
        advance(&mut now, &dev, &tgt);
    }
    assert_eq!(
        dev.session().state(),
        super::session::SessionState::Closed(None)
    );
    assert_eq!(tgt.logins, 1);
    (virt, elapsed)
}

#[test]
fn block_device_over_cm_and_soft_hca_on_loopback() {
    let run = || {
        let (_, wall) = scenario(Faults::default());
        std::eprintln!(
            "loopback, no loss: 1 MiB read in {:.1} ms wall ({:.1} MiB/s, both ends in one thread)",
            wall.as_secs_f64() * 1000.0,
            1.0 / wall.as_secs_f64()
        );
        for seed in [1, 2] {
            let f = Faults {
                drop_per_64k: 1300,
                dup_per_64k: 650,
                swap_per_64k: 650,
                seed,
            };
            let (_, wall) = scenario(f);
            std::eprintln!(
                "loopback, 2% loss + 1% dup + 1% swap, seed {seed}: 1 MiB read in {:.1} ms wall",
                wall.as_secs_f64() * 1000.0
            );
        }
    };
    on_big_stack(run);
}

/// A transfer given up mid-flight (the ROM's I/O deadline) must hand its
/// session slots back: after `abandon` a new login opens the device and a
/// new transfer runs. (Dropping the transfer instead leaked the slots and
/// the re-login waited forever for a free one.)
#[test]
fn abandoned_transfer_frees_its_slots_for_the_next_login() {
    let run = || {
        let (mut dev, mut tgt, mem, mut now) = opened();
        let buf = MEM_BASE + 4096;
        // As many commands as the session has slots (the ROM's case).
        let mut x = Transfer::<8>::read(0, BLOCKS, buf);
        while x.in_flight() < 8 {
            assert!(x.poll(Instant(now), &mut dev).is_none());
        }
        x.abandon(&mut dev);
        assert_eq!(x.in_flight(), 0);
        open(&mut dev, &mut tgt, &mut now);
        let mut y = Transfer::<4>::read(0, 64, buf);
        finish(&mut y, &mut dev, &mut tgt, &mut now).unwrap();
        assert_eq!(mem.get(buf + 63 * 512, 16), pattern(63));
        assert_eq!(tgt.logins, 2);
    };
    on_big_stack(run);
}

/// A read whose data is partly on the wire is moved to another buffer (the
/// ROM's read-ahead handed to the INT 13h call that wants it): what arrived
/// before the move is copied over, the rest lands at the new place only,
/// and the old buffer sees nothing past what had arrived.
#[test]
fn read_rebound_mid_flight_lands_in_the_new_buffer() {
    let run = || {
        let (mut dev, mut tgt, mem, mut now) = opened();
        let (old, new) = (MEM_BASE + 0x10_000, MEM_BASE + 0x40_000);
        let blocks = 64u32; // 32 KiB: more packets than the target's window
        let h = dev.start_read(Instant(now), 100, blocks, old).unwrap();
        // Run until the first block is there but not the last.
        let mut steps = 0;
        while mem.get(old, 16) != pattern(100) {
            dev.poll(Instant(now));
            tgt.poll(Instant(now));
            advance(&mut now, &dev, &tgt);
            steps += 1;
            assert!(steps < 10_000, "no data arrived");
        }
        let last = old + u64::from(blocks - 1) * 512;
        assert_ne!(
            mem.get(last, 16),
            pattern(100 + 63),
            "all data arrived at once: nothing to move"
        );
        dev.rebind(h, new).unwrap();
        let result = loop {
            if let Some(r) = dev.finish_io(h) {
                break r;
            }
            dev.poll(Instant(now));
            tgt.poll(Instant(now));
            advance(&mut now, &dev, &tgt);
        };
        result.unwrap();
        for b in 0..u64::from(blocks) {
            assert_eq!(
                mem.get(new + b * 512 + 496, 16),
                pattern(100 + b),
                "block {b} at the new place"
            );
        }
        assert_eq!(
            mem.get(last, 16),
            [0u8; 16],
            "the old buffer got data after the move"
        );
        // Finished: nothing left to move.
        assert!(dev.rebind(h, old).is_err());
        // A later read is unaffected.
        let mut y = Transfer::<4>::read(0, 8, old);
        finish(&mut y, &mut dev, &mut tgt, &mut now).unwrap();
        assert_eq!(mem.get(old + 7 * 512, 16), pattern(7));
    };
    on_big_stack(run);
}
