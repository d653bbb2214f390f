//! A SCSI block device on one LUN of an SRP [`Session`] (SPC/SBC;
//! fabric-wire.md §4.10), iPXE's `scsi.c` in spirit: CDBs out, sense in,
//! sense turned into a [`BlockError`] a person can read.
//!
//! - **Open** ([`BlockDevice::open`], then [`BlockDevice::poll`]): login,
//!   standard INQUIRY (must be a direct-access device), TEST UNIT READY until
//!   ready (UNIT ATTENTION after login is retried, "becoming ready" is waited
//!   for), READ CAPACITY(10) and READ CAPACITY(16) when the disk is too big
//!   for it, then the Block Limits VPD page for the target's maximum transfer
//!   length (optional). Parameter data lands in a small scratch area of
//!   platform memory ([`BlockConfig::scratch_addr`]) which this layer reads
//!   through a [`Memory`] view.
//! - **I/O**: `start_read` / `start_write` pick READ/WRITE(10) while the LBA
//!   fits 32 bits and the count 16 bits, else (16). Data-in lands straight in
//!   the caller's buffer (the target RDMA WRITEs it, no copy here); data-out is
//!   RDMA READ from the caller's buffer, or immediate data
//!   ([`BlockDevice::start_write_immediate`]) for small writes when granted.
//! - **Large transfers**: [`Transfer`] splits a range into commands of at most
//!   [`DeviceInfo::max_transfer_blocks`] and keeps several in flight within
//!   the session's window, retrying a chunk on UNIT ATTENTION or target busy.
//!
//! Nothing blocks; `finish` takes a command's outcome by handle.

use core::fmt;

use super::session::{
    CmdHandle, Command, Completion, DataBuf, LoginInfo, Session, SessionError, SessionState,
    StartError,
};
use crate::channel::Channel;
use crate::memory::Memory;
use crate::time::{Duration, Instant};
use crate::wire::scsi::{
    Cdb, InquiryData, Lun, ReadCapacity10, ReadCapacity16, Sense, SenseKey, Status, VpdPage,
};
use crate::wire::srp::Residual;

/// Bytes of platform memory the device needs at [`BlockConfig::scratch_addr`]
/// for INQUIRY, READ CAPACITY and VPD data.
pub const SCRATCH_LEN: u32 = 96;

/// Block Limits VPD page code (SBC).
pub const VPD_BLOCK_LIMITS: u8 = 0xB0;

/// UNIT ATTENTION answers tolerated per command before giving up (policy).
pub const UA_RETRIES: u8 = 8;

/// Retries of one chunk of a [`Transfer`] on UNIT ATTENTION / BUSY /
/// TASK SET FULL (policy).
pub const CHUNK_RETRIES: u8 = 4;

/// Wait between TEST UNIT READYs while the unit is becoming ready (policy).
pub const NOT_READY_DELAY: Duration = Duration::from_millis(100);

/// How the device is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockConfig {
    /// The logical unit.
    pub lun: Lun,
    /// [`SCRATCH_LEN`] bytes of platform memory for parameter data.
    pub scratch_addr: u64,
    /// Largest transfer of one command in bytes (policy; the target's Block
    /// Limits page may lower it). 64 KiB is what Linux uses with ib_srpt.
    pub max_transfer_len: u32,
    /// How long TEST UNIT READY may keep answering NOT READY.
    pub ready_timeout: Duration,
}

impl BlockConfig {
    /// LUN `lun`, scratch at `scratch_addr`, 64 KiB transfers, 10 s to get
    /// ready.
    pub const fn new(lun: Lun, scratch_addr: u64) -> BlockConfig {
        BlockConfig {
            lun,
            scratch_addr,
            max_transfer_len: 64 * 1024,
            ready_timeout: Duration::from_secs(10),
        }
    }
}

/// What opening found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Standard INQUIRY data.
    pub inquiry: InquiryData,
    /// Bytes per logical block.
    pub block_len: u32,
    /// Number of logical blocks.
    pub blocks: u64,
    /// Largest number of blocks one command moves.
    pub max_transfer_blocks: u32,
    /// The target's Block Limits MAXIMUM TRANSFER LENGTH (0: none given).
    pub target_max_transfer_blocks: u32,
    /// What the SRP login granted.
    pub login: LoginInfo,
}

impl DeviceInfo {
    /// Capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.blocks.saturating_mul(u64::from(self.block_len))
    }
}

