//! The SRP target proper, without a network: logins (port IDs, ACL, IU
//! lengths, immediate data, multi-channel), and per channel the request
//! limit, SRP_CMD / SRP_TSK_MGMT / SRP_I_LOGOUT handling, data-in by RDMA
//! WRITE, data-out by RDMA READ or immediate data, and SRP_RSP (LIO
//! `ib_srpt` is the reference for every choice).
//!
//! The fabric is behind [`Io`]: the server implements it on a CM
//! connection, tests and the fuzzer on [`super::sim`]. Work the fabric
//! cannot take yet stays queued per channel, in order, until [`Target::flush`].
//! Nothing a peer sends makes this code panic; malformed IUs are answered
//! with CHECK CONDITION when they carry a tag, else counted and dropped.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use fabric::wire::scsi::{Lun as ScsiLun, Status};
use fabric::wire::srp::{
    iu_type, BufferFormats, CmdPacket, CmdRepr, CmdSolNot, DataBuffer, DirectDesc, IuType,
    LoginRejPacket, LoginRejReason, LoginRejRepr, LoginReqFlags, LoginReqPacket,
    LoginReqRdmaPacket, LoginReqRepr, LoginRspFlags, LoginRspPacket, LoginRspRepr,
    MultiChannelAction, MultiChannelResult, PortId, Residual, RspPacket, RspRepr, Tag,
    TaskMgmtFunction, TaskMgmtResponse, TskMgmtPacket, TskMgmtRepr, CMD_HEADER_LEN, MIN_IT_IU_LEN,
    RSP_HEADER_LEN,
};

use super::lun::Lun;
use super::scsi::{self, Exec, Identity, Reply, WriteReq};

/// Why the fabric refused a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoError {
    /// No room right now; try again after the fabric made progress.
    Busy,
    /// The connection is gone.
    Dead,
}

/// The fabric under one channel: an RC connection's send queue.
pub trait Io {
    /// Work requests that can be posted now.
    fn room(&self) -> usize;
    /// SENDs `iu`.
    fn send(&mut self, iu: &[u8]) -> Result<(), IoError>;
    /// RDMA WRITEs `data` to the initiator's `(va, rkey)`.
    fn rdma_write(&mut self, wr_id: u64, data: &[u8], va: u64, rkey: u32) -> Result<(), IoError>;
    /// RDMA READs `len` bytes at the initiator's `(va, rkey)`; the bytes come
    /// back through [`Target::on_completion`].
    fn rdma_read(&mut self, wr_id: u64, va: u64, rkey: u32, len: u32) -> Result<(), IoError>;
    /// Starts a disconnect (CM DREQ).
    fn disconnect(&mut self);
}

/// A channel handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChanId(pub u64);

/// Which SRP_LOGIN_REQ layout the CM REQ carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginLayout {
    /// 56 bytes after the rdma_cm header (RoCE, Linux ib_srp).
    RdmaCm,
    /// Classic 64 bytes (IB CM with the SRP service ID).
    Classic,
}

/// Target-wide settings.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// `srpt_service_guid`: both halves of the target port ID.
    pub guid: u64,
    /// Credits granted at login (request limit).
    pub credits: u32,
    /// Largest I→T IU accepted (the receive slot size).
    pub max_it_iu_len: u32,
    /// Initiator port IDs allowed to log in; `None` admits everyone.
    pub acl: Option<Vec<PortId>>,
    /// Channels at once, over all initiators.
    pub max_channels: usize,
    /// Per-command traces.
    pub verbose: bool,
    /// INQUIRY identity.
    pub identity: Identity,
}

impl TargetConfig {
    /// Defaults for `guid`: 62 credits, 8276-byte IUs, open ACL.
    pub fn new(guid: u64) -> TargetConfig {
        TargetConfig {
            guid,
            credits: 62,
            max_it_iu_len: 8276,
            acl: None,
            max_channels: 64,
            verbose: false,
            identity: Identity::new((guid >> 40) as u32 & 0xFF_FFFF ^ 0x02_0000),
        }
    }
}

