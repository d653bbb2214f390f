//! One SRP login session over a [`Channel`] (fabric-wire.md §4): the
//! SRP_LOGIN_REQ that rides in the CM REQ, the LOGIN_RSP/REJ that comes back
//! in the REP/REJ, then SRP_CMD out and SRP_RSP in, with tags, the request
//! limit (credits) and a fixed table of outstanding commands.
//!
//! What it owns:
//! - **Login.** [`SessionConfig`] carries the port IDs (initiator: as Linux
//!   ib_srp derives it from our MAC, [`crate::uri::initiator_port_id`];
//!   target: `srpt_service_guid` twice, [`crate::uri::SrpUri::target_port_id`]),
//!   `req_it_iu_len`, direct descriptors, and whether to ask for SRP-2
//!   immediate data. The LOGIN_RSP gives the credits, the IU length limits and
//!   whether immediate data was granted ([`LoginInfo`]); a LOGIN_REJ becomes
//!   [`SessionError::LoginRejected`] with the target's reason.
//! - **Commands.** [`Session::start`] registers the caller's buffer with the
//!   channel (data-in: the target RDMA WRITEs straight into it; data-out: the
//!   target RDMA READs it) or puts small data-out inline as immediate data,
//!   sends the SRP_CMD and returns a [`CmdHandle`]. `SLOTS` commands can be
//!   outstanding; responses may come back in any order.
//! - **Credits.** The readiness [`Session::window`] is 0 before login, while
//!   all slots are busy, and while the request limit is at its reserve
//!   ([`CREDIT_RESERVE`], kept for task management as Linux does).
//! - **Target-initiated IUs.** SRP_CRED_REQ and SRP_AER_REQ add their credits
//!   and are answered (SRP_CRED_RSP / SRP_AER_RSP, queued if the send queue is
//!   full); SRP_T_LOGOUT ends the session with its reason.
//! - **Logout.** ib_srpt ignores SRP_I_LOGOUT, so [`Session::logout`] is a
//!   CM DREQ through [`Channel::disconnect`], as Linux does.
//!
//! Malformed IUs, responses with unknown tags and IUs that make no sense in
//! the current state are counted ([`SessionCounters`]) and dropped; nothing
//! a target sends can make this code panic.

use core::fmt;

use crate::channel::{Access, Channel, ChannelError, ChannelEvent, CloseReason, RemoteRegion};
use crate::time::Instant;
use crate::uri::{initiator_port_id, SrpUri};
use crate::wire::eth::Address as EthernetAddress;
use crate::wire::scsi::{Lun, Sense, Status};
use crate::wire::srp::{
    AerRspRepr, BufferFormats, CmdPacket, CmdRepr, CmdSolNot, CredRspRepr, DataBuffer, DirectDesc,
    IuRepr, LoginRejPacket, LoginRejReason, LoginRejRepr, LoginReqFlags, LoginReqPacket,
    LoginReqRdmaPacket, LoginReqRepr, LoginRspFlags, LoginRspPacket, LoginRspRepr,
    MultiChannelAction, MultiChannelResult, PortId, Residual, ShortPacket, TLogoutReason, Tag,
    TaskAttr, TaskMgmtFunction, TskMgmtPacket, TskMgmtRepr, CMD_HEADER_LEN, LINUX_IMM_DATA_OFFSET,
    MIN_IT_IU_LEN, SHORT_IU_LEN,
};

/// Credits kept back from SRP_CMDs for task management, as Linux ib_srp
/// does (`SRP_TSK_MGMT_SQ_SIZE`; fabric-wire.md §4.8). Policy.
pub const CREDIT_RESERVE: u32 = 1;

/// Channel events handled per [`Session::poll`] at most (policy: bounded
/// work per call).
pub const EVENT_BUDGET: usize = 32;

/// Answers (CRED_RSP, AER_RSP) waiting for a free send slot (policy; more
/// are dropped and counted: ib_srpt ignores them anyway).
const REPLY_QUEUE: usize = 4;

/// Largest CDB the session sends: the 16-byte CDB field, no additional CDB.
pub const MAX_CDB_LEN: usize = 16;

/// A direct-descriptor SRP_CMD is at most this long (header + one
/// descriptor); the session keeps a buffer of `IU` bytes for immediate data.
const DIRECT_IU_LEN: usize = CMD_HEADER_LEN + DirectDesc::LEN;

/// Which SRP_LOGIN_REQ layout goes into the CM REQ private data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginLayout {
    /// The 56-byte `srp_login_req_rdma` layout that ib_srpt expects over
    /// rdma_cm (RoCE). The channel puts the 36-byte rdma_cm header in front.
    RdmaCm,
    /// The classic 64-byte layout (native IB CM, iPXE).
    Classic,
}