/// Why a block operation failed. Sense data is mapped to one variant per
/// condition a caller (or a person) can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// The window is closed right now: poll, then try again.
    Busy,
    /// The device is not open (yet, or any more).
    NotOpen,
    /// The SRP session failed (login, connection, target logout).
    Session(SessionError),
    /// The session refused the command (CDB, immediate data size).
    Start(StartError),
    /// ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (or a request past
    /// the capacity, caught before sending).
    LbaOutOfRange,
    /// ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED, or INQUIRY says no unit.
    NoSuchLun,
    /// ILLEGAL REQUEST for another reason.
    IllegalRequest(Sense),
    /// NOT READY, MEDIUM NOT PRESENT.
    NoMedium,
    /// NOT READY (for longer than the ready timeout, when opening).
    NotReady(Sense),
    /// MEDIUM ERROR.
    MediumError(Sense),
    /// HARDWARE ERROR.
    HardwareError(Sense),
    /// DATA PROTECT (write protected).
    WriteProtected(Sense),
    /// UNIT ATTENTION (after the retries allowed).
    UnitAttention(Sense),
    /// ABORTED COMMAND.
    Aborted(Sense),
    /// Some other sense key.
    OtherSense(Sense),
    /// CHECK CONDITION without usable sense data.
    CheckConditionNoSense,
    /// BUSY or TASK SET FULL (after the retries allowed).
    TargetBusy(Status),
    /// RESERVATION CONFLICT.
    ReservationConflict,
    /// Another SCSI status.
    Status(Status),
    /// The target moved less data than asked for.
    ShortTransfer {
        /// Bytes missing.
        residual: u32,
    },
    /// INQUIRY: not a direct-access block device (peripheral device type).
    NotADisk(u8),
    /// READ CAPACITY gave a block length we cannot use.
    BadBlockLength(u32),
    /// INQUIRY / READ CAPACITY data too short or malformed.
    BadParameterData(&'static str),
    /// The transfer is larger than one command or region may be.
    TooLarge,
}

impl BlockError {
    /// Worth retrying the same command (UNIT ATTENTION, BUSY, TASK SET FULL).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BlockError::UnitAttention(_) | BlockError::TargetBusy(_)
        )
    }
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::Busy => f.write_str("busy (no credit or command slot)"),
            BlockError::NotOpen => f.write_str("device not open"),
            BlockError::Session(e) => write!(f, "SRP session: {e}"),
            BlockError::Start(e) => write!(f, "cannot start command: {e}"),
            BlockError::LbaOutOfRange => f.write_str("LBA out of range"),
            BlockError::NoSuchLun => f.write_str("logical unit not supported"),
            BlockError::IllegalRequest(s) => write!(f, "illegal request ({s})"),
            BlockError::NoMedium => f.write_str("not ready: medium not present"),
            BlockError::NotReady(s) => write!(f, "not ready ({s})"),
            BlockError::MediumError(s) => write!(f, "medium error ({s})"),
            BlockError::HardwareError(s) => write!(f, "hardware error ({s})"),
            BlockError::WriteProtected(s) => write!(f, "write protected ({s})"),
            BlockError::UnitAttention(s) => write!(f, "unit attention persists ({s})"),
            BlockError::Aborted(s) => write!(f, "command aborted by target ({s})"),
            BlockError::OtherSense(s) => write!(f, "check condition ({s})"),
            BlockError::CheckConditionNoSense => f.write_str("check condition without sense data"),
            BlockError::TargetBusy(s) => write!(f, "target busy (status {s:?})"),
            BlockError::ReservationConflict => f.write_str("reservation conflict"),
            BlockError::Status(s) => write!(f, "SCSI status 0x{:02x}", u8::from(*s)),
            BlockError::ShortTransfer { residual } => {
                write!(f, "short transfer: {residual} bytes missing")
            }
            BlockError::NotADisk(t) => {
                write!(
                    f,
                    "not a direct-access block device (peripheral type 0x{t:02x})"
                )
            }
            BlockError::BadBlockLength(n) => write!(f, "unusable block length {n}"),
            BlockError::BadParameterData(what) => write!(f, "malformed {what} data"),
            BlockError::TooLarge => f.write_str("transfer too large"),
        }
    }
}

impl From<SessionError> for BlockError {
    fn from(e: SessionError) -> Self {
        BlockError::Session(e)
    }
}

impl From<StartError> for BlockError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Busy => BlockError::Busy,
            StartError::NotLoggedIn => BlockError::NotOpen,
            e => BlockError::Start(e),
        }
    }
}

