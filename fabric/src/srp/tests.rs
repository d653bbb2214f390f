//! SRP session and SCSI block device against a fake [`Channel`] and a
//! scripted in-process target: login (golden bytes, RSP, REJ, CM failures),
//! credits, out-of-order and unknown responses, sense mapping, UNIT
//! ATTENTION retry, T_LOGOUT, AER, CRED_REQ, logout, READ(10/16) and WRITE
//! (RDMA READ and immediate), split transfers, and hostile IUs.

extern crate std;

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::format;
use std::rc::Rc;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

use super::scsi::{BlockConfig, BlockDevice, BlockError, DeviceState, Transfer, SCRATCH_LEN};
use super::session::*;
use crate::channel::{
    Access, Channel, ChannelError, ChannelEvent, ChannelState, CloseReason, RemoteRegion,
};
use crate::memory::Memory;
use crate::time::{Duration, Instant};
use crate::uri::{initiator_port_id, SrpUri};
use crate::wire::eth::Address as Mac;
use crate::wire::scsi::{
    Cdb, InquiryData, Lun, ReadCapacity10, ReadCapacity16, ReportLuns, Sense, SenseKey, Status,
};
use crate::wire::srp::{
    AerReqPacket, AerReqRepr, BufferFormats, CmdPacket, CmdRepr, CredReqRepr, DataBuffer, IuType,
    LoginRejPacket, LoginRejReason, LoginRejRepr, LoginRspFlags, LoginRspPacket, LoginRspRepr,
    MultiChannelResult, Residual, RspPacket, RspRepr, ShortPacket, TLogoutReason, TLogoutRepr, Tag,
};
use crate::wire::srp::{TaskMgmtFunction, TaskMgmtResponse, TskMgmtPacket, TskMgmtRepr};

// ----- golden bytes (shared/golden/srp-session.pcap) -----

/// Frame 5: CM REQ private data = rdma_cm header (36) + srp_login_req_rdma (56).
const GOLDEN_REQ_PD: &str = "0040d447000000000000000000000000c0a84d02000000000000000000000000c0a84d01\
    000000000000000000068000000020440000000000000000505400fffe770002505400fffe770001505400fffe7700010044000000000000";
/// Frame 238: SRP_CMD READ(10) LBA 0, 1 block, data-in direct 512 bytes.
const GOLDEN_READ10: &str = "02000000000100000d000000000000000000000000000000000000000000000028000000000000000100000000000000ffff8a729fdc4580000003d800000200";
/// Frame 6: SRP_LOGIN_RSP.
const GOLDEN_LOGIN_RSP: &str = "c0000000000000800000000000000000000020540000204400068000000000000000000000000000000000000000000000000000";