/// What to ask for at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our port ID: [`crate::uri::initiator_port_id`] of our MAC, so the
    /// ACL written for the OS initiator also admits us.
    pub initiator_port_id: PortId,
    /// The target's port ID: `srpt_service_guid` twice.
    pub target_port_id: PortId,
    /// Largest IU we send; ib_srpt echoes it as max_ti_iu_len, so it also
    /// bounds the SRP_RSPs (and sense data) we receive. Clamped to
    /// `64..=IU` by [`Session::new`].
    pub req_it_iu_len: u32,
    /// Ask for SRP-2 immediate data (small writes travel inside the SRP_CMD).
    pub request_immediate: bool,
    /// Where immediate data starts in an SRP_CMD (Linux: 68).
    pub imm_data_offset: u16,
    /// What the target should do with other channels of our I_T nexus
    /// (`Single` drops them: the OS login replaces the ROM's).
    pub multi_channel: MultiChannelAction,
    /// Login request layout.
    pub layout: LoginLayout,
}

impl SessionConfig {
    /// What Linux ib_srp asks for over rdma_cm (the golden capture):
    /// req_it_iu_len 8260, direct and indirect formats required, immediate
    /// data at offset 68, single channel.
    pub const fn new(initiator_port_id: PortId, target_port_id: PortId) -> SessionConfig {
        SessionConfig {
            initiator_port_id,
            target_port_id,
            req_it_iu_len: 8260,
            request_immediate: true,
            imm_data_offset: LINUX_IMM_DATA_OFFSET,
            multi_channel: MultiChannelAction::Single,
            layout: LoginLayout::RdmaCm,
        }
    }
}

impl SessionConfig {
    /// The login to the target a boot URI names: our port ID from our MAC
    /// (as Linux ib_srp forms it, so one srpt ACL admits the ROM and the
    /// OS), the target's from the URI's `guid=` or else the EUI-64 of the
    /// target's MAC (learnt by ARP), Linux's other parameters.
    pub fn for_uri(
        uri: &SrpUri,
        our_mac: EthernetAddress,
        target_mac: EthernetAddress,
    ) -> SessionConfig {
        SessionConfig::new(
            initiator_port_id(0, our_mac),
            uri.target_port_id(target_mac),
        )
    }
}

/// What the target granted at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginInfo {
    /// Initial request limit (ib_srpt over rxe: 128).
    pub initial_credits: u32,
    /// Largest IU the target accepts from us.
    pub max_it_iu_len: u32,
    /// Largest IU the target sends us.
    pub max_ti_iu_len: u32,
    /// Buffer formats the target supports.
    pub buffer_formats: BufferFormats,
    /// What happened to other channels of our nexus.
    pub multi_channel: MultiChannelResult,
    /// Largest immediate data-out in one SRP_CMD, 0 when not granted.
    pub max_immediate: u32,
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// [`Session::login`] not called yet.
    Idle,
    /// CM REQ with SRP_LOGIN_REQ sent; waiting for REP/REJ.
    LoggingIn,
    /// Logged in: commands may be started (within the window).
    LoggedIn,
    /// [`Session::logout`] called; waiting for the channel to close.
    LoggingOut,
    /// Over: `None` after our own logout, else why it ended.
    Closed(Option<SessionError>),
}

/// Why a session failed or ended. Each variant is one failure site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// The channel refused to start connecting.
    Connect(ChannelError),
    /// The channel closed before login completed (ARP timeout, CM timeout,
    /// transport error, CM REJ without an SRP_LOGIN_REJ, …).
    LoginFailed(CloseReason),
    /// The CM REJ carried something that is not an SRP_LOGIN_REJ.
    CmRejected(u16),
    /// The target sent SRP_LOGIN_REJ.
    LoginRejected(LoginRejReason),
    /// The CM REP private data is not a valid SRP_LOGIN_RSP.
    BadLoginResponse,
    /// The target does not support direct data buffer descriptors.
    NoDirectDescriptors,
    /// The target's max_it_iu_len is too small for our SRP_CMDs.
    IuTooSmall(u32),
    /// The target logged us out (SRP_T_LOGOUT).
    TargetLogout(TLogoutReason),
    /// The channel closed while logged in.
    ConnectionLost(CloseReason),
    /// The command was outstanding when we logged out.
    LoggedOut,
    /// We aborted the command ([`Session::abort`]) and the target confirmed.
    Aborted,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Connect(e) => write!(f, "could not start connecting: {e:?}"),
            SessionError::LoginFailed(r) => write!(f, "login failed: {}", CloseText(*r)),
            SessionError::CmRejected(r) => {
                write!(
                    f,
                    "CM REJ reason {r} ({}) without SRP_LOGIN_REJ",
                    cm_rej_text(*r)
                )
            }
            SessionError::LoginRejected(r) => {
                write!(f, "SRP login rejected (0x{:08x}): {r}", u32::from(*r))
            }
            SessionError::BadLoginResponse => f.write_str("malformed SRP_LOGIN_RSP"),
            SessionError::NoDirectDescriptors => {
                f.write_str("target does not support direct buffer descriptors")
            }
            SessionError::IuTooSmall(n) => {
                write!(f, "target's max_it_iu_len {n} is smaller than an SRP_CMD")
            }
            SessionError::TargetLogout(r) => write!(f, "target logged us out: {r}"),
            SessionError::ConnectionLost(r) => write!(f, "connection lost: {}", CloseText(*r)),
            SessionError::LoggedOut => f.write_str("session logged out"),
            SessionError::Aborted => f.write_str("command aborted (SRP_TSK_MGMT ABORT TASK)"),
        }
    }
}