/// Maps a command's SCSI outcome to success or a [`BlockError`].
pub fn check_completion(c: &Completion) -> Result<(), BlockError> {
    match c.status {
        Status::Good | Status::ConditionMet => Ok(()),
        Status::CheckCondition => match c.sense {
            None => Err(BlockError::CheckConditionNoSense),
            Some(s) => sense_error(s),
        },
        Status::Busy | Status::TaskSetFull => Err(BlockError::TargetBusy(c.status)),
        Status::ReservationConflict => Err(BlockError::ReservationConflict),
        s => Err(BlockError::Status(s)),
    }
}

/// The [`BlockError`] for sense `s` (`Ok` for NO SENSE / RECOVERED ERROR).
pub fn sense_error(s: Sense) -> Result<(), BlockError> {
    Err(match s.key {
        SenseKey::NoSense | SenseKey::RecoveredError | SenseKey::Completed => return Ok(()),
        SenseKey::IllegalRequest if s.asc == 0x21 => BlockError::LbaOutOfRange,
        SenseKey::IllegalRequest if s.asc == 0x25 => BlockError::NoSuchLun,
        SenseKey::IllegalRequest => BlockError::IllegalRequest(s),
        SenseKey::NotReady if s.asc == 0x3A => BlockError::NoMedium,
        SenseKey::NotReady => BlockError::NotReady(s),
        SenseKey::MediumError => BlockError::MediumError(s),
        SenseKey::HardwareError => BlockError::HardwareError(s),
        SenseKey::DataProtect => BlockError::WriteProtected(s),
        SenseKey::UnitAttention => BlockError::UnitAttention(s),
        SenseKey::AbortedCommand => BlockError::Aborted(s),
        _ => BlockError::OtherSense(s),
    })
}

/// Steps of opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Login,
    Inquiry,
    TestUnitReady,
    ReadCapacity10,
    ReadCapacity16,
    BlockLimits,
}

/// Where the device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// [`BlockDevice::open`] not called yet.
    Closed,
    /// Logging in and asking the unit what it is.
    Opening,
    /// Open: I/O may be started.
    Ready,
    /// Opening failed, or the session died; the error says which step.
    Failed(OpenError),
}

/// An opening step and why it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError {
    /// What the device was doing.
    pub step: &'static str,
    /// What went wrong.
    pub error: BlockError,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.error)
    }
}

fn step_name(s: Step) -> &'static str {
    match s {
        Step::Login => "SRP login",
        Step::Inquiry => "INQUIRY",
        Step::TestUnitReady => "TEST UNIT READY",
        Step::ReadCapacity10 => "READ CAPACITY(10)",
        Step::ReadCapacity16 => "READ CAPACITY(16)",
        Step::BlockLimits => "INQUIRY (Block Limits VPD)",
    }
}

/// Opening progress.
#[derive(Debug, Clone, Copy)]
struct Opening {
    step: Step,
    cmd: Option<CmdHandle>,
    /// UNIT ATTENTIONs seen in this step.
    ua: u8,
    /// Do not start the step's command before this.
    not_before: Instant,
    /// Give up NOT READY after this.
    deadline: Instant,
    inquiry: Option<InquiryData>,
    capacity: Option<(u64, u32)>,
}

/// A block device on one LUN of an SRP session. `M` is a view of the
/// platform memory the scratch area (and the caller's buffers) live in.
pub struct BlockDevice<C: Channel, M: Memory, const SLOTS: usize = 8, const IU: usize = 8260> {
    session: Session<C, SLOTS, IU>,
    mem: M,
    config: BlockConfig,
    state: DeviceState,
    opening: Option<Opening>,
    info: Option<DeviceInfo>,
}

impl<C: Channel, M: Memory, const SLOTS: usize, const IU: usize> BlockDevice<C, M, SLOTS, IU> {
    /// A device on `session` (not yet logged in).
    pub fn new(session: Session<C, SLOTS, IU>, mem: M, config: BlockConfig) -> Self {
        BlockDevice {
            session,
            mem,
            config,
            state: DeviceState::Closed,
            opening: None,
            info: None,
        }
    }

    /// The session.
    pub fn session(&self) -> &Session<C, SLOTS, IU> {
        &self.session
    }

    /// The session, mutably.
    pub fn session_mut(&mut self) -> &mut Session<C, SLOTS, IU> {
        &mut self.session
    }

    /// The memory view.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// The configuration.
    pub fn config(&self) -> &BlockConfig {
        &self.config
    }

    /// Where the device is.
    pub fn state(&self) -> DeviceState {
        self.state
    }

    /// What opening found, once open.
    pub fn info(&self) -> Option<&DeviceInfo> {
        self.info.as_ref()
    }

    /// Commands that may be started right now (0 unless open).
    pub fn window(&self) -> usize {
        if self.state == DeviceState::Ready {
            self.session.window()
        } else {
            0
        }
    }