fn hex(s: &str) -> Vec<u8> {
    let s: std::string::String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const INITIATOR_MAC: Mac = Mac([0x52, 0x54, 0x00, 0x77, 0x00, 0x02]);
const TARGET_MAC: Mac = Mac([0x52, 0x54, 0x00, 0x77, 0x00, 0x01]);

pub(super) fn golden_config() -> SessionConfig {
    let uri = SrpUri::parse("srp://192.168.77.1").unwrap();
    SessionConfig::new(
        initiator_port_id(0, INITIATOR_MAC),
        uri.target_port_id(TARGET_MAC),
    )
}

// ----- memory shared by the fake HCA and the test -----

pub(super) const MEM_BASE: u64 = 0x10_0000;

#[derive(Clone)]
pub(super) struct Mem(pub(super) Rc<RefCell<Vec<u8>>>);

impl Mem {
    pub(super) fn new(len: usize) -> Mem {
        Mem(Rc::new(RefCell::new(vec![0; len])))
    }
    pub(super) fn get(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        assert!(self.read(addr, &mut v));
        v
    }
    fn put(&self, addr: u64, data: &[u8]) {
        let mut m = self.clone();
        assert!(m.write(addr, data));
    }
}

impl Memory for Mem {
    fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        let m = self.0.borrow();
        let Some(s) = addr.checked_sub(MEM_BASE) else {
            return false;
        };
        let s = s as usize;
        match m.get(s..s + out.len()) {
            Some(b) => {
                out.copy_from_slice(b);
                true
            }
            None => false,
        }
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        let mut m = self.0.borrow_mut();
        let Some(s) = addr.checked_sub(MEM_BASE) else {
            return false;
        };
        let s = s as usize;
        match m.get_mut(s..s + data.len()) {
            Some(b) => {
                b.copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

// ----- the fake channel with a scripted target behind it -----

#[derive(Debug, Clone)]
enum Ev {
    Established(Vec<u8>),
    Rejected(u16, Vec<u8>),
    Message(Vec<u8>),
    Closed(CloseReason),
}

#[derive(Debug, Clone)]
enum LoginScript {
    Accept(LoginRspRepr),
    Reject(u16, Vec<u8>),
    Fail(CloseReason),
    Raw(Vec<u8>),
}

/// Virtual disk: a pattern per LBA unless written.
struct Disk {
    blocks: u64,
    block_len: u32,
    written: BTreeMap<u64, Vec<u8>>,
}

impl Disk {
    fn block(&self, lba: u64) -> Vec<u8> {
        if let Some(b) = self.written.get(&lba) {
            return b.clone();
        }
        let mut b = vec![0u8; self.block_len as usize];
        for (i, c) in b.chunks_mut(16).enumerate() {
            let s = format!("LBA{:08x}.{:03x}\n", lba, i & 0xfff);
            c.copy_from_slice(&s.as_bytes()[..16]);
        }
        b
    }
}

struct Fake {
    state: ChannelState,
    login: LoginScript,
    connect_pd: Vec<u8>,
    events: VecDeque<Ev>,
    mem: Mem,
    regions: Vec<(RemoteRegion, Access)>,
    rebinds: Vec<(u32, u64)>,
    max_regions: usize,
    next_rkey: u32,
    send_window: usize,
    disconnects: u32,
    /// Every IU the initiator sent.
    sent: Vec<Vec<u8>>,
    /// Target state.
    disk: Disk,
    hold: bool,
    held: Vec<Vec<u8>>,
    outstanding: usize,
    max_outstanding: usize,
    ua: u32,
    not_ready: u32,
    inject: Option<Sense>,
    vpd_limit: Option<u32>,
    rsp_delta: u32,
}

impl Fake {
    fn new(login: LoginScript, blocks: u64) -> Fake {
        Fake {
            state: ChannelState::Idle,
            login,
            connect_pd: Vec::new(),
            events: VecDeque::new(),
            mem: Mem::new(1 << 20),
            regions: Vec::new(),
            rebinds: Vec::new(),
            max_regions: 32,
            next_rkey: 0x100,
            send_window: 64,
            disconnects: 0,
            sent: Vec::new(),
            disk: Disk {
                blocks,
                block_len: 512,
                written: BTreeMap::new(),
            },
            hold: false,
            held: Vec::new(),
            outstanding: 0,
            max_outstanding: 0,
            ua: 0,
            not_ready: 0,
            inject: None,
            vpd_limit: None,
            rsp_delta: 1,
        }
    }

    fn region(&self, rkey: u32, va: u64, len: u32, write: bool) -> bool {
        self.regions.iter().any(|(r, a)| {
            r.rkey == rkey
                && va >= r.addr
                && va + u64::from(len) <= r.addr + u64::from(r.len)
                && if write { a.remote_write } else { a.remote_read }
        })
    }

    fn respond(&mut self, iu: Vec<u8>) {
        if self.hold {
            self.held.push(iu);
        } else {
            self.outstanding -= 1;
            self.events.push_back(Ev::Message(iu));
        }
    }

    fn release(&mut self, i: usize) {
        let iu = self.held.remove(i);
        self.outstanding -= 1;
        self.events.push_back(Ev::Message(iu));
    }

    fn rsp(&self, tag: Tag, status: Status, sense: Option<Sense>, di_res: Residual) -> Vec<u8> {
        let mut sb = [0u8; 18];
        let mut r = RspRepr::new(tag, status);
        r.req_lim_delta = self.rsp_delta;
        r.data_in_residual = di_res;
        if let Some(s) = sense {
            s.emit_fixed(&mut sb);
            r.sense_data = Some(&sb);
        }
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut RspPacket::new_unchecked(&mut b[..]));
        b
    }

    /// The target side of an SRP_CMD.
    fn execute(&mut self, iu: &[u8]) {
        let cmd = CmdRepr::parse(&CmdPacket::new_unchecked(iu), 68)
            .expect("initiator sent a bad SRP_CMD");
        self.outstanding += 1;
        self.max_outstanding = self.max_outstanding.max(self.outstanding);
        let tag = cmd.tag;
        let cdb = Cdb::parse(cmd.cdb).expect("bad CDB");
        let check = |s: Sense| (Status::CheckCondition, Some(s));
        let is_ident = matches!(cdb, Cdb::Inquiry { .. } | Cdb::ReportLuns { .. });
        if self.ua > 0 && !is_ident {
            self.ua -= 1;
            let r = self.rsp(
                tag,
                Status::CheckCondition,
                Some(Sense::POWER_ON_RESET),
                Residual::None,
            );
            return self.respond(r);
        }
        if self.not_ready > 0 && cdb == Cdb::TestUnitReady {
            self.not_ready -= 1;
            let r = self.rsp(
                tag,
                Status::CheckCondition,
                Some(Sense::new(SenseKey::NotReady, 4, 1)),
                Residual::None,
            );
            return self.respond(r);
        }
        if let (Some(s), false) = (self.inject, is_ident) {
            if cdb.block_range().is_some() {
                self.inject = None;
                let r = self.rsp(tag, Status::CheckCondition, Some(s), Residual::None);
                return self.respond(r);
            }
        }
        let mut data: Vec<u8> = Vec::new();
        let (status, sense) = match cdb {
            Cdb::Inquiry { evpd: false, .. } => {
                let mut b = vec![0u8; 36];
                InquiryData::disk(*b"FAKE    ", *b"srp test disk   ", *b"0001").emit(&mut b);
                data = b;
                (Status::Good, None)
            }
            Cdb::Inquiry {
                evpd: true,
                page_code: 0xB0,
                ..
            } => match self.vpd_limit {
                Some(l) => {
                    let mut b = vec![0u8; 64];
                    b[1] = 0xB0;
                    b[3] = 0x3C;
                    b[8..12].copy_from_slice(&l.to_be_bytes());
                    data = b;
                    (Status::Good, None)
                }
                None => check(Sense::INVALID_FIELD_IN_CDB),
            },
            Cdb::Inquiry { .. } => check(Sense::INVALID_FIELD_IN_CDB),
            Cdb::TestUnitReady | Cdb::SynchronizeCache10 { .. } => (Status::Good, None),
            Cdb::ReadCapacity10 => {
                let mut b = vec![0u8; 8];
                ReadCapacity10::for_disk(self.disk.blocks, self.disk.block_len).emit(&mut b);
                data = b;
                (Status::Good, None)
            }
            Cdb::ReadCapacity16 { .. } => {
                let mut b = vec![0u8; 32];
                ReadCapacity16::for_disk(self.disk.blocks, self.disk.block_len).emit(&mut b);
                data = b;
                (Status::Good, None)
            }
            Cdb::ReportLuns { .. } => {
                let mut b = vec![0u8; 24];
                ReportLuns::emit(&[Lun::ZERO, Lun::from_index(1).unwrap()], &mut b);
                data = b;
                (Status::Good, None)
            }
            Cdb::Read10 { .. } | Cdb::Read16 { .. } => {
                let (lba, n) = cdb.block_range().unwrap();
                if lba + u64::from(n) > self.disk.blocks {
                    check(Sense::LBA_OUT_OF_RANGE)
                } else {
                    for l in lba..lba + u64::from(n) {
                        data.extend(self.disk.block(l));
                    }
                    (Status::Good, None)
                }
            }
            Cdb::Write10 { .. } | Cdb::Write16 { .. } => {
                let (lba, n) = cdb.block_range().unwrap();
                let len = n as usize * self.disk.block_len as usize;
                let bytes = match cmd.data_out {
                    DataBuffer::Immediate { data, .. } => data.to_vec(),
                    DataBuffer::Direct(d) => {
                        assert!(
                            self.region(d.rkey, d.va, d.len, false),
                            "RDMA READ outside a region"
                        );
                        self.mem.get(d.va, d.len as usize)
                    }
                    other => panic!("unexpected data-out {other:?}"),
                };
                assert_eq!(bytes.len(), len);
                if lba + u64::from(n) > self.disk.blocks {
                    check(Sense::LBA_OUT_OF_RANGE)
                } else {
                    for (i, b) in bytes.chunks(self.disk.block_len as usize).enumerate() {
                        self.disk.written.insert(lba + i as u64, b.to_vec());
                    }
                    (Status::Good, None)
                }
            }
            _ => check(Sense::INVALID_OPCODE),
        };
        let mut res = Residual::None;
        if let DataBuffer::Direct(d) = cmd.data_in {
            let n = data.len().min(d.len as usize);
            assert!(
                self.region(d.rkey, d.va, n as u32, true),
                "RDMA WRITE outside a region"
            );
            self.mem.put(d.va, &data[..n]);
            if n < d.len as usize {
                res = Residual::Underflow(d.len - n as u32);
            }
        }
        let r = self.rsp(tag, status, sense, res);
        self.respond(r);
    }
}

#[derive(Clone)]
struct FakeChannel(Rc<RefCell<Fake>>);

impl Channel for FakeChannel {
    fn connect(&mut self, _now: Instant, private_data: &[u8]) -> Result<(), ChannelError> {
        let mut f = self.0.borrow_mut();
        if f.state != ChannelState::Idle {
            return Err(ChannelError::WrongState);
        }
        f.connect_pd = private_data.to_vec();
        f.state = ChannelState::Connecting;
        match f.login.clone() {
            LoginScript::Accept(rsp) => {
                let mut b = vec![0u8; 196];
                rsp.emit(&mut LoginRspPacket::new_unchecked(&mut b[..]));
                f.events.push_back(Ev::Established(b));
                f.state = ChannelState::Up;
            }
            LoginScript::Raw(b) => {
                f.events.push_back(Ev::Established(b));
                f.state = ChannelState::Up;
            }
            LoginScript::Reject(reason, pd) => {
                f.events.push_back(Ev::Rejected(reason, pd));
                f.events
                    .push_back(Ev::Closed(CloseReason::Rejected(reason)));
                f.state = ChannelState::Closed(CloseReason::Rejected(reason));
            }
            LoginScript::Fail(r) => {
                f.events.push_back(Ev::Closed(r));
                f.state = ChannelState::Closed(r);
            }
        }
        Ok(())
    }
    fn state(&self) -> ChannelState {
        self.0.borrow().state
    }
    fn send(&mut self, _now: Instant, msg: &[u8]) -> Result<(), ChannelError> {
        let mut f = self.0.borrow_mut();
        if f.state != ChannelState::Up {
            return Err(ChannelError::WrongState);
        }
        if f.send_window == 0 {
            return Err(ChannelError::Busy);
        }
        f.sent.push(msg.to_vec());
        if msg.first() == Some(&u8::from(IuType::Cmd)) {
            f.execute(msg);
        }
        if msg.first() == Some(&u8::from(IuType::TskMgmt)) {
            let tmf = TskMgmtRepr::parse(&TskMgmtPacket::new_checked(msg).unwrap()).unwrap();
            let code = [0, 0, 0, u8::from(TaskMgmtResponse::Complete)];
            let mut r = RspRepr::new(tmf.tag, Status::Good);
            r.response_data = Some(&code);
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut RspPacket::new_unchecked(&mut b[..]));
            f.events.push_back(Ev::Message(b));
        }
        Ok(())
    }
    fn send_window(&self) -> usize {
        self.0.borrow().send_window
    }
    fn register(
        &mut self,
        addr: u64,
        len: u32,
        access: Access,
    ) -> Result<RemoteRegion, ChannelError> {
        let mut f = self.0.borrow_mut();
        if f.regions.len() >= f.max_regions {
            return Err(ChannelError::NoResources);
        }
        f.next_rkey += 1;
        let r = RemoteRegion {
            addr,
            rkey: f.next_rkey,
            len,
        };
        f.regions.push((r, access));
        Ok(r)
    }
    fn deregister(&mut self, region: RemoteRegion) {
        let mut f = self.0.borrow_mut();
        let before = f.regions.len();
        f.regions.retain(|(r, _)| r.rkey != region.rkey);
        assert_eq!(
            before,
            f.regions.len() + 1,
            "deregistered an unknown region"
        );
    }
    fn rebind(&mut self, region: RemoteRegion, addr: u64) -> Result<(), ChannelError> {
        // This fake moves data at send time: nothing is ever on the wire to
        // move. Record the call so tests can see it was made.
        let mut f = self.0.borrow_mut();
        let known = f.regions.iter().any(|(r, _)| r.rkey == region.rkey);
        f.rebinds.push((region.rkey, addr));
        if known {
            Ok(())
        } else {
            Err(ChannelError::WrongState)
        }
    }
    fn disconnect(&mut self, _now: Instant) {
        let mut f = self.0.borrow_mut();
        f.disconnects += 1;
        if matches!(f.state, ChannelState::Up | ChannelState::Connecting) {
            f.state = ChannelState::Closed(CloseReason::Local);
            f.events.push_back(Ev::Closed(CloseReason::Local));
        }
    }
    fn abandon(&mut self) {
        let mut f = self.0.borrow_mut();
        f.state = ChannelState::Closed(CloseReason::Local);
    }
    fn poll<R>(&mut self, _now: Instant, f: impl FnOnce(ChannelEvent<'_>) -> R) -> Option<R> {
        let ev = self.0.borrow_mut().events.pop_front()?;
        Some(match &ev {
            Ev::Established(b) => f(ChannelEvent::Established(b)),
            Ev::Rejected(r, b) => f(ChannelEvent::Rejected {
                reason: *r,
                private_data: b,
            }),
            Ev::Message(b) => f(ChannelEvent::Message(b)),
            Ev::Closed(r) => f(ChannelEvent::Closed(*r)),
        })
    }
    fn poll_at(&self) -> Option<Instant> {
        None
    }
}

// ----- helpers -----

fn login_rsp(credits: u32) -> LoginRspRepr {
    LoginRspRepr {
        req_lim_delta: credits,
        tag: Tag::default(),
        max_it_iu_len: 8276,
        max_ti_iu_len: 8260,
        buffer_formats: BufferFormats::DIRECT | BufferFormats::INDIRECT,
        multi_channel: MultiChannelResult::NoExisting,
        flags: LoginRspFlags::IMMED_SUPP,
    }
}

const T0: Instant = Instant(1_000_000);

type Sess = Session<FakeChannel, 8, 8260>;

fn session(login: LoginScript) -> (Sess, Rc<RefCell<Fake>>) {
    let fake = Rc::new(RefCell::new(Fake::new(login, 2048)));
    (
        Session::new(FakeChannel(fake.clone()), golden_config()),
        fake,
    )
}

fn logged_in(credits: u32) -> (Sess, Rc<RefCell<Fake>>) {
    let (mut s, f) = session(LoginScript::Accept(login_rsp(credits)));
    s.login(T0).unwrap();
    s.poll(T0);
    assert_eq!(s.state(), SessionState::LoggedIn);
    (s, f)
}

fn read_cmd(lba: u32, blocks: u16) -> [u8; 16] {
    Cdb::Read10 {
        lba,
        blocks,
        fua: false,
    }
    .to_padded()
}

fn start_read(s: &mut Sess, lba: u32, addr: u64) -> CmdHandle {
    let cdb = read_cmd(lba, 1);
    s.start(
        T0,
        &Command {
            lun: Lun::ZERO,
            cdb: &cdb[..10],
            data: DataBuf::In { addr, len: 512 },
        },
    )
    .unwrap()
}

fn inject(f: &Rc<RefCell<Fake>>, iu: Vec<u8>) {
    f.borrow_mut().events.push_back(Ev::Message(iu));
}

fn short_iu(emit: impl FnOnce(&mut ShortPacket<&mut [u8]>)) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    emit(&mut ShortPacket::new_unchecked(&mut b[..]));
    b
}

// ----- login -----

#[test]
fn login_req_matches_golden_capture() {
    let (mut s, f) = session(LoginScript::Accept(login_rsp(128)));
    assert_eq!(s.window(), 0, "window must be 0 before login");
    s.login(T0).unwrap();
    assert_eq!(s.state(), SessionState::LoggingIn);
    assert_eq!(s.window(), 0);
    let golden = hex(GOLDEN_REQ_PD);
    // The channel adds the 36-byte rdma_cm header; we hand it the SRP part.
    assert_eq!(f.borrow().connect_pd, golden[36..]);
    // Second login on the same session is refused.
    assert!(s.login(T0).is_err());
}

#[test]
fn config_from_uri_and_macs() {
    let uri = SrpUri::parse("srp://192.168.77.1").unwrap();
    assert_eq!(
        SessionConfig::for_uri(&uri, INITIATOR_MAC, TARGET_MAC),
        golden_config()
    );
    let uri = SrpUri::parse("srp://192.168.77.1?guid=0x0002c90300a1b2c3").unwrap();
    let c = SessionConfig::for_uri(&uri, INITIATOR_MAC, TARGET_MAC);
    assert_eq!(
        c.target_port_id.to_string(),
        "0002c90300a1b2c30002c90300a1b2c3"
    );
    assert_eq!(
        c.initiator_port_id.to_string(),
        "0000000000000000505400fffe770002"
    );
}

#[test]
fn login_req_classic_layout_and_no_immediate() {
    let fake = Rc::new(RefCell::new(Fake::new(
        LoginScript::Accept(login_rsp(8)),
        16,
    )));
    let mut c = golden_config();
    c.layout = LoginLayout::Classic;
    c.request_immediate = false;
    c.req_it_iu_len = 100_000; // clamped to IU
    let mut s: Session<FakeChannel, 4, 256> = Session::new(FakeChannel(fake.clone()), c);
    assert_eq!(s.config().req_it_iu_len, 256);
    s.login(T0).unwrap();
    let pd = fake.borrow().connect_pd.clone();
    assert_eq!(pd.len(), 64);
    assert_eq!(pd[0], 0x00);
    assert_eq!(&pd[16..20], &256u32.to_be_bytes());
    assert_eq!(&pd[24..30], &[0x00, 0x06, 0x00, 0x00, 0x00, 0x00]);
    assert_eq!(&pd[32..48], &golden_config().initiator_port_id.0);
    assert_eq!(&pd[48..64], &golden_config().target_port_id.0);
    s.poll(T0);
    // Immediate data not requested: not granted even though the target could.
    assert_eq!(s.max_immediate(), 0);
}

#[test]
fn golden_login_rsp_grants_credits_and_immediate_data() {
    let (mut s, _f) = session(LoginScript::Raw(hex(GOLDEN_LOGIN_RSP)));
    s.login(T0).unwrap();
    assert!(s.poll(T0));
    assert_eq!(s.state(), SessionState::LoggedIn);
    let info = s.login_info().unwrap();
    assert_eq!(info.initial_credits, 128);
    assert_eq!(info.max_it_iu_len, 8276);
    assert_eq!(info.max_ti_iu_len, 8260);
    assert_eq!(info.max_immediate, 8192);
    assert_eq!(s.credits(), 128);
    assert_eq!(s.window(), 8, "window = free slots when credits are plenty");
}

#[test]
fn login_rej_reason_is_reported() {
    let mut rej = vec![0u8; 148];
    LoginRejRepr {
        reason: LoginRejReason::UnableToAssociate,
        tag: Tag::default(),
        buffer_formats: BufferFormats::DIRECT,
    }
    .emit(&mut LoginRejPacket::new_unchecked(&mut rej[..]));
    let (mut s, _f) = session(LoginScript::Reject(28, rej));
    s.login(T0).unwrap();
    s.poll(T0);
    let want = SessionError::LoginRejected(LoginRejReason::UnableToAssociate);
    assert_eq!(s.state(), SessionState::Closed(Some(want)));
    let text = want.to_string();
    assert!(
        text.contains("0x00010003") && text.contains("srpt_service_guid"),
        "{text}"
    );
    assert_eq!(s.window(), 0);
}

#[test]
fn cm_rej_without_login_rej_and_channel_failures() {
    let (mut s, _f) = session(LoginScript::Reject(8, vec![0; 148]));
    s.login(T0).unwrap();
    s.poll(T0);
    assert_eq!(
        s.state(),
        SessionState::Closed(Some(SessionError::CmRejected(8)))
    );
    assert!(SessionError::CmRejected(8)
        .to_string()
        .contains("invalid service ID"));

    for (reason, text) in [
        (CloseReason::ArpTimeout, "ARP timeout"),
        (CloseReason::CmTimeout, "CM timeout"),
        (CloseReason::TransportError, "transport error"),
    ] {
        let (mut s, _f) = session(LoginScript::Fail(reason));
        s.login(T0).unwrap();
        s.poll(T0);
        let e = SessionError::LoginFailed(reason);
        assert_eq!(s.state(), SessionState::Closed(Some(e)));
        assert!(e.to_string().contains(text), "{e}");
    }
}

#[test]
fn bad_login_responses_disconnect() {
    // Truncated LOGIN_RSP.
    let (mut s, f) = session(LoginScript::Raw(hex(GOLDEN_LOGIN_RSP)[..40].to_vec()));
    s.login(T0).unwrap();
    s.poll(T0);
    assert_eq!(
        s.state(),
        SessionState::Closed(Some(SessionError::BadLoginResponse))
    );
    assert_eq!(f.borrow().disconnects, 1);
    // No direct descriptors.
    let mut r = login_rsp(8);
    r.buffer_formats = BufferFormats::INDIRECT;
    let (mut s, f) = session(LoginScript::Accept(r));
    s.login(T0).unwrap();
    s.poll(T0);
    assert_eq!(
        s.state(),
        SessionState::Closed(Some(SessionError::NoDirectDescriptors))
    );
    assert_eq!(f.borrow().disconnects, 1);
    // A LOGIN_REJ where the LOGIN_RSP should be.
    let (mut s, _f) = session(LoginScript::Raw(vec![0xC2; 32]));
    s.login(T0).unwrap();
    s.poll(T0);
    assert_eq!(
        s.state(),
        SessionState::Closed(Some(SessionError::BadLoginResponse))
    );
}

// ----- commands -----

#[test]
fn read10_cmd_matches_golden_capture() {
    let (mut s, f) = logged_in(128);
    let h = start_read(&mut s, 0, MEM_BASE);
    let sent = f.borrow().sent.last().unwrap().clone();
    let mut want = hex(GOLDEN_READ10);
    // Same IU except what is ours to choose: the tag and the descriptor's
    // address and key.
    want[8..16].copy_from_slice(&sent[8..16]);
    want[48..60].copy_from_slice(&sent[48..60]);
    assert_eq!(sent, want);
    assert_eq!(&sent[56..60], &f.borrow().regions[0].0.rkey.to_be_bytes());
    assert_eq!(h.tag().0, sent[8..16]);
    s.poll(T0);
    let c = s.take(h).unwrap().unwrap();
    assert_eq!(c.status, Status::Good);
    assert_eq!(&f.borrow().mem.get(MEM_BASE, 16), b"LBA00000000.000\n");
    assert!(
        f.borrow().regions.is_empty(),
        "region released after SRP_RSP"
    );
    assert_eq!(s.take(h), None, "a handle is taken once");
    assert_eq!(s.credits(), 128);
}

#[test]
fn credit_exhaustion_closes_the_window() {
    let (mut s, f) = logged_in(3);
    // 3 credits, 1 kept in reserve for task management.
    assert_eq!(s.window(), 2);
    f.borrow_mut().hold = true;
    let a = start_read(&mut s, 1, MEM_BASE);
    let b = start_read(&mut s, 2, MEM_BASE + 512);
    assert_eq!(s.window(), 0);
    let cdb = read_cmd(3, 1);
    let cmd = Command {
        lun: Lun::ZERO,
        cdb: &cdb[..10],
        data: DataBuf::In {
            addr: MEM_BASE,
            len: 512,
        },
    };
    assert_eq!(s.start(T0, &cmd), Err(StartError::Busy));
    assert_eq!(
        f.borrow().regions.len(),
        2,
        "a refused start registers nothing"
    );
    f.borrow_mut().release(0);
    s.poll(T0);
    assert_eq!(s.window(), 1);
    assert!(s.take(a).unwrap().is_ok());
    f.borrow_mut().release(0);
    s.poll(T0);
    assert!(s.take(b).unwrap().is_ok());
    assert_eq!(s.window(), 2);
    // A response granting more than one credit opens the window further.
    f.borrow_mut().rsp_delta = 5;
    f.borrow_mut().hold = false;
    let c = start_read(&mut s, 3, MEM_BASE);
    s.poll(T0);
    assert!(s.take(c).unwrap().is_ok());
    assert_eq!(s.credits(), 7);
}

#[test]
fn slots_and_send_queue_limit_the_window() {
    let (mut s, f) = logged_in(128);
    f.borrow_mut().hold = true;
    let hs: Vec<_> = (0..8)
        .map(|i| start_read(&mut s, i, MEM_BASE + 512 * u64::from(i)))
        .collect();
    assert_eq!(s.window(), 0, "all 8 slots taken");
    assert_eq!(s.outstanding(), 8);
    for _ in 0..8 {
        f.borrow_mut().release(0);
    }
    s.poll(T0);
    for h in hs {
        assert!(s.take(h).unwrap().is_ok());
    }
    f.borrow_mut().send_window = 0;
    assert_eq!(s.window(), 0, "channel send queue full");
    f.borrow_mut().send_window = 64;
    f.borrow_mut().max_regions = 0;
    let cdb = read_cmd(0, 1);
    let cmd = Command {
        lun: Lun::ZERO,
        cdb: &cdb[..10],
        data: DataBuf::In {
            addr: MEM_BASE,
            len: 512,
        },
    };
    assert_eq!(
        s.start(T0, &cmd),
        Err(StartError::Busy),
        "no memory region free"
    );
    assert_eq!(s.credits(), 128, "nothing consumed");
}

#[test]
fn out_of_order_responses_complete_the_right_commands() {
    let (mut s, f) = logged_in(128);
    f.borrow_mut().hold = true;
    let hs: Vec<_> = (0..4)
        .map(|i| start_read(&mut s, 10 + i, MEM_BASE + 512 * u64::from(i)))
        .collect();
    for i in [3, 0, 1, 0] {
        f.borrow_mut().release(i);
        s.poll(T0);
    }
    // Order released: tags 3, 0, 2, 1.
    for (i, h) in hs.iter().enumerate() {
        assert!(s.is_done(*h));
        assert!(s.take(*h).unwrap().is_ok());
        let want = format!("LBA{:08x}.000\n", 10 + i);
        assert_eq!(
            f.borrow().mem.get(MEM_BASE + 512 * i as u64, 16),
            want.as_bytes()
        );
    }
    assert_eq!(s.counters().responses, 4);
}

#[test]
fn rsp_with_sense_and_residuals() {
    let (mut s, f) = logged_in(128);
    // CHECK CONDITION with sense.
    f.borrow_mut().inject = Some(Sense::new(SenseKey::MediumError, 0x11, 0));
    let h = start_read(&mut s, 5, MEM_BASE);
    s.poll(T0);
    let c = s.take(h).unwrap().unwrap();
    assert_eq!(c.status, Status::CheckCondition);
    assert_eq!(c.sense, Some(Sense::new(SenseKey::MediumError, 0x11, 0)));
    // Data-in underflow (INQUIRY 36 bytes into a 96-byte buffer).
    let cdb = Cdb::inquiry(96).to_padded();
    let h = s
        .start(
            T0,
            &Command {
                lun: Lun::ZERO,
                cdb: &cdb[..6],
                data: DataBuf::In {
                    addr: MEM_BASE,
                    len: 96,
                },
            },
        )
        .unwrap();
    s.poll(T0);
    let c = s.take(h).unwrap().unwrap();
    assert_eq!(c.data_in_residual, Residual::Underflow(60));
    assert_eq!(c.sense, None);
}

#[test]
fn t_logout_fails_outstanding_commands() {
    let (mut s, f) = logged_in(128);
    f.borrow_mut().hold = true;
    let h = start_read(&mut s, 0, MEM_BASE);
    inject(
        &f,
        short_iu(|p| {
            TLogoutRepr {
                solicited: false,
                reason: TLogoutReason::InactiveChannel,
                tag: Tag::from_u64(77),
            }
            .emit(p)
        }),
    );
    s.poll(T0);
    let e = SessionError::TargetLogout(TLogoutReason::InactiveChannel);
    assert_eq!(s.state(), SessionState::Closed(Some(e)));
    assert_eq!(s.take(h), Some(Err(e)));
    assert!(e.to_string().contains("inactive"));
    assert_eq!(f.borrow().disconnects, 1);
    assert!(f.borrow().regions.is_empty());
    assert_eq!(s.window(), 0);
}

#[test]
fn cred_req_and_aer_are_answered() {
    let (mut s, f) = logged_in(4);
    inject(
        &f,
        short_iu(|p| {
            CredReqRepr {
                solicited: false,
                req_lim_delta: 5,
                tag: Tag::from_u64(0xC0FFEE),
            }
            .emit(p)
        }),
    );
    s.poll(T0);
    assert_eq!(s.credits(), 9);
    let last = f.borrow().sent.last().unwrap().clone();
    assert_eq!(last.len(), 16);
    assert_eq!(last[0], u8::from(IuType::CredRsp));
    assert_eq!(&last[8..16], &Tag::from_u64(0xC0FFEE).0);

    // AER while the send queue is full: answered once there is room.
    let mut sense = [0u8; 18];
    Sense::new(SenseKey::UnitAttention, 0x2A, 0x09).emit_fixed(&mut sense);
    let aer = AerReqRepr {
        solicited: false,
        req_lim_delta: 1,
        tag: Tag::from_u64(0xAE),
        lun: Lun::ZERO,
        sense_data: &sense,
    };
    let mut b = vec![0u8; aer.buffer_len()];
    aer.emit(&mut AerReqPacket::new_unchecked(&mut b[..]));
    f.borrow_mut().send_window = 0;
    inject(&f, b);
    s.poll(T0);
    assert_eq!(s.credits(), 10);
    assert_eq!(f.borrow().sent.len(), 1);
    assert_eq!(
        s.last_aer(),
        Some((
            Lun::ZERO,
            Some(Sense::new(SenseKey::UnitAttention, 0x2A, 0x09))
        ))
    );
    f.borrow_mut().send_window = 4;
    s.poll(T0);
    let last = f.borrow().sent.last().unwrap().clone();
    assert_eq!(last[0], u8::from(IuType::AerRsp));
    assert_eq!(&last[8..16], &Tag::from_u64(0xAE).0);
    assert_eq!(s.counters().aer_req, 1);
    assert_eq!(s.counters().cred_req, 1);
}

#[test]
fn unknown_tags_and_malformed_ius_are_dropped() {
    let (mut s, f) = logged_in(16);
    f.borrow_mut().hold = true;
    let h = start_read(&mut s, 0, MEM_BASE);
    let good = f.borrow().held[0].clone();
    // Unknown tag: counted, credit taken (the target accounted for it).
    let mut stray = good.clone();
    stray[8..16].copy_from_slice(&Tag::from_u64(0xDEAD).0);
    inject(&f, stray);
    // Garbage.
    for iu in [
        vec![],
        vec![0xC1],
        good[..20].to_vec(),
        vec![0xFF; 64],
        hex(GOLDEN_LOGIN_RSP),
        hex(GOLDEN_READ10),
    ] {
        inject(&f, iu);
    }
    // SRP_RSP announcing more sense than it carries.
    let mut lying = good.clone();
    lying[18] = 0x02;
    lying[28..32].copy_from_slice(&1000u32.to_be_bytes());
    inject(&f, lying);
    s.poll(T0);
    let c = s.counters();
    assert_eq!(c.unknown_tag, 1);
    assert_eq!(c.malformed, 5, "{c:?}");
    assert_eq!(c.unexpected, 2, "{c:?}");
    assert!(!s.is_done(h));
    assert_eq!(s.state(), SessionState::LoggedIn);
    f.borrow_mut().release(0);
    s.poll(T0);
    assert!(s.take(h).unwrap().is_ok());
    assert_eq!(s.credits(), 17);
}

#[test]
fn hostile_ius_never_panic() {
    let (mut s, f) = logged_in(64);
    f.borrow_mut().hold = true;
    let h = start_read(&mut s, 0, MEM_BASE);
    let seeds = [f.borrow().held[0].clone(), hex(GOLDEN_LOGIN_RSP), {
        let mut b = vec![0u8; 132];
        let mut sb = [0u8; 96];
        Sense::LBA_OUT_OF_RANGE.emit_fixed(&mut sb);
        let mut r = RspRepr::new(h.tag(), Status::CheckCondition);
        r.sense_data = Some(&sb);
        r.emit(&mut RspPacket::new_unchecked(&mut b[..]));
        b
    }];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..4000 {
        let mut iu = seeds[i % seeds.len()].clone();
        for _ in 0..(rnd() % 6) {
            let at = (rnd() as usize) % iu.len();
            iu[at] = rnd() as u8;
        }
        if rnd() % 5 == 0 {
            iu.truncate((rnd() as usize) % (iu.len() + 1));
        }
        if rnd() % 7 == 0 {
            iu[0] = [0x80, 0x81, 0x82, 0xC0, 0xC1, 0xC2][(rnd() % 6) as usize];
        }
        inject(&f, iu);
        s.poll(T0);
        if let SessionState::Closed(_) = s.state() {
            break; // a mutated T_LOGOUT ends the session; fine
        }
    }
}

#[test]
fn connection_loss_and_logout() {
    let (mut s, f) = logged_in(16);
    f.borrow_mut().hold = true;
    let h = start_read(&mut s, 0, MEM_BASE);
    f.borrow_mut()
        .events
        .push_back(Ev::Closed(CloseReason::TransportError));
    s.poll(T0);
    let e = SessionError::ConnectionLost(CloseReason::TransportError);
    assert_eq!(s.state(), SessionState::Closed(Some(e)));
    assert_eq!(s.take(h), Some(Err(e)));
    assert!(f.borrow().regions.is_empty());
    assert_eq!(
        s.start(
            T0,
            &Command {
                lun: Lun::ZERO,
                cdb: &[0; 6],
                data: DataBuf::None
            }
        ),
        Err(StartError::NotLoggedIn)
    );

    // Our logout: a DREQ, outstanding commands end, state closes cleanly.
    let (mut s, f) = logged_in(16);
    f.borrow_mut().hold = true;
    let h = start_read(&mut s, 0, MEM_BASE);
    s.logout(T0);
    assert_eq!(s.state(), SessionState::LoggingOut);
    assert_eq!(f.borrow().disconnects, 1);
    assert_eq!(s.take(h), Some(Err(SessionError::LoggedOut)));
    s.poll(T0);
    assert_eq!(s.state(), SessionState::Closed(None));
    assert!(f.borrow().regions.is_empty());
}

#[test]
fn abort_uses_the_reserved_credit_and_keeps_the_buffer_until_answered() {
    let (mut s, f) = logged_in(2);
    f.borrow_mut().hold = true;
    let h = start_read(&mut s, 7, MEM_BASE);
    assert_eq!(s.window(), 0, "the last credit is the reserve");
    assert_eq!(f.borrow().regions.len(), 1);
    s.abort(T0, h).unwrap();
    assert_eq!(
        f.borrow().regions.len(),
        1,
        "buffer kept until the target answers"
    );
    let iu = f.borrow().sent.last().unwrap().clone();
    let tmf = TskMgmtRepr::parse(&TskMgmtPacket::new_checked(&iu[..]).unwrap()).unwrap();
    assert_eq!(tmf.function, TaskMgmtFunction::AbortTask);
    assert_eq!(tmf.task_tag, h.tag());
    assert_eq!(s.credits(), 0);
    assert_eq!(s.abort(T0, h), Err(StartError::NotOutstanding), "once");
    assert_eq!(s.outstanding(), 1);
    s.poll(T0);
    assert!(
        f.borrow().regions.is_empty(),
        "released with the abort's answer"
    );
    assert_eq!(s.take(h), Some(Err(SessionError::Aborted)));
    assert_eq!(s.credits(), 1);
    // The command's own late response: unknown tag, credit back.
    f.borrow_mut().release(0);
    s.poll(T0);
    assert_eq!(s.counters().unknown_tag, 1);
    assert_eq!(s.credits(), 2);
    assert_eq!(s.window(), 1);

    // A response that beats the abort completes the command normally.
    let h = start_read(&mut s, 8, MEM_BASE);
    f.borrow_mut().hold = false;
    f.borrow_mut().release(0);
    s.poll(T0);
    assert!(s.is_done(h));
    assert_eq!(s.abort(T0, h), Err(StartError::NotOutstanding));
    assert!(s.take(h).unwrap().is_ok());
}

#[test]
fn bad_commands_are_refused_before_sending() {
    let (mut s, f) = logged_in(16);
    let n = f.borrow().sent.len();
    let cmd = |cdb: &'static [u8], data| Command {
        lun: Lun::ZERO,
        cdb,
        data,
    };
    assert_eq!(
        s.start(T0, &cmd(&[], DataBuf::None)),
        Err(StartError::BadCdb)
    );
    assert_eq!(
        s.start(T0, &cmd(&[0; 17], DataBuf::None)),
        Err(StartError::BadCdb)
    );
    let big = vec![0u8; 8193];
    assert_eq!(
        s.start(
            T0,
            &Command {
                lun: Lun::ZERO,
                cdb: &[0x2A; 10],
                data: DataBuf::Immediate(&big)
            }
        ),
        Err(StartError::ImmediateTooLarge)
    );
    assert_eq!(f.borrow().sent.len(), n);
}

// ----- block device -----

type Dev = BlockDevice<FakeChannel, Mem, 8, 8260>;

const SCRATCH: u64 = MEM_BASE;
const BUF: u64 = MEM_BASE + 4096;

fn device_with(f: Fake, max_xfer: u32) -> (Dev, Rc<RefCell<Fake>>) {
    let mem = f.mem.clone();
    let fake = Rc::new(RefCell::new(f));
    let s = Session::new(FakeChannel(fake.clone()), golden_config());
    let mut cfg = BlockConfig::new(Lun::ZERO, SCRATCH);
    cfg.max_transfer_len = max_xfer;
    (BlockDevice::new(s, mem, cfg), fake)
}

fn open(dev: &mut Dev) -> Result<(), BlockError> {
    dev.open(T0)?;
    let mut now = T0;
    for _ in 0..1000 {
        dev.poll(now);
        match dev.state() {
            DeviceState::Ready => return Ok(()),
            DeviceState::Failed(e) => return Err(e.error),
            _ => {}
        }
        now = now + Duration::from_millis(50);
    }
    panic!("open did not finish: {:?}", dev.state());
}

fn run(dev: &mut Dev, h: CmdHandle) -> Result<(), BlockError> {
    for _ in 0..100 {
        dev.poll(T0);
        if let Some(r) = dev.finish_io(h) {
            return r;
        }
    }
    panic!("command did not finish");
}

#[test]
fn open_identifies_the_disk() {
    let mut f = Fake::new(LoginScript::Accept(login_rsp(128)), 2048);
    f.ua = 2; // the usual UNIT ATTENTION after login, twice
    f.not_ready = 3; // then "becoming ready" for a while
    f.vpd_limit = Some(16);
    let (mut dev, fake) = device_with(f, 64 * 1024);
    assert_eq!(dev.window(), 0);
    open(&mut dev).unwrap();
    let info = *dev.info().unwrap();
    assert_eq!(info.blocks, 2048);
    assert_eq!(info.block_len, 512);
    assert_eq!(info.capacity(), 1 << 20);
    assert_eq!(info.inquiry.vendor_str(), "FAKE");
    assert_eq!(info.target_max_transfer_blocks, 16);
    assert_eq!(info.max_transfer_blocks, 16, "target's limit below ours");
    assert!(dev.window() > 0);
    let ops: Vec<u8> = fake.borrow().sent.iter().map(|iu| iu[32]).collect();
    // INQUIRY, TUR ×6 (2 UA + 3 not ready + good), READ CAPACITY(10), VPD B0.
    assert_eq!(ops, [0x12, 0, 0, 0, 0, 0, 0, 0x25, 0x12]);
}

#[test]
fn open_reports_which_step_failed() {
    let mut f = Fake::new(LoginScript::Accept(login_rsp(128)), 2048);
    f.ua = 100;
    let (mut dev, _) = device_with(f, 65536);
    assert!(matches!(open(&mut dev), Err(BlockError::UnitAttention(_))));
    let DeviceState::Failed(e) = dev.state() else {
        panic!()
    };
    assert_eq!(e.step, "TEST UNIT READY");
    assert!(
        e.to_string().starts_with("TEST UNIT READY: unit attention"),
        "{e}"
    );

    let (mut dev, _) = device_with(
        Fake::new(LoginScript::Fail(CloseReason::ArpTimeout), 1),
        65536,
    );
    let err = open(&mut dev).unwrap_err();
    let DeviceState::Failed(e) = dev.state() else {
        panic!()
    };
    assert_eq!(e.step, "SRP login");
    assert!(err.to_string().contains("ARP timeout"), "{err}");

    let mut f = Fake::new(LoginScript::Accept(login_rsp(128)), 2048);
    f.not_ready = 1000;
    let (mut dev, _) = device_with(f, 65536);
    let err = open(&mut dev).unwrap_err();
    assert!(err.to_string().starts_with("not ready"), "{err}");
}

#[test]
fn read_capacity_16_and_read_write_16_for_big_disks() {
    let blocks = (1u64 << 32) + 100;
    let (mut dev, fake) = device_with(
        Fake::new(LoginScript::Accept(login_rsp(128)), blocks),
        65536,
    );
    open(&mut dev).unwrap();
    assert_eq!(dev.info().unwrap().blocks, blocks);
    let ops: Vec<u8> = fake.borrow().sent.iter().map(|iu| iu[32]).collect();
    assert_eq!(&ops[2..4], &[0x25, 0x9E], "READ CAPACITY(10) then (16)");

    let lba = (1u64 << 32) + 7;
    let h = dev.start_read(T0, lba, 2, BUF).unwrap();
    assert_eq!(fake.borrow().sent.last().unwrap()[32], 0x88, "READ(16)");
    run(&mut dev, h).unwrap();
    let want = fake.borrow().disk.block(lba);
    assert_eq!(fake.borrow().mem.get(BUF, 512), want);
    let h = dev.start_read(T0, 7, 2, BUF).unwrap();
    assert_eq!(
        fake.borrow().sent.last().unwrap()[32],
        0x28,
        "READ(10) below 2^32"
    );
    run(&mut dev, h).unwrap();

    fake.borrow().mem.put(BUF, &[0x5A; 1024]);
    let h = dev.start_write(T0, lba, 2, BUF).unwrap();
    let iu = fake.borrow().sent.last().unwrap().clone();
    assert_eq!((iu[32], iu[5]), (0x8A, 0x10), "WRITE(16), data-out direct");
    run(&mut dev, h).unwrap();
    assert_eq!(fake.borrow().disk.written[&(lba + 1)], vec![0x5A; 512]);
    // Past the end: refused locally.
    assert_eq!(
        dev.start_read(T0, blocks - 1, 2, BUF),
        Err(BlockError::LbaOutOfRange)
    );
}

#[test]
fn sense_becomes_clear_errors() {
    let (mut dev, fake) = device_with(Fake::new(LoginScript::Accept(login_rsp(128)), 64), 65536);
    open(&mut dev).unwrap();
    let cases = [
        (Sense::LBA_OUT_OF_RANGE, "LBA out of range"),
        (
            Sense::new(SenseKey::MediumError, 0x11, 0),
            "medium error (MEDIUM ERROR: UNRECOVERED READ ERROR)",
        ),
        (Sense::WRITE_PROTECTED, "write protected"),
        (Sense::new(SenseKey::NotReady, 0x04, 0x03), "not ready"),
        (Sense::MEDIUM_NOT_PRESENT, "not ready: medium not present"),
        (
            Sense::new(SenseKey::HardwareError, 0x44, 0),
            "hardware error",
        ),
        (
            Sense::new(SenseKey::AbortedCommand, 0x4B, 0),
            "command aborted",
        ),
        (Sense::LUN_NOT_SUPPORTED, "logical unit not supported"),
    ];
    for (sense, text) in cases {
        fake.borrow_mut().inject = Some(sense);
        let h = dev.start_read(T0, 0, 1, BUF).unwrap();
        let e = run(&mut dev, h).unwrap_err();
        assert!(e.to_string().starts_with(text), "{sense}: {e}");
    }
    // The target's own range check (a raw READ past the end, not checked here).
    let cdb = Cdb::read(64, 1);
    let h = dev
        .start_raw(
            T0,
            &cdb,
            DataBuf::In {
                addr: BUF,
                len: 512,
            },
        )
        .unwrap();
    assert_eq!(run(&mut dev, h), Err(BlockError::LbaOutOfRange));
    // Recovered error is success.
    fake.borrow_mut().inject = Some(Sense::new(SenseKey::RecoveredError, 0x17, 0));
    let h = dev.start_read(T0, 0, 1, BUF).unwrap();
    assert_eq!(run(&mut dev, h), Ok(()));
}

#[test]
fn immediate_write_sync_and_report_luns() {
    let (mut dev, fake) = device_with(Fake::new(LoginScript::Accept(login_rsp(128)), 64), 65536);
    open(&mut dev).unwrap();
    let data = vec![0xA5u8; 4096];
    let h = dev.start_write_immediate(T0, 16, &data).unwrap();
    let iu = fake.borrow().sent.last().unwrap().clone();
    assert_eq!(
        iu.len(),
        68 + 4096,
        "as in the golden capture (frames 336-340)"
    );
    assert_eq!(iu[5], 0x30, "data-out immediate");
    assert_eq!(&iu[48..52], &4096u32.to_be_bytes());
    assert!(iu[52..68].iter().all(|&b| b == 0));
    run(&mut dev, h).unwrap();
    assert!(
        fake.borrow().regions.is_empty(),
        "no region for immediate data"
    );
    assert_eq!(fake.borrow().disk.written[&23], vec![0xA5; 512]);
    assert!(matches!(
        dev.start_write_immediate(T0, 0, &vec![0; 8704]),
        Err(BlockError::Start(StartError::ImmediateTooLarge))
    ));
    assert_eq!(
        dev.start_write_immediate(T0, 0, &[0; 100]),
        Err(BlockError::TooLarge)
    );

    let h = dev.start_sync(T0).unwrap();
    assert_eq!(fake.borrow().sent.last().unwrap()[32], 0x35);
    assert_eq!(
        fake.borrow().sent.last().unwrap().len(),
        48,
        "no descriptor"
    );
    run(&mut dev, h).unwrap();

    let h = dev.start_report_luns(T0, BUF, 256).unwrap();
    dev.poll(T0);
    let c = dev.finish(h).unwrap().unwrap();
    assert_eq!(c.data_in_residual, Residual::Underflow(256 - 24));
    let b = fake.borrow().mem.get(BUF, 24);
    let luns: Vec<Lun> = ReportLuns::parse(&b).unwrap().iter().collect();
    assert_eq!(luns, [Lun::ZERO, Lun::from_index(1).unwrap()]);
}

#[test]
fn transfer_splits_and_keeps_several_in_flight() {
    let blocks = 1000u64;
    let (mut dev, fake) = device_with(
        Fake::new(LoginScript::Accept(login_rsp(128)), blocks),
        8 * 512,
    );
    open(&mut dev).unwrap();
    assert_eq!(dev.info().unwrap().max_transfer_blocks, 8);
    // Hold responses so commands pile up, release them in a shuffled order.
    fake.borrow_mut().hold = true;
    fake.borrow_mut().ua = 1; // one chunk is retried
    let mut x = Transfer::<4>::read(0, blocks, BUF);
    let mut turn = 0u32;
    let result = loop {
        if let Some(r) = x.poll(T0, &mut dev) {
            break r;
        }
        let mut f = fake.borrow_mut();
        if !f.held.is_empty() {
            let i = (turn as usize * 7) % f.held.len();
            f.release(i);
        }
        turn += 1;
        assert!(turn < 10_000);
    };
    result.unwrap();
    assert_eq!(x.done_blocks(), blocks);
    assert_eq!(fake.borrow().max_outstanding, 4, "4 commands in flight");
    let mem = fake.borrow().mem.get(BUF, (blocks * 512) as usize);
    for lba in 0..blocks {
        let want = format!("LBA{:08x}.000\n", lba);
        let at = (lba * 512) as usize;
        assert_eq!(&mem[at..at + 16], want.as_bytes(), "block {lba}");
    }
    let reads = fake
        .borrow()
        .sent
        .iter()
        .filter(|iu| iu[32] == 0x28)
        .count();
    assert_eq!(
        reads,
        125 + 1,
        "1000/8 commands plus one UNIT ATTENTION retry"
    );

    // Write back a range through RDMA READ, then read it again.
    fake.borrow_mut().hold = false;
    fake.borrow().mem.put(BUF, &vec![0x77; 20 * 512]);
    let mut w = Transfer::<2>::write(100, 20, BUF);
    let r = loop {
        if let Some(r) = w.poll(T0, &mut dev) {
            break r;
        }
    };
    r.unwrap();
    assert_eq!(fake.borrow().disk.written.len(), 20);
    assert!(fake.borrow().regions.is_empty());

    // An error ends the transfer with it (after in-flight commands drain).
    fake.borrow_mut().inject = Some(Sense::new(SenseKey::MediumError, 0x11, 0));
    let mut x = Transfer::<4>::read(0, 64, BUF);
    let r = loop {
        if let Some(r) = x.poll(T0, &mut dev) {
            break r;
        }
    };
    assert!(matches!(r, Err(BlockError::MediumError(_))));
    let mut x = Transfer::<4>::read(blocks - 1, 2, BUF);
    assert_eq!(x.poll(T0, &mut dev), Some(Err(BlockError::LbaOutOfRange)));
    assert_eq!(SCRATCH_LEN, 96);
}