/// Text of a [`CloseReason`].
struct CloseText(CloseReason);

impl fmt::Display for CloseText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            CloseReason::Local => f.write_str("closed locally"),
            CloseReason::Remote => f.write_str("target disconnected (CM DREQ)"),
            CloseReason::ArpTimeout => f.write_str("ARP timeout: target IP did not answer"),
            CloseReason::CmTimeout => f.write_str("CM timeout: no REP to our REQ"),
            CloseReason::Rejected(r) => write!(f, "CM REJ reason {r} ({})", cm_rej_text(r)),
            CloseReason::TransportError => {
                f.write_str("RC transport error (retries exhausted or fatal NAK)")
            }
        }
    }
}

/// Names of the IB CM REJ reasons one meets when logging in to ib_srpt.
fn cm_rej_text(reason: u16) -> &'static str {
    match reason {
        1 => "no QP",
        2 => "no EEC",
        3 => "no resources",
        4 => "timeout",
        5 => "unsupported request",
        6 => "invalid comm ID",
        7 => "invalid comm instance",
        8 => "invalid service ID: nothing listens on that rdma_cm port",
        9 => "invalid transport type",
        10 => "stale connection",
        11 => "RDC does not exist",
        13 => "invalid primary GID",
        26 => "invalid packet MTU",
        28 => "consumer defined: the target refused the login",
        _ => "see IBA 12.6.7.2",
    }
}

/// Why [`Session::start`] could not start a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// Readiness window closed (no credit, slot, send slot or memory region
    /// right now): poll and try again.
    Busy,
    /// Not logged in (yet, or any more): see [`Session::state`].
    NotLoggedIn,
    /// CDB empty or longer than [`MAX_CDB_LEN`].
    BadCdb,
    /// Immediate data requested but not granted, or larger than
    /// [`LoginInfo::max_immediate`].
    ImmediateTooLarge,
    /// [`Session::abort`]: the handle names no outstanding command.
    NotOutstanding,
    /// The channel refused a call for another reason.
    Channel(ChannelError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Busy => f.write_str("no credit or command slot free"),
            StartError::NotLoggedIn => f.write_str("not logged in"),
            StartError::BadCdb => f.write_str("CDB length out of range"),
            StartError::ImmediateTooLarge => f.write_str("immediate data not granted or too large"),
            StartError::NotOutstanding => f.write_str("no such outstanding command"),
            StartError::Channel(e) => write!(f, "channel error: {e:?}"),
        }
    }
}

/// The data phase of a command. Addresses are in the platform's
/// [`Memory`](crate::memory::Memory) terms (physical in the ROM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataBuf<'a> {
    /// No data.
    None,
    /// Data-in: the target RDMA WRITEs into `[addr, addr + len)`.
    In {
        /// Start address.
        addr: u64,
        /// Length in bytes.
        len: u32,
    },
    /// Data-out: the target RDMA READs `[addr, addr + len)`.
    Out {
        /// Start address.
        addr: u64,
        /// Length in bytes.
        len: u32,
    },
    /// Data-out carried inside the SRP_CMD (needs immediate data granted).
    Immediate(&'a [u8]),
}

/// A SCSI command as the session sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    /// Logical unit.
    pub lun: Lun,
    /// CDB, 1..=16 bytes (zero-padded to 16 on the wire).
    pub cdb: &'a [u8],
    /// Data phase.
    pub data: DataBuf<'a>,
}

/// How a command ended at the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// SCSI status.
    pub status: Status,
    /// Decoded sense data, when the target sent some that parses.
    pub sense: Option<Sense>,
    /// Sense data was present (even if it did not parse).
    pub sense_present: bool,
    /// Data-in residual.
    pub data_in_residual: Residual,
    /// Data-out residual.
    pub data_out_residual: Residual,
}

/// Names one started command; taken back with [`Session::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CmdHandle {
    slot: u16,
    tag: u64,
}

impl CmdHandle {
    /// The SRP tag of the command (for traces).
    pub fn tag(&self) -> Tag {
        Tag::from_u64(self.tag)
    }
}