    /// Starts opening: login, then the identification commands as
    /// [`BlockDevice::poll`] goes.
    ///
    /// # Errors
    /// When the login cannot even start (the device is then `Failed`).
    pub fn open(&mut self, now: Instant) -> Result<(), BlockError> {
        if self.state != DeviceState::Closed {
            return Err(BlockError::NotOpen);
        }
        self.state = DeviceState::Opening;
        self.opening = Some(Opening {
            step: Step::Login,
            cmd: None,
            ua: 0,
            not_before: now,
            deadline: now + self.config.ready_timeout,
            inquiry: None,
            capacity: None,
        });
        if let Err(e) = self.session.login(now) {
            self.fail(Step::Login, e.into());
            return Err(e.into());
        }
        Ok(())
    }

    /// Forgets the device's session so [`BlockDevice::open`] can log in
    /// again (after a failure, or when the target restarted). Outstanding
    /// commands fail; what `open` learnt is kept until the next open.
    pub fn reset(&mut self) {
        self.session.reset();
        self.state = DeviceState::Closed;
        self.opening = None;
    }

    /// Logs out.
    pub fn close(&mut self, now: Instant) {
        self.session.logout(now);
        if !matches!(self.state, DeviceState::Failed(_)) {
            self.state = DeviceState::Closed;
        }
        self.opening = None;
    }