/// Target-wide counters (printed on SIGUSR1 and at exit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Logins accepted.
    pub logins: u64,
    /// Logins rejected.
    pub rejected: u64,
    /// Channels closed.
    pub logouts: u64,
    /// SRP_CMDs received.
    pub commands: u64,
    /// READ commands.
    pub reads: u64,
    /// WRITE commands.
    pub writes: u64,
    /// Bytes sent as data-in.
    pub bytes_in: u64,
    /// Bytes written to LUNs.
    pub bytes_out: u64,
    /// SYNCHRONIZE CACHE commands.
    pub syncs: u64,
    /// Commands answered with CHECK CONDITION.
    pub check_conditions: u64,
    /// Task management requests.
    pub task_mgmt: u64,
    /// Commands that arrived without a credit (TASK SET FULL).
    pub overruns: u64,
    /// IUs that did not parse or make no sense here.
    pub bad_ius: u64,
    /// RDMA work requests that failed.
    pub rdma_errors: u64,
}

impl Counters {
    /// One line.
    pub fn summary(&self) -> String {
        format!(
            "logins {} rejected {} logouts {} | commands {} reads {} writes {} syncs {} check-conditions {} task-mgmt {} overruns {} bad-IUs {} rdma-errors {} | data-in {} B data-out {} B",
            self.logins,
            self.rejected,
            self.logouts,
            self.commands,
            self.reads,
            self.writes,
            self.syncs,
            self.check_conditions,
            self.task_mgmt,
            self.overruns,
            self.bad_ius,
            self.rdma_errors,
            self.bytes_in,
            self.bytes_out
        )
    }
}

/// What a login came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Accept with `rsp` (SRP_LOGIN_RSP) in the CM REP; disconnect the
    /// channels in `terminated` (the same initiator port logged in anew).
    Accepted {
        chan: ChanId,
        rsp: [u8; LoginRspRepr::LEN],
        terminated: Vec<ChanId>,
    },
    /// Reject with `rej` (SRP_LOGIN_REJ) in a CM REJ, reason 28.
    Rejected {
        reason: LoginRejReason,
        rej: [u8; LoginRejRepr::LEN],
    },
}

enum Op {
    Send(Vec<u8>),
    Write {
        wr: u64,
        data: Vec<u8>,
        va: u64,
        rkey: u32,
    },
    Read {
        wr: u64,
        va: u64,
        rkey: u32,
        len: u32,
    },
    Disconnect,
}

/// A write waiting for RDMA READ data.
struct Task {
    tag: Tag,
    lun: ScsiLun,
    sol: CmdSolNot,
    req: WriteReq,
    buf: Vec<u8>,
    parts_left: usize,
    aborted: bool,
    failed: bool,
    trace: String,
}

#[derive(Clone, Copy)]
enum Wr {
    DataIn,
    DataOut { task: u64, offset: usize },
}

struct Channel {
    initiator: PortId,
    peer: String,
    req_lim: u32,
    pending_delta: u32,
    max_ti_iu_len: u32,
    imm_offset: u16,
    out: VecDeque<Op>,
    tasks: HashMap<u64, Task>,
    wrs: HashMap<u64, Wr>,
    next_id: u64,
    commands: u64,
    bytes_in: u64,
    bytes_out: u64,
    dead: bool,
}

/// The target: LUNs, ACL and channels.
pub struct Target {
    cfg: TargetConfig,
    luns: Vec<Lun>,
    chans: HashMap<ChanId, Channel>,
    next_chan: u64,
    counters: Counters,
    log: Box<dyn FnMut(&str) + Send>,
}