/// Things worth counting (nothing of this stops the session).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// SRP_CMDs sent.
    pub commands: u64,
    /// SRP_RSPs matched to a command.
    pub responses: u64,
    /// IUs that did not parse (dropped).
    pub malformed: u32,
    /// SRP_RSPs whose tag matches no outstanding command (credits taken).
    pub unknown_tag: u32,
    /// Valid IUs that make no sense here (e.g. an SRP_CMD from the target).
    pub unexpected: u32,
    /// SRP_CRED_REQs received.
    pub cred_req: u32,
    /// SRP_AER_REQs received.
    pub aer_req: u32,
    /// CRED_RSP/AER_RSP answers dropped because the reply queue was full.
    pub replies_dropped: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Outstanding,
    /// ABORT TASK sent with this tag; the buffer stays registered until the
    /// target answers.
    Aborting(u64),
    Done(Result<Completion, SessionError>),
}

impl SlotState {
    /// The target may still answer for this slot.
    fn busy(&self) -> bool {
        matches!(self, SlotState::Outstanding | SlotState::Aborting(_))
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    state: SlotState,
    tag: u64,
    lun: Lun,
    /// Registered buffer: deregistered once the command is no longer
    /// outstanding (the target is done with it when SRP_RSP arrives).
    region: Option<RemoteRegion>,
}

const FREE_SLOT: Slot = Slot {
    state: SlotState::Free,
    tag: 0,
    lun: Lun::ZERO,
    region: None,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Cred(Tag),
    Aer(Tag),
}

/// Everything but the channel, so a channel event can be handled while the
/// channel is borrowed.
struct Inner<const SLOTS: usize> {
    config: SessionConfig,
    state: SessionState,
    login: Option<LoginInfo>,
    credits: u32,
    slots: [Slot; SLOTS],
    next_tag: u64,
    replies: [Option<Reply>; REPLY_QUEUE],
    want_disconnect: bool,
    counters: SessionCounters,
    last_aer: Option<(Lun, Option<Sense>)>,
}

/// An SRP initiator session over channel `C` with at most `SLOTS` commands
/// outstanding and an `IU`-byte buffer for SRP_CMDs carrying immediate data.
pub struct Session<C: Channel, const SLOTS: usize = 8, const IU: usize = 8260> {
    chan: C,
    inner: Inner<SLOTS>,
    iu: [u8; IU],
}

impl<C: Channel, const SLOTS: usize, const IU: usize> Session<C, SLOTS, IU> {
    /// A session on `chan` (which must be idle). `config.req_it_iu_len` is
    /// clamped to `64..=IU` (never less than a direct-descriptor SRP_CMD).
    pub fn new(chan: C, mut config: SessionConfig) -> Self {
        let max = u32::try_from(IU).unwrap_or(u32::MAX).max(MIN_IT_IU_LEN);
        config.req_it_iu_len = config.req_it_iu_len.clamp(MIN_IT_IU_LEN, max);
        Session {
            chan,
            inner: Inner {
                config,
                state: SessionState::Idle,
                login: None,
                credits: 0,
                slots: [FREE_SLOT; SLOTS],
                next_tag: 1,
                replies: [None; REPLY_QUEUE],
                want_disconnect: false,
                counters: SessionCounters::default(),
                last_aer: None,
            },
            iu: [0; IU],
        }
    }

    /// The configuration (with `req_it_iu_len` as clamped).
    pub fn config(&self) -> &SessionConfig {
        &self.inner.config
    }

    /// The channel (for its counters, or the memory behind it).
    pub fn channel(&self) -> &C {
        &self.chan
    }

    /// The channel, mutably.
    pub fn channel_mut(&mut self) -> &mut C {
        &mut self.chan
    }

    /// Gives the channel back.
    pub fn into_channel(self) -> C {
        self.chan
    }

    /// Where the session is.
    pub fn state(&self) -> SessionState {
        self.inner.state
    }

    /// What the target granted, once logged in.
    pub fn login_info(&self) -> Option<LoginInfo> {
        self.inner.login
    }

    /// Current request limit (credits) as we account it.
    pub fn credits(&self) -> u32 {
        self.inner.credits
    }

    /// Counters.
    pub fn counters(&self) -> &SessionCounters {
        &self.inner.counters
    }

    /// The last SRP_AER_REQ's LUN and sense, if any came.
    pub fn last_aer(&self) -> Option<(Lun, Option<Sense>)> {
        self.inner.last_aer
    }

    /// Commands outstanding at the target.
    pub fn outstanding(&self) -> usize {
        self.inner.slots.iter().filter(|s| s.state.busy()).count()
    }

    /// Largest immediate data-out one command can carry (0: not granted).
    pub fn max_immediate(&self) -> u32 {
        self.inner.login.map_or(0, |l| l.max_immediate)
    }

    /// The readiness window: how many commands [`Session::start`] would take
    /// right now. 0 until logged in, while every slot is taken, while the
    /// request limit is at its reserve, or while the channel's send queue is
    /// full.
    pub fn window(&self) -> usize {
        if !matches!(self.inner.state, SessionState::LoggedIn) {
            return 0;
        }
        let free = self
            .inner
            .slots
            .iter()
            .filter(|s| matches!(s.state, SlotState::Free))
            .count();
        let credits = self.inner.credits.saturating_sub(CREDIT_RESERVE) as usize;
        free.min(credits).min(self.chan.send_window())
    }