    /// Does ready work: the session, then the next opening step. Returns
    /// whether anything happened.
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut progress = self.session.poll(now);
        match self.session.state() {
            SessionState::Closed(Some(e)) => {
                if matches!(self.state, DeviceState::Opening | DeviceState::Ready) {
                    let step = self.opening.map_or("I/O", |o| step_name(o.step));
                    self.state = DeviceState::Failed(OpenError {
                        step,
                        error: e.into(),
                    });
                    self.opening = None;
                    progress = true;
                }
            }
            _ => {
                if self.state == DeviceState::Opening {
                    progress |= self.advance(now);
                }
            }
        }
        progress
    }

    /// When [`BlockDevice::poll`] next has timed work.
    pub fn poll_at(&self) -> Option<Instant> {
        let chan = self.session.poll_at();
        let step = self
            .opening
            .filter(|o| o.cmd.is_none())
            .map(|o| o.not_before);
        match (chan, step) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn fail(&mut self, step: Step, error: BlockError) {
        self.state = DeviceState::Failed(OpenError {
            step: step_name(step),
            error,
        });
        self.opening = None;
    }

    /// Reads `len` bytes of scratch.
    fn scratch(&self, out: &mut [u8]) -> bool {
        self.mem.read(self.config.scratch_addr, out)
    }

    fn step_cdb(step: Step) -> (Cdb, u32) {
        match step {
            Step::Login => (Cdb::TestUnitReady, 0),
            Step::Inquiry => (
                Cdb::inquiry(InquiryData::LEN as u16),
                InquiryData::LEN as u32,
            ),
            Step::TestUnitReady => (Cdb::TestUnitReady, 0),
            Step::ReadCapacity10 => (Cdb::ReadCapacity10, ReadCapacity10::LEN as u32),
            Step::ReadCapacity16 => (
                Cdb::ReadCapacity16 {
                    alloc_len: ReadCapacity16::LEN as u32,
                },
                ReadCapacity16::LEN as u32,
            ),
            Step::BlockLimits => (Cdb::inquiry_vpd(VPD_BLOCK_LIMITS, 64), 64),
        }
    }

    /// Moves opening along; returns whether anything happened.
    fn advance(&mut self, now: Instant) -> bool {
        let Some(mut o) = self.opening else {
            return false;
        };
        if o.step == Step::Login {
            if self.session.state() != SessionState::LoggedIn {
                return false;
            }
            o.step = Step::Inquiry;
        }
        let progress = match o.cmd {
            None => {
                if now < o.not_before {
                    return false;
                }
                let (cdb, len) = Self::step_cdb(o.step);
                let data = if len == 0 {
                    DataBuf::None
                } else {
                    DataBuf::In {
                        addr: self.config.scratch_addr,
                        len,
                    }
                };
                match self.start_raw(now, &cdb, data) {
                    Ok(h) => {
                        o.cmd = Some(h);
                        true
                    }
                    Err(BlockError::Busy) => false,
                    Err(e) => {
                        self.fail(o.step, e);
                        return true;
                    }
                }
            }
            Some(h) => match self.session.take(h) {
                None => false,
                Some(Err(e)) => {
                    self.fail(o.step, e.into());
                    return true;
                }
                Some(Ok(c)) => {
                    o.cmd = None;
                    match self.step_done(now, &mut o, &c) {
                        Ok(()) => {}
                        Err(e) => {
                            self.fail(o.step, e);
                            return true;
                        }
                    }
                    true
                }
            },
        };
        if self.state == DeviceState::Opening {
            self.opening = Some(o);
        }
        progress
    }

    /// Handles the completion of the current step's command.
    fn step_done(
        &mut self,
        now: Instant,
        o: &mut Opening,
        c: &Completion,
    ) -> Result<(), BlockError> {
        let outcome = check_completion(c);
        // UNIT ATTENTION (e.g. power on / reset after login): repeat the step.
        if let Err(BlockError::UnitAttention(s)) = outcome {
            o.ua += 1;
            if o.ua > UA_RETRIES {
                return Err(BlockError::UnitAttention(s));
            }
            return Ok(());
        }
        if let Err(BlockError::TargetBusy(st)) = outcome {
            o.ua += 1;
            if o.ua > UA_RETRIES {
                return Err(BlockError::TargetBusy(st));
            }
            o.not_before = now + NOT_READY_DELAY;
            return Ok(());
        }
        let received = |len: u32| match c.data_in_residual {
            Residual::Underflow(r) => len.saturating_sub(r),
            _ => len,
        } as usize;
        match o.step {
            Step::Login => {}
            Step::Inquiry => {
                outcome?;
                let mut b = [0u8; InquiryData::LEN];
                let n = received(InquiryData::LEN as u32).min(b.len());
                if !self.scratch(&mut b[..n]) {
                    return Err(BlockError::BadParameterData("INQUIRY"));
                }
                let inq = InquiryData::parse(&b[..n])
                    .map_err(|_| BlockError::BadParameterData("INQUIRY"))?;
                if inq.qualifier == 3 {
                    return Err(BlockError::NoSuchLun);
                }
                if inq.device_type != 0 {
                    return Err(BlockError::NotADisk(inq.device_type));
                }
                o.inquiry = Some(inq);
                o.step = Step::TestUnitReady;
                o.ua = 0;
            }
            Step::TestUnitReady => match outcome {
                Ok(()) => {
                    o.step = Step::ReadCapacity10;
                    o.ua = 0;
                }
                Err(BlockError::NotReady(s)) if now < o.deadline => {
                    // Becoming ready (04/01) and the like: ask again later.
                    let _ = s;
                    o.not_before = now + NOT_READY_DELAY;
                }
                Err(e) => return Err(e),
            },
            Step::ReadCapacity10 => {
                outcome?;
                let mut b = [0u8; ReadCapacity10::LEN];
                if received(b.len() as u32) < b.len() || !self.scratch(&mut b) {
                    return Err(BlockError::BadParameterData("READ CAPACITY(10)"));
                }
                let rc = ReadCapacity10::parse(&b)
                    .map_err(|_| BlockError::BadParameterData("READ CAPACITY(10)"))?;
                if rc.last_lba == u32::MAX {
                    o.step = Step::ReadCapacity16;
                } else {
                    o.capacity = Some((u64::from(rc.last_lba) + 1, rc.block_len));
                    o.step = Step::BlockLimits;
                }
                o.ua = 0;
            }
            Step::ReadCapacity16 => {
                outcome?;
                let mut b = [0u8; ReadCapacity16::LEN];
                let n = received(b.len() as u32).min(b.len());
                if !self.scratch(&mut b[..n]) {
                    return Err(BlockError::BadParameterData("READ CAPACITY(16)"));
                }
                let rc = ReadCapacity16::parse(&b[..n])
                    .map_err(|_| BlockError::BadParameterData("READ CAPACITY(16)"))?;
                o.capacity = Some((rc.last_lba.saturating_add(1), rc.block_len));
                o.step = Step::BlockLimits;
                o.ua = 0;
            }
            Step::BlockLimits => {
                // Optional page: an error just means "no limit given".
                let mut limit = 0;
                if outcome.is_ok() {
                    let mut b = [0u8; 16];
                    let n = received(64).min(b.len());
                    if self.scratch(&mut b[..n]) {
                        if let Ok(p) = VpdPage::parse(&b[..n]) {
                            if p.page_code == VPD_BLOCK_LIMITS && p.data.len() >= 8 {
                                limit = u32::from_be_bytes([
                                    p.data[4], p.data[5], p.data[6], p.data[7],
                                ]);
                            }
                        }
                    }
                }
                self.finish_open(o, limit)?;
            }
        }
        Ok(())
    }

    fn finish_open(&mut self, o: &Opening, target_limit: u32) -> Result<(), BlockError> {
        let inquiry = o.inquiry.ok_or(BlockError::BadParameterData("INQUIRY"))?;
        let (blocks, block_len) = o
            .capacity
            .ok_or(BlockError::BadParameterData("READ CAPACITY"))?;
        if !(block_len.is_power_of_two() && (256..=65536).contains(&block_len)) {
            return Err(BlockError::BadBlockLength(block_len));
        }
        let login = self
            .session
            .login_info()
            .ok_or(BlockError::Session(SessionError::LoggedOut))?;
        let mut max = (self.config.max_transfer_len / block_len).max(1);
        if target_limit != 0 {
            max = max.min(target_limit);
        }
        self.info = Some(DeviceInfo {
            inquiry,
            block_len,
            blocks,
            max_transfer_blocks: max,
            target_max_transfer_blocks: target_limit,
            login,
        });
        self.state = DeviceState::Ready;
        self.opening = None;
        Ok(())
    }

    /// Starts any CDB with a data phase (no capacity checks). Usable while
    /// opening too (the session must be logged in).
    ///
    /// # Errors
    /// [`BlockError::Busy`] when the window is closed; others from the
    /// session.
    pub fn start_raw(
        &mut self,
        now: Instant,
        cdb: &Cdb,
        data: DataBuf<'_>,
    ) -> Result<CmdHandle, BlockError> {
        let padded = cdb.to_padded();
        let cmd = Command {
            lun: self.config.lun,
            cdb: &padded[..cdb.buffer_len()],
            data,
        };
        Ok(self.session.start(now, &cmd)?)
    }

    /// Checks an I/O request against the geometry; returns its byte length.
    fn check_io(&self, lba: u64, blocks: u32) -> Result<u32, BlockError> {
        if self.state != DeviceState::Ready {
            return Err(BlockError::NotOpen);
        }
        let info = self.info.as_ref().ok_or(BlockError::NotOpen)?;
        let end = lba
            .checked_add(u64::from(blocks))
            .ok_or(BlockError::LbaOutOfRange)?;
        if end > info.blocks {
            return Err(BlockError::LbaOutOfRange);
        }
        if blocks > info.max_transfer_blocks {
            return Err(BlockError::TooLarge);
        }
        u32::try_from(u64::from(blocks) * u64::from(info.block_len))
            .map_err(|_| BlockError::TooLarge)
    }

    /// Starts a READ of `blocks` blocks at `lba` into `[addr, …)` of platform
    /// memory: READ(10) when it fits, else READ(16).
    ///
    /// # Errors
    /// `Busy`, `NotOpen`, `LbaOutOfRange` (past the capacity), `TooLarge`
    /// (over [`DeviceInfo::max_transfer_blocks`]).
    pub fn start_read(
        &mut self,
        now: Instant,
        lba: u64,
        blocks: u32,
        addr: u64,
    ) -> Result<CmdHandle, BlockError> {
        let len = self.check_io(lba, blocks)?;
        self.start_raw(now, &Cdb::read(lba, blocks), DataBuf::In { addr, len })
    }

    /// Starts a WRITE of `blocks` blocks at `lba` from `[addr, …)` of
    /// platform memory (the target RDMA READs it): WRITE(10) or (16).
    ///
    /// # Errors
    /// As [`BlockDevice::start_read`].
    pub fn start_write(
        &mut self,
        now: Instant,
        lba: u64,
        blocks: u32,
        addr: u64,
    ) -> Result<CmdHandle, BlockError> {
        let len = self.check_io(lba, blocks)?;
        self.start_raw(now, &Cdb::write(lba, blocks), DataBuf::Out { addr, len })
    }

    /// Starts a WRITE of `data` (whole blocks) at `lba` as SRP-2 immediate
    /// data: no RDMA READ, one SEND. Needs immediate data granted and
    /// `data.len() <=` [`Session::max_immediate`].
    ///
    /// # Errors
    /// As [`BlockDevice::start_read`], plus `Start(ImmediateTooLarge)` and
    /// `TooLarge` for data that is not whole blocks.
    pub fn start_write_immediate(
        &mut self,
        now: Instant,
        lba: u64,
        data: &[u8],
    ) -> Result<CmdHandle, BlockError> {
        let block_len = self.info.as_ref().ok_or(BlockError::NotOpen)?.block_len as usize;
        if data.is_empty() || !data.len().is_multiple_of(block_len) {
            return Err(BlockError::TooLarge);
        }
        let blocks = u32::try_from(data.len() / block_len).map_err(|_| BlockError::TooLarge)?;
        self.check_io(lba, blocks)?;
        self.start_raw(now, &Cdb::write(lba, blocks), DataBuf::Immediate(data))
    }

    /// Starts SYNCHRONIZE CACHE(10) of the whole medium.
    ///
    /// # Errors
    /// `Busy`, `NotOpen`.
    pub fn start_sync(&mut self, now: Instant) -> Result<CmdHandle, BlockError> {
        if self.state != DeviceState::Ready {
            return Err(BlockError::NotOpen);
        }
        let cdb = Cdb::SynchronizeCache10 {
            lba: 0,
            blocks: 0,
            immed: false,
        };
        self.start_raw(now, &cdb, DataBuf::None)
    }

    /// Starts REPORT LUNS into `[addr, addr + alloc_len)` (≥ 16 bytes).
    ///
    /// # Errors
    /// `Busy`, `NotOpen` (the session must be logged in).
    pub fn start_report_luns(
        &mut self,
        now: Instant,
        addr: u64,
        alloc_len: u32,
    ) -> Result<CmdHandle, BlockError> {
        let cdb = Cdb::ReportLuns {
            select_report: 0,
            alloc_len: alloc_len.max(16),
        };
        self.start_raw(
            now,
            &cdb,
            DataBuf::In {
                addr,
                len: alloc_len.max(16),
            },
        )
    }

    /// Aborts an outstanding command (SRP_TSK_MGMT ABORT TASK); its buffer
    /// is released when the command ends. See [`Session::abort`].
    ///
    /// # Errors
    /// `Busy` (poll and retry), `NotOpen`, `Start(NotOutstanding)`.
    pub fn abort(&mut self, now: Instant, h: CmdHandle) -> Result<(), BlockError> {
        Ok(self.session.abort(now, h)?)
    }

    /// Moves where an outstanding READ's data lands (see
    /// [`Session::rebind`]): a read-ahead handed to the caller that wants it.
    pub fn rebind(&mut self, h: CmdHandle, addr: u64) -> Result<(), BlockError> {
        Ok(self.session.rebind(h, addr)?)
    }

    /// Takes a finished command: `Ok` with the SCSI completion when the
    /// status is GOOD (residuals included), else the mapped error. `None`
    /// while outstanding.
    pub fn finish(&mut self, h: CmdHandle) -> Option<Result<Completion, BlockError>> {
        let r = self.session.take(h)?;
        Some(match r {
            Err(e) => Err(e.into()),
            Ok(c) => check_completion(&c).map(|()| c),
        })
    }

    /// Like [`BlockDevice::finish`] for a READ/WRITE: also fails when the
    /// target moved less than asked for.
    pub fn finish_io(&mut self, h: CmdHandle) -> Option<Result<(), BlockError>> {
        self.finish(h).map(|r| {
            let c = r?;
            for res in [c.data_in_residual, c.data_out_residual] {
                if let Residual::Underflow(n) = res {
                    if n != 0 {
                        return Err(BlockError::ShortTransfer { residual: n });
                    }
                }
            }
            Ok(())
        })
    }
}