/// The data buffer descriptors of one direction, as (va, rkey, len).
fn descriptors(b: &DataBuffer<'_>) -> Result<Vec<DirectDesc>, ()> {
    match b {
        DataBuffer::None | DataBuffer::Immediate { .. } => Ok(Vec::new()),
        DataBuffer::Direct(d) => Ok(vec![*d]),
        DataBuffer::Indirect { table, descs, .. } => {
            // ib_srpt: only the inline list is used; the table must be all
            // inline (it never RDMA-reads a descriptor table).
            if table.len as usize != descs.len() * DirectDesc::LEN || descs.is_empty() {
                return Err(());
            }
            Ok(descs.iter().collect())
        }
    }
}

impl Target {
    /// A target serving `luns`.
    pub fn new(cfg: TargetConfig, luns: Vec<Lun>) -> Target {
        Target {
            cfg,
            luns,
            chans: HashMap::new(),
            next_chan: 1,
            counters: Counters::default(),
            log: Box::new(|s| println!("{s}")),
        }
    }

    /// Where log lines go (default: stdout).
    pub fn set_log(&mut self, log: Box<dyn FnMut(&str) + Send>) {
        self.log = log;
    }

    /// The configuration.
    pub fn config(&self) -> &TargetConfig {
        &self.cfg
    }
    /// The LUNs.
    pub fn luns(&self) -> &[Lun] {
        &self.luns
    }
    /// The LUNs, mutably.
    pub fn luns_mut(&mut self) -> &mut [Lun] {
        &mut self.luns
    }
    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// Open channels.
    pub fn channels(&self) -> Vec<ChanId> {
        let mut v: Vec<ChanId> = self.chans.keys().copied().collect();
        v.sort();
        v
    }
    /// The initiator port of a channel.
    pub fn initiator(&self, ch: ChanId) -> Option<PortId> {
        self.chans.get(&ch).map(|c| c.initiator)
    }
    /// Credits the initiator of `ch` holds, as the target counts them.
    pub fn credits(&self, ch: ChanId) -> Option<u32> {
        self.chans.get(&ch).map(|c| c.req_lim)
    }
    /// Work queued for `ch` that the fabric has not taken yet.
    pub fn queued(&self, ch: ChanId) -> usize {
        self.chans.get(&ch).map_or(0, |c| c.out.len())
    }

    fn say(&mut self, s: &str) {
        (self.log)(s);
    }