    /// Starts the login: the SRP_LOGIN_REQ goes out in the CM REQ.
    ///
    /// # Errors
    /// [`SessionError::Connect`] when the channel refuses (wrong state,
    /// private data too large); the session is then closed.
    pub fn login(&mut self, now: Instant) -> Result<(), SessionError> {
        if self.inner.state != SessionState::Idle {
            return Err(SessionError::Connect(ChannelError::WrongState));
        }
        let c = &self.inner.config;
        let flags = if c.request_immediate {
            LoginReqFlags::IMMED_REQUESTED
        } else {
            LoginReqFlags::empty()
        };
        let req = LoginReqRepr {
            tag: Tag::default(),
            req_it_iu_len: c.req_it_iu_len,
            // What Linux requires (0x0006); we only ever send direct ones.
            buffer_formats: BufferFormats::DIRECT | BufferFormats::INDIRECT,
            multi_channel: c.multi_channel,
            flags,
            imm_data_offset: if c.request_immediate {
                c.imm_data_offset
            } else {
                0
            },
            initiator_port_id: c.initiator_port_id,
            target_port_id: c.target_port_id,
        };
        let mut buf = [0u8; LoginReqRepr::LEN];
        let len = match c.layout {
            LoginLayout::RdmaCm => {
                req.emit_rdma(&mut LoginReqRdmaPacket::new_unchecked(&mut buf[..]));
                LoginReqRepr::RDMA_LEN
            }
            LoginLayout::Classic => {
                req.emit(&mut LoginReqPacket::new_unchecked(&mut buf[..]));
                LoginReqRepr::LEN
            }
        };
        match self.chan.connect(now, &buf[..len]) {
            Ok(()) => {
                self.inner.state = SessionState::LoggingIn;
                Ok(())
            }
            Err(e) => {
                let err = SessionError::Connect(e);
                self.inner.state = SessionState::Closed(Some(err));
                Err(err)
            }
        }
    }

    /// Starts a command.
    ///
    /// # Errors
    /// [`StartError::Busy`] when the window is closed (poll, then retry);
    /// the others say what is wrong with the command or the session.
    pub fn start(&mut self, now: Instant, cmd: &Command<'_>) -> Result<CmdHandle, StartError> {
        if !matches!(self.inner.state, SessionState::LoggedIn) {
            return Err(StartError::NotLoggedIn);
        }
        if cmd.cdb.is_empty() || cmd.cdb.len() > MAX_CDB_LEN {
            return Err(StartError::BadCdb);
        }
        let imm_offset = usize::from(self.inner.config.imm_data_offset);
        if let DataBuf::Immediate(data) = cmd.data {
            let fits = !data.is_empty()
                && data.len() <= self.max_immediate() as usize
                && imm_offset >= CMD_HEADER_LEN + 4
                && imm_offset + data.len() <= IU;
            if !fits {
                return Err(StartError::ImmediateTooLarge);
            }
        }
        if self.window() == 0 {
            return Err(StartError::Busy);
        }
        let Some(slot) = self
            .inner
            .slots
            .iter()
            .position(|s| matches!(s.state, SlotState::Free))
        else {
            return Err(StartError::Busy);
        };

        // Register the buffer (the only resource that can still run out).
        let region = match cmd.data {
            DataBuf::In { addr, len } if len > 0 => Some((addr, len, true)),
            DataBuf::Out { addr, len } if len > 0 => Some((addr, len, false)),
            _ => None,
        };
        let region = match region {
            None => None,
            Some((addr, len, data_in)) => {
                let access = Access {
                    remote_write: data_in,
                    remote_read: !data_in,
                };
                match self.chan.register(addr, len, access) {
                    Ok(r) => Some(r),
                    Err(ChannelError::NoResources) | Err(ChannelError::Busy) => {
                        return Err(StartError::Busy)
                    }
                    Err(e) => return Err(StartError::Channel(e)),
                }
            }
        };
        let desc = region.map(|r| {
            DataBuffer::Direct(DirectDesc {
                va: r.addr,
                rkey: r.rkey,
                len: r.len,
            })
        });
        let (data_out, data_in) = match cmd.data {
            DataBuf::In { .. } => (DataBuffer::None, desc.unwrap_or(DataBuffer::None)),
            DataBuf::Out { .. } => (desc.unwrap_or(DataBuffer::None), DataBuffer::None),
            DataBuf::Immediate(data) => (
                DataBuffer::Immediate {
                    offset: self.inner.config.imm_data_offset,
                    data,
                },
                DataBuffer::None,
            ),
            DataBuf::None => (DataBuffer::None, DataBuffer::None),
        };

        let tag = self.inner.next_tag;
        self.inner.next_tag = self.inner.next_tag.wrapping_add(1).max(1);
        let repr = CmdRepr {
            sol_not: CmdSolNot::empty(),
            tag: Tag::from_u64(tag),
            lun: cmd.lun,
            task_attr: TaskAttr::Simple,
            cdb: cmd.cdb,
            data_out,
            data_in,
        };
        let len = repr.buffer_len();
        let sent = if len <= DIRECT_IU_LEN {
            let mut small = [0u8; DIRECT_IU_LEN];
            repr.emit(&mut CmdPacket::new_unchecked(&mut small[..len]));
            self.chan.send(now, &small[..len])
        } else {
            // Only immediate data makes an IU this long; checked above.
            let buf = &mut self.iu[..len];
            repr.emit(&mut CmdPacket::new_unchecked(&mut *buf));
            self.chan.send(now, buf)
        };
        if let Err(e) = sent {
            if let Some(r) = region {
                self.chan.deregister(r);
            }
            return Err(match e {
                ChannelError::Busy => StartError::Busy,
                e => StartError::Channel(e),
            });
        }
        self.inner.credits -= 1; // window() > 0 proved credits > reserve
        self.inner.counters.commands += 1;
        self.inner.slots[slot] = Slot {
            state: SlotState::Outstanding,
            tag,
            lun: cmd.lun,
            region,
        };
        Ok(CmdHandle {
            slot: slot as u16,
            tag,
        })
    }