/// One command of a [`Transfer`].
#[derive(Debug, Clone, Copy)]
struct Chunk {
    cmd: Option<CmdHandle>,
    lba: u64,
    blocks: u32,
    tries: u8,
}

/// A READ or WRITE of a block range of any length, split into commands of at
/// most [`DeviceInfo::max_transfer_blocks`], up to `K` in flight. The caller
/// owns it and calls [`Transfer::poll`] until it returns `Some`.
#[derive(Debug, Clone)]
pub struct Transfer<const K: usize = 4> {
    write: bool,
    lba: u64,
    blocks: u64,
    addr: u64,
    issued: u64,
    done: u64,
    chunks: [Option<Chunk>; K],
    error: Option<BlockError>,
}

impl<const K: usize> Transfer<K> {
    fn new(write: bool, lba: u64, blocks: u64, addr: u64) -> Self {
        Transfer {
            write,
            lba,
            blocks,
            addr,
            issued: 0,
            done: 0,
            chunks: [None; K],
            error: None,
        }
    }

    /// Reads `blocks` blocks at `lba` into `[addr, …)`.
    pub fn read(lba: u64, blocks: u64, addr: u64) -> Self {
        Self::new(false, lba, blocks, addr)
    }

    /// Writes `blocks` blocks at `lba` from `[addr, …)`.
    pub fn write(lba: u64, blocks: u64, addr: u64) -> Self {
        Self::new(true, lba, blocks, addr)
    }