    /// Handles the SRP_LOGIN_REQ of a CM REQ. `peer` names the initiator in
    /// log lines.
    pub fn login(&mut self, peer: &str, private_data: &[u8], layout: LoginLayout) -> LoginOutcome {
        let parsed = match layout {
            LoginLayout::RdmaCm => LoginReqRdmaPacket::new_checked(private_data)
                .and_then(|p| LoginReqRepr::parse_rdma(&p)),
            LoginLayout::Classic => {
                LoginReqPacket::new_checked(private_data).and_then(|p| LoginReqRepr::parse(&p))
            }
        };
        let formats = BufferFormats::DIRECT | BufferFormats::INDIRECT;
        let reject = |t: &mut Target, tag: Tag, reason: LoginRejReason, who: String| {
            t.counters.rejected += 1;
            t.say(&format!(
                "login REJECTED: initiator {who} from {peer}: {reason} (0x{:08x})",
                u32::from(reason)
            ));
            let mut rej = [0u8; LoginRejRepr::LEN];
            LoginRejRepr {
                reason,
                tag,
                buffer_formats: formats,
            }
            .emit(&mut LoginRejPacket::new_unchecked(&mut rej[..]));
            LoginOutcome::Rejected { reason, rej }
        };
        let req = match parsed {
            Ok(r) => r,
            Err(_) => return reject(self, Tag::default(), LoginRejReason::NoReason, "?".into()),
        };
        let who = format!("0x{}", req.initiator_port_id);
        if req.req_it_iu_len < MIN_IT_IU_LEN || req.req_it_iu_len > self.cfg.max_it_iu_len {
            return reject(self, req.tag, LoginRejReason::ItIuLenTooLarge, who);
        }
        if req.target_port_id != PortId::new(self.cfg.guid, self.cfg.guid) {
            return reject(self, req.tag, LoginRejReason::UnableToAssociate, who);
        }
        if let Some(acl) = &self.cfg.acl {
            if !acl.contains(&req.initiator_port_id) {
                return reject(self, req.tag, LoginRejReason::ChannelLimitReached, who);
            }
        }
        if !formats.contains(req.buffer_formats & !BufferFormats::from_bits_retain(0x0001)) {
            return reject(
                self,
                req.tag,
                LoginRejReason::UnsupportedDescriptorFormat,
                who,
            );
        }
        let same: Vec<ChanId> = {
            let mut v: Vec<ChanId> = self
                .chans
                .iter()
                .filter(|(_, c)| c.initiator == req.initiator_port_id)
                .map(|(k, _)| *k)
                .collect();
            v.sort();
            v
        };
        let terminate = req.multi_channel != MultiChannelAction::Multi;
        let after = self.chans.len() - if terminate { same.len() } else { 0 };
        if after >= self.cfg.max_channels {
            return reject(self, req.tag, LoginRejReason::InsufficientResources, who);
        }
        for l in self.luns.iter_mut() {
            if let Err(e) = l.attach(&req.initiator_port_id) {
                let msg = format!(
                    "cannot open the copy-on-write overlay of LUN {} for {who}: {e}",
                    l.index()
                );
                self.say(&msg);
                return reject(self, req.tag, LoginRejReason::InsufficientResources, who);
            }
        }
        let imm = req.flags.contains(LoginReqFlags::IMMED_REQUESTED)
            && usize::from(req.imm_data_offset) >= CMD_HEADER_LEN
            && u32::from(req.imm_data_offset) < req.req_it_iu_len;
        let result = match (same.is_empty(), terminate) {
            (true, _) => MultiChannelResult::NoExisting,
            (false, true) => MultiChannelResult::Terminated,
            (false, false) => MultiChannelResult::Maintained,
        };
        let id = ChanId(self.next_chan);
        self.next_chan += 1;
        let credits = self.cfg.credits.max(1);
        let rsp = LoginRspRepr {
            req_lim_delta: credits,
            tag: req.tag,
            max_it_iu_len: self.cfg.max_it_iu_len,
            max_ti_iu_len: req.req_it_iu_len,
            buffer_formats: formats,
            multi_channel: result,
            flags: if imm {
                LoginRspFlags::IMMED_SUPP
            } else {
                LoginRspFlags::empty()
            },
        };
        let mut out = [0u8; LoginRspRepr::LEN];
        rsp.emit(&mut LoginRspPacket::new_unchecked(&mut out[..]));
        let terminated = if terminate { same } else { Vec::new() };
        for &old in &terminated {
            self.close(old, "replaced by a new login from the same initiator port");
        }
        self.chans.insert(
            id,
            Channel {
                initiator: req.initiator_port_id,
                peer: peer.to_string(),
                req_lim: credits,
                pending_delta: 0,
                max_ti_iu_len: req.req_it_iu_len,
                imm_offset: if imm { req.imm_data_offset } else { 0 },
                out: VecDeque::new(),
                tasks: HashMap::new(),
                wrs: HashMap::new(),
                next_id: 1,
                commands: 0,
                bytes_in: 0,
                bytes_out: 0,
                dead: false,
            },
        );
        self.counters.logins += 1;
        let open = self.acl_note();
        self.say(&format!(
            "login: channel {} initiator {who} from {peer}: {credits} credits, IU {} B, immediate data {}{}{open}",
            id.0,
            req.req_it_iu_len,
            if imm { "on" } else { "off" },
            if terminated.is_empty() { String::new() } else { format!(", replaced {} old channel(s)", terminated.len()) },
        ));
        LoginOutcome::Accepted {
            chan: id,
            rsp: out,
            terminated,
        }
    }