    /// Moves where an outstanding data-in command's bytes land: to
    /// `[addr, addr + its length)` (see [`Channel::rebind`]; the target keeps
    /// the address it was given). `NotOutstanding` once its response came —
    /// then all its data is at the old place.
    pub fn rebind(&mut self, h: CmdHandle, addr: u64) -> Result<(), StartError> {
        let region = match self.inner.slots.get(usize::from(h.slot)) {
            Some(s) if s.tag == h.tag && matches!(s.state, SlotState::Outstanding) => s.region,
            _ => return Err(StartError::NotOutstanding),
        };
        let Some(region) = region else {
            return Err(StartError::NotOutstanding);
        };
        self.chan.rebind(region, addr).map_err(StartError::Channel)
    }

    /// Aborts an outstanding command: an SRP_TSK_MGMT ABORT TASK goes out on
    /// the credit kept in reserve. The command then ends with
    /// [`SessionError::Aborted`] when the target answers the abort, or with
    /// its own response if that came first. Its buffer stays registered until
    /// then: revoking it while the target may still RDMA into it would draw
    /// a remote access NAK, which kills the RC connection. Reuse the buffer
    /// once the command has ended.
    ///
    /// # Errors
    /// `NotOutstanding` for a handle that is not outstanding; `Busy` when
    /// no credit or send slot is free (poll and retry); `NotLoggedIn`.
    pub fn abort(&mut self, now: Instant, h: CmdHandle) -> Result<(), StartError> {
        if !matches!(self.inner.state, SessionState::LoggedIn) {
            return Err(StartError::NotLoggedIn);
        }
        let slot = match self.inner.slots.get(usize::from(h.slot)) {
            Some(s) if s.tag == h.tag && matches!(s.state, SlotState::Outstanding) => *s,
            _ => return Err(StartError::NotOutstanding),
        };
        if self.inner.credits == 0 || self.chan.send_window() == 0 {
            return Err(StartError::Busy);
        }
        let tmf_tag = self.inner.next_tag;
        self.inner.next_tag = self.inner.next_tag.wrapping_add(1).max(1);
        let repr = TskMgmtRepr {
            sol_not: CmdSolNot::empty(),
            tag: Tag::from_u64(tmf_tag),
            lun: slot.lun,
            function: TaskMgmtFunction::AbortTask,
            task_tag: Tag::from_u64(slot.tag),
        };
        let mut b = [0u8; TskMgmtRepr::LEN];
        repr.emit(&mut TskMgmtPacket::new_unchecked(&mut b[..]));
        match self.chan.send(now, &b) {
            Ok(()) => {}
            Err(ChannelError::Busy) => return Err(StartError::Busy),
            Err(e) => return Err(StartError::Channel(e)),
        }
        self.inner.credits -= 1;
        self.inner.slots[usize::from(h.slot)].state = SlotState::Aborting(tmf_tag);
        Ok(())
    }

    /// Whether the command has finished (its outcome is ready to take).
    /// `false` for a handle that was already taken.
    pub fn is_done(&self, h: CmdHandle) -> bool {
        matches!(
            self.inner.slots.get(usize::from(h.slot)),
            Some(s) if s.tag == h.tag && matches!(s.state, SlotState::Done(_))
        )
    }

    /// Takes a finished command's outcome and frees its slot; `None` while it
    /// is outstanding (or for a handle already taken).
    pub fn take(&mut self, h: CmdHandle) -> Option<Result<Completion, SessionError>> {
        let s = self.inner.slots.get_mut(usize::from(h.slot))?;
        if s.tag != h.tag {
            return None;
        }
        match s.state {
            SlotState::Done(r) => {
                if let Some(region) = s.region.take() {
                    self.chan.deregister(region);
                }
                *s = FREE_SLOT;
                Some(r)
            }
            _ => None,
        }
    }