    /// Blocks completed so far.
    pub fn done_blocks(&self) -> u64 {
        self.done
    }

    /// Gives up on the transfer: resets the device (the connection is
    /// abandoned, outstanding commands end with `LoggedOut`) and takes this
    /// transfer's commands, so their session slots are free for the next
    /// login. Dropping a transfer with commands in flight would leak them.
    pub fn abandon<C: Channel, M: Memory, const S: usize, const I: usize>(
        &mut self,
        dev: &mut BlockDevice<C, M, S, I>,
    ) {
        dev.reset();
        for c in self.chunks.iter_mut().flatten() {
            if let Some(h) = c.cmd.take() {
                let _ = dev.finish(h);
            }
        }
        self.chunks = [None; K];
    }

    /// Commands in flight.
    pub fn in_flight(&self) -> usize {
        self.chunks
            .iter()
            .flatten()
            .filter(|c| c.cmd.is_some())
            .count()
    }

    fn start_chunk<C: Channel, M: Memory, const S: usize, const I: usize>(
        &self,
        now: Instant,
        dev: &mut BlockDevice<C, M, S, I>,
        c: &Chunk,
        block_len: u32,
    ) -> Result<CmdHandle, BlockError> {
        let addr = self.addr + (c.lba - self.lba) * u64::from(block_len);
        if self.write {
            dev.start_write(now, c.lba, c.blocks, addr)
        } else {
            dev.start_read(now, c.lba, c.blocks, addr)
        }
    }