    fn acl_note(&self) -> &'static str {
        if self.cfg.acl.is_none() {
            " (open ACL)"
        } else {
            ""
        }
    }

    /// Closes a channel (DREQ either way, link loss, replacement): syncs the
    /// initiator's overlays and prints one line.
    pub fn close(&mut self, ch: ChanId, why: &str) {
        let Some(c) = self.chans.remove(&ch) else {
            return;
        };
        self.counters.logouts += 1;
        let still = self.chans.values().any(|o| o.initiator == c.initiator);
        if !still {
            for l in self.luns.iter_mut() {
                let _ = l.sync(&c.initiator);
            }
        }
        self.say(&format!(
            "logout: channel {} initiator 0x{} from {}: {why}; {} commands, {} B in, {} B out",
            ch.0, c.initiator, c.peer, c.commands, c.bytes_in, c.bytes_out
        ));
    }

    /// Handles one IU the initiator sent on `ch`, then posts what it can.
    pub fn on_message(&mut self, ch: ChanId, msg: &[u8], io: &mut dyn Io) {
        if !self.chans.contains_key(&ch) {
            return;
        }
        match iu_type(msg) {
            Ok(IuType::Cmd) => self.on_cmd(ch, msg),
            Ok(IuType::TskMgmt) => self.on_tsk_mgmt(ch, msg),
            Ok(IuType::ILogout) => {
                let c = self.chans.get_mut(&ch).expect("checked");
                c.out.push_back(Op::Disconnect);
                let who = c.initiator;
                self.say(&format!("channel {}: SRP_I_LOGOUT from 0x{who}", ch.0));
            }
            // Answers to requests we never send: ib_srpt ignores them.
            Ok(IuType::CredRsp | IuType::AerRsp) => {}
            _ => self.counters.bad_ius += 1,
        }
        self.flush(ch, io);
    }

    /// Takes a credit for a request; `false` on an overrun.
    fn take_credit(&mut self, ch: ChanId) -> bool {
        let c = self.chans.get_mut(&ch).expect("checked");
        if c.req_lim == 0 {
            self.counters.overruns += 1;
            return false;
        }
        c.req_lim -= 1;
        true
    }

    fn trace(&mut self, ch: ChanId, s: impl FnOnce() -> String) {
        if self.cfg.verbose {
            let line = format!("  ch {} {}", ch.0, s());
            self.say(&line);
        }
    }

    fn on_cmd(&mut self, ch: ChanId, msg: &[u8]) {
        self.counters.commands += 1;
        let tag = Tag(msg
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 8]));
        if msg.len() < 16 {
            self.counters.bad_ius += 1;
            return;
        }
        if !self.take_credit(ch) {
            // No credit: TASK SET FULL, and no credit back (it had none).
            let mut r = RspRepr::new(tag, Status::TaskSetFull);
            r.req_lim_delta = 0;
            self.queue_rsp_raw(ch, &r);
            self.trace(ch, || {
                format!("tag {tag} without a credit -> TASK SET FULL")
            });
            return;
        }
        self.chans.get_mut(&ch).expect("checked").commands += 1;
        let imm = self.chans[&ch].imm_offset;
        let Ok(p) = CmdPacket::new_checked(msg) else {
            self.counters.bad_ius += 1;
            return self.finish(
                ch,
                tag,
                CmdSolNot::empty(),
                Reply::check(scsi::sense::INVALID_FIELD_IN_IU),
                0,
                (0, 0),
                "malformed SRP_CMD".into(),
            );
        };
        let cmd = match CmdRepr::parse(&p, imm) {
            Ok(c) => c,
            Err(_) => {
                self.counters.bad_ius += 1;
                return self.finish(
                    ch,
                    tag,
                    CmdSolNot::empty(),
                    Reply::check(scsi::sense::INVALID_FIELD_IN_IU),
                    0,
                    (0, 0),
                    "bad SRP_CMD descriptors".into(),
                );
            }
        };
        let (din, dout) = match (descriptors(&cmd.data_in), descriptors(&cmd.data_out)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => {
                self.counters.bad_ius += 1;
                return self.finish(
                    ch,
                    tag,
                    cmd.sol_not,
                    Reply::check(scsi::sense::INVALID_FIELD_IN_IU),
                    0,
                    (0, 0),
                    "unsupported descriptor table".into(),
                );
            }
        };
        let din_len: u64 = din.iter().map(|d| u64::from(d.len)).sum();
        let dout_len: u64 = match cmd.data_out {
            DataBuffer::Immediate { data, .. } => data.len() as u64,
            _ => dout.iter().map(|d| u64::from(d.len)).sum(),
        };
        let trace = if self.cfg.verbose {
            format!("tag {} lun {} {}", tag, cmd.lun, scsi::describe(cmd.cdb))
        } else {
            String::new()
        };
        let who = self.chans[&ch].initiator;
        let ident = self.cfg.identity;
        let exec = scsi::execute(
            &mut self.luns,
            &ident,
            &who,
            cmd.lun,
            cmd.cdb,
            din_len,
            dout_len,
        );
        match cmd.cdb.first() {
            Some(0x28 | 0x88) => self.counters.reads += 1,
            Some(0x2A | 0x8A) => self.counters.writes += 1,
            Some(0x35 | 0x91) => self.counters.syncs += 1,
            _ => {}
        }
        match exec {
            Exec::Done(reply) => {
                let c = self.chans.get_mut(&ch).expect("checked");
                let mut left: &[u8] = &reply.data;
                for d in &din {
                    if left.is_empty() {
                        break;
                    }
                    let n = left.len().min(d.len as usize);
                    let wr = c.next_id;
                    c.next_id += 1;
                    c.wrs.insert(wr, Wr::DataIn);
                    c.out.push_back(Op::Write {
                        wr,
                        data: left[..n].to_vec(),
                        va: d.va,
                        rkey: d.rkey,
                    });
                    left = &left[n..];
                }
                c.bytes_in += reply.data.len() as u64;
                self.counters.bytes_in += reply.data.len() as u64;
                self.finish(ch, tag, cmd.sol_not, reply, din_len, (dout_len, 0), trace);
            }
            Exec::NeedData(w) => {
                if let DataBuffer::Immediate { data, .. } = cmd.data_out {
                    let reply = scsi::finish_write(&mut self.luns, &who, &w, data);
                    if reply.status == Status::Good {
                        self.count_out(ch, data.len() as u64);
                    }
                    return self.finish(
                        ch,
                        tag,
                        cmd.sol_not,
                        reply,
                        din_len,
                        (dout_len, dout_len),
                        trace,
                    );
                }
                let c = self.chans.get_mut(&ch).expect("checked");
                let task_id = c.next_id;
                c.next_id += 1;
                let mut off = 0usize;
                let mut parts = 0;
                for d in &dout {
                    if d.len == 0 {
                        continue;
                    }
                    let wr = c.next_id;
                    c.next_id += 1;
                    c.wrs.insert(
                        wr,
                        Wr::DataOut {
                            task: task_id,
                            offset: off,
                        },
                    );
                    c.out.push_back(Op::Read {
                        wr,
                        va: d.va,
                        rkey: d.rkey,
                        len: d.len,
                    });
                    off += d.len as usize;
                    parts += 1;
                }
                c.tasks.insert(
                    task_id,
                    Task {
                        tag,
                        lun: cmd.lun,
                        sol: cmd.sol_not,
                        req: w,
                        buf: vec![0u8; w.len as usize],
                        parts_left: parts,
                        aborted: false,
                        failed: false,
                        trace,
                    },
                );
            }
        }
    }

    fn count_out(&mut self, ch: ChanId, n: u64) {
        self.counters.bytes_out += n;
        if let Some(c) = self.chans.get_mut(&ch) {
            c.bytes_out += n;
        }
    }

    /// Queues the SRP_RSP for a finished command.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        ch: ChanId,
        tag: Tag,
        sol: CmdSolNot,
        reply: Reply,
        din_len: u64,
        (dout_len, dout_used): (u64, u64),
        trace: String,
    ) {
        let mut sense = Vec::new();
        if let Some(s) = reply.sense {
            sense = scsi::sense_bytes(s, false);
        }
        if reply.status != Status::Good {
            self.counters.check_conditions += 1;
        }
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        let data_in_residual = if reply.full_len > din_len {
            Residual::Overflow(clamp(reply.full_len - din_len))
        } else if reply.full_len < din_len {
            Residual::Underflow(clamp(din_len - reply.full_len))
        } else {
            Residual::None
        };
        let data_out_residual = if dout_len > dout_used {
            Residual::Underflow(clamp(dout_len - dout_used))
        } else {
            Residual::None
        };
        let good = reply.status == Status::Good;
        let r = RspRepr {
            solicited: (good && sol.contains(CmdSolNot::SCSOLNT))
                || (!good && sol.contains(CmdSolNot::UCSOLNT)),
            req_lim_delta: 1,
            tag,
            status: reply.status,
            data_out_residual,
            data_in_residual,
            response_data: None,
            sense_data: if sense.is_empty() { None } else { Some(&sense) },
        };
        if self.cfg.verbose {
            let st = match reply.sense {
                Some(s) => format!("{:?} ({s})", reply.status),
                None => format!("{:?}", reply.status),
            };
            let line = format!("{trace} -> {st}, {} B", reply.data.len());
            self.trace(ch, || line);
        }
        self.queue_rsp(ch, r);
    }

    /// Queues an SRP_RSP that returns one credit plus any owed.
    fn queue_rsp(&mut self, ch: ChanId, mut r: RspRepr<'_>) {
        let Some(c) = self.chans.get_mut(&ch) else {
            return;
        };
        r.req_lim_delta = 1 + c.pending_delta;
        c.pending_delta = 0;
        self.queue_rsp_raw(ch, &r);
    }

    fn queue_rsp_raw(&mut self, ch: ChanId, r: &RspRepr<'_>) {
        let Some(c) = self.chans.get_mut(&ch) else {
            return;
        };
        // Sense is cut to what fits in max_ti_iu_len.
        let mut r = *r;
        if let Some(s) = r.sense_data {
            let room = (c.max_ti_iu_len as usize)
                .saturating_sub(RSP_HEADER_LEN + r.response_data.map_or(0, <[u8]>::len));
            r.sense_data = Some(&s[..s.len().min(room)]);
        }
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut RspPacket::new_unchecked(&mut buf[..]));
        c.req_lim = c.req_lim.saturating_add(r.req_lim_delta);
        c.out.push_back(Op::Send(buf));
    }

    fn on_tsk_mgmt(&mut self, ch: ChanId, msg: &[u8]) {
        self.counters.task_mgmt += 1;
        let Ok(t) = TskMgmtPacket::new_checked(msg).and_then(|p| TskMgmtRepr::parse(&p)) else {
            self.counters.bad_ius += 1;
            return;
        };
        if !self.take_credit(ch) {
            let mut r = RspRepr::new(t.tag, Status::TaskSetFull);
            r.req_lim_delta = 0;
            return self.queue_rsp_raw(ch, &r);
        }
        let c = self.chans.get_mut(&ch).expect("checked");
        let mut aborted = 0u32;
        let code = match t.function {
            TaskMgmtFunction::AbortTask => {
                for task in c.tasks.values_mut() {
                    if task.tag == t.task_tag && !task.aborted {
                        task.aborted = true;
                        aborted += 1;
                    }
                }
                TaskMgmtResponse::Complete
            }
            TaskMgmtFunction::AbortTaskSet
            | TaskMgmtFunction::ClearTaskSet
            | TaskMgmtFunction::LogicalUnitReset => {
                for task in c.tasks.values_mut() {
                    if task.lun == t.lun && !task.aborted {
                        task.aborted = true;
                        aborted += 1;
                    }
                }
                TaskMgmtResponse::Complete
            }
            _ => TaskMgmtResponse::NotSupported,
        };
        // The aborted commands get no SRP_RSP: their credits ride on this one.
        c.pending_delta += aborted;
        let data = [0, 0, 0, u8::from(code)];
        let mut r = RspRepr::new(t.tag, Status::Good);
        r.response_data = Some(&data);
        self.trace(ch, || {
            format!(
                "task management {:?} tag {} -> {:?}, {aborted} aborted",
                t.function, t.task_tag, code
            )
        });
        self.queue_rsp(ch, r);
    }

    /// A work request of `ch` completed. `data` is the bytes of an RDMA READ.
    pub fn on_completion(
        &mut self,
        ch: ChanId,
        wr_id: u64,
        ok: bool,
        data: Option<&[u8]>,
        io: &mut dyn Io,
    ) {
        let Some(c) = self.chans.get_mut(&ch) else {
            return;
        };
        let Some(w) = c.wrs.remove(&wr_id) else {
            return;
        };
        if !ok {
            self.counters.rdma_errors += 1;
        }
        if let Wr::DataOut { task, offset } = w {
            let Some(t) = c.tasks.get_mut(&task) else {
                return;
            };
            match (ok, data) {
                (true, Some(d)) if offset + d.len() <= t.buf.len() => {
                    t.buf[offset..offset + d.len()].copy_from_slice(d)
                }
                _ => t.failed = true,
            }
            t.parts_left -= 1;
            if t.parts_left == 0 {
                let t = c.tasks.remove(&task).expect("present");
                if t.aborted {
                    self.trace(ch, || format!("{} aborted", t.trace));
                } else if t.failed {
                    // The QP is failing too; answer anyway in case it is not.
                    self.finish(
                        ch,
                        t.tag,
                        t.sol,
                        Reply::check(scsi::sense::WRITE_ERROR),
                        0,
                        (t.req.len, 0),
                        t.trace,
                    );
                } else {
                    let who = c.initiator;
                    let reply = scsi::finish_write(&mut self.luns, &who, &t.req, &t.buf);
                    if reply.status == Status::Good {
                        self.count_out(ch, t.req.len);
                    }
                    self.finish(ch, t.tag, t.sol, reply, 0, (t.req.len, t.req.len), t.trace);
                }
            }
        }
        self.flush(ch, io);
    }

    /// Posts queued work of `ch` while the fabric has room.
    pub fn flush(&mut self, ch: ChanId, io: &mut dyn Io) {
        let Some(c) = self.chans.get_mut(&ch) else {
            return;
        };
        if c.dead {
            c.out.clear();
            return;
        }
        while let Some(op) = c.out.front() {
            if !matches!(op, Op::Disconnect) && io.room() == 0 {
                break;
            }
            let r = match op {
                Op::Send(b) => io.send(b),
                Op::Write { wr, data, va, rkey } => io.rdma_write(*wr, data, *va, *rkey),
                Op::Read { wr, va, rkey, len } => io.rdma_read(*wr, *va, *rkey, *len),
                Op::Disconnect => {
                    io.disconnect();
                    c.dead = true;
                    Ok(())
                }
            };
            match r {
                Ok(()) => {
                    c.out.pop_front();
                }
                Err(IoError::Busy) => break,
                Err(IoError::Dead) => {
                    c.dead = true;
                    c.out.clear();
                    break;
                }
            }
        }
    }

    /// A multi-line description of the LUNs.
    pub fn describe_luns(&self) -> String {
        let mut s = String::new();
        for l in &self.luns {
            let c = l.config();
            let _ = writeln!(
                s,
                "  LUN {}: {} ({} blocks of {} B = {} B{}{}{})",
                l.index(),
                c.path.display(),
                l.blocks(),
                l.block_size(),
                l.size(),
                if c.read_only { ", read-only" } else { "" },
                match &c.cow_dir {
                    Some(d) => format!(", copy-on-write per initiator in {}", d.display()),
                    None => String::new(),
                },
                if l.trailing > 0 {
                    format!(", last {} B ignored", l.trailing)
                } else {
                    String::new()
                },
            );
        }
        s
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("luns", &self.luns.len())
            .field("channels", &self.chans.len())
            .finish()
    }
}