    /// Logs out: a CM DREQ (ib_srpt ignores SRP_I_LOGOUT). Commands still
    /// outstanding end with [`SessionError::LoggedOut`].
    pub fn logout(&mut self, now: Instant) {
        match self.inner.state {
            SessionState::LoggingIn | SessionState::LoggedIn => {
                self.inner.state = SessionState::LoggingOut;
                self.inner.fail_outstanding(SessionError::LoggedOut);
                self.release_regions();
                self.chan.disconnect(now);
            }
            SessionState::Idle => self.inner.state = SessionState::Closed(None),
            SessionState::LoggingOut | SessionState::Closed(_) => {}
        }
    }

    /// Starts over on the same channel after the session failed, was logged
    /// out, or hangs on a peer that went away: the connection is abandoned
    /// (no DREQ handshake), outstanding commands end with
    /// [`SessionError::LoggedOut`], our regions are released, and `login`
    /// may be called again. This is how a boot path re-logs in when the
    /// target restarts.
    pub fn reset(&mut self) {
        self.inner.fail_outstanding(SessionError::LoggedOut);
        self.release_regions();
        self.chan.abandon();
        let i = &mut self.inner;
        i.state = SessionState::Idle;
        i.login = None;
        i.credits = 0;
        i.replies = [None; REPLY_QUEUE];
        i.want_disconnect = false;
    }

    /// Does ready work: channel events (login answer, responses,
    /// target-initiated IUs), queued answers. Returns whether anything
    /// happened. Never blocks.
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut progress = self.flush_replies(now);
        for _ in 0..EVENT_BUDGET {
            let Session { chan, inner, .. } = self;
            if chan.poll(now, |ev| inner.on_event(ev)).is_none() {
                break;
            }
            progress = true;
            if self.inner.want_disconnect {
                self.inner.want_disconnect = false;
                self.release_regions();
                self.chan.disconnect(now);
            }
            self.release_regions();
            self.flush_replies(now);
        }
        progress
    }

    /// When [`Session::poll`] next has timed work (the channel's timers).
    pub fn poll_at(&self) -> Option<Instant> {
        self.chan.poll_at()
    }

    /// Deregisters the buffers of commands that are no longer outstanding.
    fn release_regions(&mut self) {
        for s in self.inner.slots.iter_mut() {
            if !s.state.busy() {
                if let Some(r) = s.region.take() {
                    self.chan.deregister(r);
                }
            }
        }
    }

    /// Sends queued CRED_RSP / AER_RSP answers while the channel takes them.
    fn flush_replies(&mut self, now: Instant) -> bool {
        let mut sent = false;
        if !matches!(self.inner.state, SessionState::LoggedIn) {
            self.inner.replies = [None; REPLY_QUEUE];
            return false;
        }
        while let Some(reply) = self.inner.replies[0] {
            let mut b = [0u8; SHORT_IU_LEN];
            match reply {
                Reply::Cred(tag) => {
                    CredRspRepr { tag }.emit(&mut ShortPacket::new_unchecked(&mut b[..]))
                }
                Reply::Aer(tag) => {
                    AerRspRepr { tag }.emit(&mut ShortPacket::new_unchecked(&mut b[..]))
                }
            }
            match self.chan.send(now, &b) {
                Ok(()) => {
                    self.inner.replies.rotate_left(1);
                    self.inner.replies[REPLY_QUEUE - 1] = None;
                    sent = true;
                }
                Err(ChannelError::Busy) => break,
                Err(_) => {
                    self.inner.replies = [None; REPLY_QUEUE];
                    break;
                }
            }
        }
        sent
    }
}

impl<const SLOTS: usize> Inner<SLOTS> {
    fn on_event(&mut self, ev: ChannelEvent<'_>) {
        match ev {
            ChannelEvent::Established(pd) => self.on_established(pd),
            ChannelEvent::Rejected {
                reason,
                private_data,
            } => self.on_rejected(reason, private_data),
            ChannelEvent::Message(iu) => self.on_message(iu),
            ChannelEvent::Closed(reason) => self.on_closed(reason),
        }
    }

    fn fail(&mut self, err: SessionError) {
        if !matches!(self.state, SessionState::Closed(_)) {
            self.state = SessionState::Closed(Some(err));
        }
        self.credits = 0;
        self.fail_outstanding(err);
    }

    fn fail_outstanding(&mut self, err: SessionError) {
        for s in self.slots.iter_mut() {
            if s.state.busy() {
                s.state = SlotState::Done(Err(err));
            }
        }
    }