    /// Polls the device, collects finished commands, retries chunks that got
    /// UNIT ATTENTION or BUSY, and starts more while the window allows.
    /// `Some` once everything finished (on the first error, after the
    /// commands already in flight have ended).
    pub fn poll<C: Channel, M: Memory, const S: usize, const I: usize>(
        &mut self,
        now: Instant,
        dev: &mut BlockDevice<C, M, S, I>,
    ) -> Option<Result<(), BlockError>> {
        dev.poll(now);
        let Some(info) = dev.info().copied() else {
            return Some(Err(match dev.state() {
                DeviceState::Failed(o) => o.error,
                _ => BlockError::NotOpen,
            }));
        };
        if self
            .lba
            .checked_add(self.blocks)
            .is_none_or(|e| e > info.blocks)
        {
            return Some(Err(BlockError::LbaOutOfRange));
        }
        // Collect.
        for slot in self.chunks.iter_mut() {
            let Some(c) = slot else { continue };
            let Some(h) = c.cmd else { continue };
            let Some(r) = dev.finish_io(h) else { continue };
            c.cmd = None;
            match r {
                Ok(()) => {
                    self.done += u64::from(c.blocks);
                    *slot = None;
                }
                Err(e) if e.is_retryable() && c.tries < CHUNK_RETRIES && self.error.is_none() => {
                    c.tries += 1; // started again below
                }
                Err(e) => {
                    self.error.get_or_insert(e);
                    *slot = None;
                }
            }
        }
        // (Re)start, if anything is left to start (the common case while
        // waiting is nothing: skip asking the session for its window).
        let to_start =
            self.issued < self.blocks || self.chunks.iter().flatten().any(|c| c.cmd.is_none());
        if self.error.is_none() && to_start {
            for i in 0..K {
                if dev.window() == 0 {
                    break;
                }
                let chunk = match self.chunks[i] {
                    Some(c) if c.cmd.is_none() => c,
                    Some(_) => continue,
                    None if self.issued < self.blocks => {
                        let n =
                            (self.blocks - self.issued).min(u64::from(info.max_transfer_blocks));
                        Chunk {
                            cmd: None,
                            lba: self.lba + self.issued,
                            blocks: n as u32,
                            tries: 0,
                        }
                    }
                    None => continue,
                };
                match self.start_chunk(now, dev, &chunk, info.block_len) {
                    Ok(h) => {
                        if self.chunks[i].is_none() {
                            self.issued += u64::from(chunk.blocks);
                        }
                        self.chunks[i] = Some(Chunk {
                            cmd: Some(h),
                            ..chunk
                        });
                    }
                    Err(BlockError::Busy) => {
                        if self.chunks[i].is_some() {
                            self.chunks[i] = Some(chunk);
                        }
                        break;
                    }
                    Err(e) => {
                        self.error.get_or_insert(e);
                        if self.chunks[i].is_some_and(|c| c.cmd.is_none()) {
                            self.chunks[i] = None;
                        }
                        break;
                    }
                }
            }
        }
        // A chunk waiting for a retry that will not come (error set).
        if self.error.is_some() {
            for slot in self.chunks.iter_mut() {
                if slot.is_some_and(|c| c.cmd.is_none()) {
                    *slot = None;
                }
            }
        }
        if self.in_flight() > 0 {
            return None;
        }
        match self.error {
            Some(e) => Some(Err(e)),
            None if self.done >= self.blocks => Some(Ok(())),
            None => None,
        }
    }
}