    fn on_established(&mut self, pd: &[u8]) {
        if self.state != SessionState::LoggingIn {
            self.counters.unexpected += 1;
            return;
        }
        let rsp = LoginRspPacket::new_checked(pd)
            .and_then(|p| LoginRspRepr::parse(&p))
            .ok();
        let Some(rsp) = rsp else {
            self.counters.malformed += 1;
            self.fail(SessionError::BadLoginResponse);
            self.want_disconnect = true;
            return;
        };
        if !rsp.buffer_formats.contains(BufferFormats::DIRECT) {
            self.fail(SessionError::NoDirectDescriptors);
            self.want_disconnect = true;
            return;
        }
        if (rsp.max_it_iu_len as usize) < DIRECT_IU_LEN {
            self.fail(SessionError::IuTooSmall(rsp.max_it_iu_len));
            self.want_disconnect = true;
            return;
        }
        let c = &self.config;
        let max_immediate = if c.request_immediate && rsp.flags.contains(LoginRspFlags::IMMED_SUPP)
        {
            c.req_it_iu_len
                .min(rsp.max_it_iu_len)
                .saturating_sub(u32::from(c.imm_data_offset))
        } else {
            0
        };
        self.login = Some(LoginInfo {
            initial_credits: rsp.req_lim_delta,
            max_it_iu_len: rsp.max_it_iu_len,
            max_ti_iu_len: rsp.max_ti_iu_len,
            buffer_formats: rsp.buffer_formats,
            multi_channel: rsp.multi_channel,
            max_immediate,
        });
        self.credits = rsp.req_lim_delta;
        self.state = SessionState::LoggedIn;
    }

    fn on_rejected(&mut self, reason: u16, pd: &[u8]) {
        if self.state != SessionState::LoggingIn {
            self.counters.unexpected += 1;
            return;
        }
        let rej = LoginRejPacket::new_checked(pd)
            .and_then(|p| LoginRejRepr::parse(&p))
            .ok();
        match rej {
            Some(r) => self.fail(SessionError::LoginRejected(r.reason)),
            None => self.fail(SessionError::CmRejected(reason)),
        }
    }

    fn on_closed(&mut self, reason: CloseReason) {
        match self.state {
            SessionState::LoggingOut => {
                self.state = SessionState::Closed(None);
                self.fail_outstanding(SessionError::LoggedOut);
            }
            SessionState::LoggingIn | SessionState::Idle => {
                self.fail(SessionError::LoginFailed(reason))
            }
            SessionState::LoggedIn => self.fail(SessionError::ConnectionLost(reason)),
            SessionState::Closed(_) => {}
        }
    }

    fn on_message(&mut self, iu: &[u8]) {
        if !matches!(
            self.state,
            SessionState::LoggedIn | SessionState::LoggingOut
        ) {
            self.counters.unexpected += 1;
            return;
        }
        // Immediate offset 0: we never accept an SRP_CMD from the target.
        let Ok(repr) = IuRepr::parse(iu, 0) else {
            self.counters.malformed += 1;
            return;
        };
        match repr {
            IuRepr::Rsp(rsp) => {
                self.credits = self.credits.saturating_add(rsp.req_lim_delta);
                // The answer to an ABORT TASK we sent (whatever its code: a
                // task the target no longer has is gone all the same).
                if let Some(slot) = self.slots.iter_mut().find(
                    |s| matches!(s.state, SlotState::Aborting(t) if Tag::from_u64(t) == rsp.tag),
                ) {
                    self.counters.responses += 1;
                    slot.state = SlotState::Done(Err(SessionError::Aborted));
                    return;
                }
                // The command's own response (also when it beat our abort).
                let slot = self
                    .slots
                    .iter_mut()
                    .find(|s| s.state.busy() && Tag::from_u64(s.tag) == rsp.tag);
                let Some(slot) = slot else {
                    self.counters.unknown_tag += 1;
                    return;
                };
                self.counters.responses += 1;
                slot.state = SlotState::Done(Ok(Completion {
                    status: rsp.status,
                    sense: rsp.sense(),
                    sense_present: rsp.sense_data.is_some_and(|s| !s.is_empty()),
                    data_in_residual: rsp.data_in_residual,
                    data_out_residual: rsp.data_out_residual,
                }));
            }
            IuRepr::CredReq(r) => {
                self.counters.cred_req += 1;
                self.credits = self.credits.saturating_add(r.req_lim_delta);
                self.queue_reply(Reply::Cred(r.tag));
            }
            IuRepr::AerReq(r) => {
                self.counters.aer_req += 1;
                self.credits = self.credits.saturating_add(r.req_lim_delta);
                let sense = (!r.sense_data.is_empty())
                    .then(|| Sense::parse(r.sense_data).ok())
                    .flatten();
                self.last_aer = Some((r.lun, sense));
                self.queue_reply(Reply::Aer(r.tag));
            }
            IuRepr::TLogout(r) => {
                self.fail(SessionError::TargetLogout(r.reason));
                self.want_disconnect = true;
            }
            _ => self.counters.unexpected += 1,
        }
    }

    fn queue_reply(&mut self, reply: Reply) {
        match self.replies.iter_mut().find(|r| r.is_none()) {
            Some(r) => *r = Some(reply),
            None => self.counters.replies_dropped += 1,
        }
    }
}
