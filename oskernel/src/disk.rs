//! The boot disk under the OS: the ROM's SRP session re-established from
//! the [`BootTarget`] (same initiator port ID, same target, same LUN) and
//! served as a poll-driven block device.
//!
//! Boot-driver rules: no heap, no global state, no blocking, no interrupts
//! assumed. Everything advances in [`BootDisk::poll`], which the OS calls
//! from wherever it can (a timer, an idle loop, a crash-dump loop); time is
//! passed in. [`BootDisk::wait_ready`] and [`BootDisk::complete`] are the
//! only loops, bounded by a deadline and fed by a clock closure, for paths
//! that have nothing else to run (crash dump, early boot).
//!
//! Steps: ARP for the table's target IP (an answer from the target proves
//! the link; the login does not depend on the MAC it gives), CM REQ to the
//! table's rdma_cm port carrying SRP_LOGIN_REQ with the table's port IDs —
//! the target replaces the ROM's channel with ours because the initiator is
//! the same — then INQUIRY / TEST UNIT READY / READ CAPACITY, whose answer
//! must match what the caller expects (or, on a re-login, what the first
//! login found): a boot disk that changes size is not the boot disk.

use core::fmt;

use fabric::boot;
use fabric::cm::Initiator;
use fabric::memory::Memory;
use fabric::nic::Nic;
use fabric::srp::scsi::OpenError;
use fabric::srp::{BlockConfig, BlockDevice, BlockError, DeviceState, Session, Transfer};
use fabric::time::{Duration, Instant};
use fabric::transport::{HcaConfig, Resolution};

use crate::handoff::BootTarget;

/// Send/receive slots of the RC QP (≥ commands in flight + unsolicited IUs).
pub const DEPTH: usize = 8;
/// SRP commands outstanding at once.
pub const SLOTS: usize = 4;
/// Commands one read or write keeps in flight.
pub const IN_FLIGHT: usize = 4;
/// Largest transfer per command: Linux's 64 KiB with ib_srpt. Unlike the
/// ROM (16 KiB, to spread a 127-sector INT 13h call over 4 commands) the OS
/// asks for large reads itself.
pub const MAX_TRANSFER: u32 = 64 * 1024;

/// How long ARP may take (the ROM allows the same: the target answered it
/// moments ago).
pub const ARP_WAIT: Duration = Duration::from_secs(3);
/// How long login plus identification may take (the ROM's bound).
pub const LOGIN_WAIT: Duration = Duration::from_secs(10);
/// How long one read or write may take before it is abandoned and the
/// session re-established (the ROM's per-attempt bound).
pub const IO_WAIT: Duration = Duration::from_secs(5);

/// The channel: soft HCA + IB CM on the NIC, one RC QP.
pub type Channel<N, M> = Initiator<N, M, DEPTH, { boot::IU_LEN }>;
type Device<N, M> = BlockDevice<Channel<N, M>, M, SLOTS, { boot::IU_LEN }>;

/// What identifies the LUN as the boot disk: its geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Logical blocks (READ CAPACITY).
    pub blocks: u64,
    /// Bytes per block.
    pub block_len: u32,
}

/// How to run the disk (the table says where; this says with what).
#[derive(Debug, Clone, Copy)]
pub struct DiskConfig {
    /// Seed for QPNs, PSNs, keys and CM IDs. Must differ from boot to boot
    /// and from the ROM's (a TSC read does): the target keys stale
    /// connections on them.
    pub seed: u64,
    /// `fabric::srp::scsi::SCRATCH_LEN` bytes of memory (an address the
    /// `Memory` maps) for INQUIRY and READ CAPACITY data.
    pub scratch_addr: u64,
    /// The geometry the OS already knows (e.g. from EDD); `None`: accept
    /// the first login's and hold later logins to it.
    pub expect: Option<Identity>,
}

/// Why the disk is not usable, or why an I/O failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskError {
    /// The NIC is not the one the ROM booted from (its MAC differs from the
    /// table's initiator MAC).
    WrongNic,
    /// The target did not answer ARP within [`ARP_WAIT`].
    ArpTimeout,
    /// The login or an identification step failed.
    Login(OpenError),
    /// Login and identification did not finish within [`LOGIN_WAIT`].
    LoginTimeout,
    /// The LUN is not the boot disk: its geometry differs.
    IdentityChanged {
        /// What was expected.
        expected: Identity,
        /// What READ CAPACITY said.
        found: Identity,
    },
    /// An I/O was started while the disk is not ready.
    NotReady,
    /// An I/O was started while another one runs.
    Busy,
    /// The I/O failed (SCSI or session error).
    Io(BlockError),
    /// The I/O did not finish within [`IO_WAIT`]; it was abandoned and the
    /// session is being re-established.
    IoTimeout,
    /// A bounded wait ran out.
    Deadline,
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::WrongNic => write!(f, "NIC MAC is not the sBFT's initiator MAC"),
            DiskError::ArpTimeout => write!(f, "ARP timeout: the target does not answer"),
            DiskError::Login(e) => write!(f, "{e}"),
            DiskError::LoginTimeout => write!(f, "login: no answer in time"),
            DiskError::IdentityChanged { expected, found } => write!(
                f,
                "not the boot LUN: {} x {} B, expected {} x {} B",
                found.blocks, found.block_len, expected.blocks, expected.block_len
            ),
            DiskError::NotReady => write!(f, "disk not ready"),
            DiskError::Busy => write!(f, "another I/O is running"),
            DiskError::Io(e) => write!(f, "I/O: {e}"),
            DiskError::IoTimeout => write!(f, "I/O timed out"),
            DiskError::Deadline => write!(f, "deadline passed"),
        }
    }
}

/// Where the disk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskState {
    /// [`BootDisk::connect`] not called yet.
    Idle,
    /// ARP for the target.
    Resolving,
    /// Logging in and identifying the LUN.
    Opening,
    /// I/O may be started.
    Ready,
    /// Connecting failed; [`BootDisk::connect`] starts over.
    Failed(DiskError),
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Idle,
    Resolving { since: Instant },
    Opening { since: Instant, fell_back: bool },
    Ready,
    Failed(DiskError),
}

/// The running read or write.
struct Io {
    x: Transfer<IN_FLIGHT>,
    since: Instant,
    result: Option<Result<(), DiskError>>,
}

/// The boot LUN over the re-established SRP session. `M` is the platform's
/// physical memory; it is `Clone` because the HCA (RDMA data) and the SCSI
/// layer (parameter data) each hold a view of the same memory.
pub struct BootDisk<N: Nic, M: Memory + Clone> {
    dev: Device<N, M>,
    target: BootTarget,
    expect: Option<Identity>,
    phase: Phase,
    io: Option<Io>,
}

impl<N: Nic, M: Memory + Clone> BootDisk<N, M> {
    /// A disk for `target` on `nic` (not connecting yet).
    ///
    /// # Errors
    /// [`DiskError::WrongNic`] when `nic` is not the ROM's NIC.
    pub fn new(target: &BootTarget, nic: N, mem: M, cfg: DiskConfig) -> Result<Self, DiskError> {
        if nic.mac() != target.initiator_mac.0 {
            return Err(DiskError::WrongNic);
        }
        let mut hca = HcaConfig::new(target.initiator_ip, cfg.seed);
        // A version 1 table has no prefix: keep the HCA's default (on-link).
        if target.prefix_len != 0 {
            hca.netmask = boot::netmask(target.prefix_len);
            hca.gateway = target.gateway;
        }
        // Ask for what the ROM's session ran at: the path is known to carry it.
        let cm = boot::cm_config(target.path_mtu.min(boot::PREFERRED_PATH_MTU));
        let chan = Channel::new(
            nic,
            mem.clone(),
            hca,
            cm,
            target.target_ip,
            target.rdma_cm_port,
        );
        let sc = boot::session_config(target.initiator_port_id, target.target_port_id);
        let mut bc = BlockConfig::new(target.lun, cfg.scratch_addr);
        bc.max_transfer_len = MAX_TRANSFER;
        Ok(BootDisk {
            dev: BlockDevice::new(Session::new(chan, sc), mem, bc),
            target: *target,
            expect: cfg.expect,
            phase: Phase::Idle,
            io: None,
        })
    }

    /// Starts (or restarts) connecting: ARP, login, identification.
    pub fn connect(&mut self, now: Instant) {
        self.abandon_io();
        self.dev.reset();
        self.phase = Phase::Resolving { since: now };
    }

    /// Where the disk is.
    pub fn state(&self) -> DiskState {
        match self.phase {
            Phase::Idle => DiskState::Idle,
            Phase::Resolving { .. } => DiskState::Resolving,
            Phase::Opening { .. } => DiskState::Opening,
            Phase::Ready => DiskState::Ready,
            Phase::Failed(e) => DiskState::Failed(e),
        }
    }

    /// The LUN's geometry, once identified.
    pub fn identity(&self) -> Option<Identity> {
        self.dev.info().map(|i| Identity {
            blocks: i.blocks,
            block_len: i.block_len,
        })
    }

    /// Number of blocks (0 until identified).
    pub fn blocks(&self) -> u64 {
        self.identity().map_or(0, |i| i.blocks)
    }

    /// Bytes per block (0 until identified).
    pub fn block_len(&self) -> u32 {
        self.identity().map_or(0, |i| i.block_len)
    }

    /// The path MTU of the session (0 while not connected).
    pub fn path_mtu(&self) -> usize {
        self.dev.session().channel().path_mtu()
    }

    /// The target this disk was built for.
    pub fn target(&self) -> &BootTarget {
        &self.target
    }

    /// The channel underneath (counters, QPN).
    pub fn channel(&self) -> &Channel<N, M> {
        self.dev.session().channel()
    }

    /// Does ready work; never blocks. Returns whether anything happened.
    pub fn poll(&mut self, now: Instant) -> bool {
        match self.phase {
            // Keep answering ARP and acknowledging stray packets.
            Phase::Idle | Phase::Failed(_) => {
                self.dev.session_mut().channel_mut().hca_mut().poll(now);
                false
            }
            Phase::Resolving { since } => {
                self.resolve(now, since);
                true
            }
            Phase::Opening { since, fell_back } => self.open_step(now, since, fell_back),
            Phase::Ready => self.io_step(now),
        }
    }

    fn resolve(&mut self, now: Instant, since: Instant) {
        let hca = self.dev.session_mut().channel_mut().hca_mut();
        let r = hca.resolve(now, self.target.target_ip);
        hca.poll(now);
        match r {
            Resolution::Resolved(_) => self.open(now, false),
            Resolution::Pending if now.since(since) <= ARP_WAIT => {}
            _ => self.phase = Phase::Failed(DiskError::ArpTimeout),
        }
    }

    fn open(&mut self, now: Instant, fell_back: bool) {
        self.dev.reset();
        self.phase = match self.dev.open(now) {
            Ok(()) => Phase::Opening {
                since: now,
                fell_back,
            },
            Err(_) => match self.dev.state() {
                DeviceState::Failed(o) => Phase::Failed(DiskError::Login(o)),
                _ => Phase::Failed(DiskError::NotReady),
            },
        };
    }

    fn open_step(&mut self, now: Instant, since: Instant, fell_back: bool) -> bool {
        let progress = self.dev.poll(now);
        // Our QP must not reuse the ROM's QPN (1 in 2^24 with a fresh seed):
        // the target would take our REQ for the old connection.
        let qpn = self.dev.session().channel().hca().qpn(0);
        if qpn == self.target.rom_qpn && self.dev.state() == DeviceState::Opening {
            self.open(now, fell_back);
            return true;
        }
        match self.dev.state() {
            DeviceState::Ready => self.phase = self.check_identity(),
            DeviceState::Failed(o) => {
                // A refusal (REJ, any reason: it may not say "MTU") at a large
                // path MTU gets one more try at the MTU every port supports.
                let mtu = self.dev.session().channel().cm().config().max_path_mtu;
                if !fell_back && mtu > boot::FALLBACK_PATH_MTU && o.error != BlockError::NotOpen {
                    self.set_fallback_mtu();
                    self.open(now, true);
                } else {
                    self.phase = Phase::Failed(DiskError::Login(o));
                }
            }
            _ if now.since(since) > LOGIN_WAIT => {
                self.dev.reset();
                self.phase = Phase::Failed(DiskError::LoginTimeout);
            }
            _ => {}
        }
        progress
    }

    fn set_fallback_mtu(&mut self) {
        let cm = self.dev.session_mut().channel_mut().cm_mut();
        cm.set_max_path_mtu(boot::FALLBACK_PATH_MTU);
    }

    /// Ready if the LUN is the one we expect; the first login sets the
    /// expectation when the caller gave none.
    fn check_identity(&mut self) -> Phase {
        let Some(found) = self.identity() else {
            return Phase::Failed(DiskError::NotReady);
        };
        match self.expect {
            Some(expected) if expected != found => {
                self.dev.reset();
                Phase::Failed(DiskError::IdentityChanged { expected, found })
            }
            _ => {
                self.expect = Some(found);
                Phase::Ready
            }
        }
    }

    fn io_step(&mut self, now: Instant) -> bool {
        let Some(io) = self.io.as_mut().filter(|io| io.result.is_none()) else {
            let progress = self.dev.poll(now);
            // The session died between I/Os (target restart, link loss):
            // log in again, as the ROM does.
            if matches!(self.dev.state(), DeviceState::Failed(_)) {
                self.open(now, false);
            }
            return progress;
        };
        match io.x.poll(now, &mut self.dev) {
            Some(r) => {
                io.result = Some(r.map_err(DiskError::Io));
                if self.dev.state() != DeviceState::Ready {
                    self.open(now, false);
                }
            }
            None if now.since(io.since) > IO_WAIT => {
                // Commands are still out: take them back (their session
                // slots) before logging in again. Full-size packets that
                // vanish while small ones pass mean the path drops jumbo
                // frames: stay at 1024 from now on.
                io.x.abandon(&mut self.dev);
                io.result = Some(Err(DiskError::IoTimeout));
                self.set_fallback_mtu();
                self.open(now, true);
            }
            None => {}
        }
        true
    }

    fn start(&mut self, now: Instant, x: Transfer<IN_FLIGHT>) -> Result<(), DiskError> {
        if !matches!(self.phase, Phase::Ready) {
            return Err(DiskError::NotReady);
        }
        if self.io.as_ref().is_some_and(|io| io.result.is_none()) {
            return Err(DiskError::Busy);
        }
        self.io = Some(Io {
            x,
            since: now,
            result: None,
        });
        self.poll(now);
        Ok(())
    }

    /// Starts reading `blocks` blocks at `lba` into memory at `addr` (an
    /// address the `Memory` maps; the target RDMA WRITEs straight there).
    ///
    /// # Errors
    /// `NotReady`, `Busy` (one I/O at a time).
    pub fn start_read(
        &mut self,
        now: Instant,
        lba: u64,
        blocks: u64,
        addr: u64,
    ) -> Result<(), DiskError> {
        self.start(now, Transfer::read(lba, blocks, addr))
    }

    /// Starts writing `blocks` blocks at `lba` from memory at `addr` (the
    /// target RDMA READs it).
    ///
    /// # Errors
    /// As [`BootDisk::start_read`].
    pub fn start_write(
        &mut self,
        now: Instant,
        lba: u64,
        blocks: u64,
        addr: u64,
    ) -> Result<(), DiskError> {
        self.start(now, Transfer::write(lba, blocks, addr))
    }

    /// The result of the I/O started last, once it ended (`None` while it
    /// runs, or when none was started). Taking it frees the disk for the
    /// next one.
    pub fn finish(&mut self) -> Option<Result<(), DiskError>> {
        let r = self.io.as_ref()?.result?;
        self.io = None;
        Some(r)
    }

    fn abandon_io(&mut self) {
        if let Some(mut io) = self.io.take() {
            io.x.abandon(&mut self.dev);
        }
    }

    /// Polls until `done` gives a value or `limit` has passed on `clock`
    /// (which may also yield the CPU). For paths with nothing else to run:
    /// a polled crash dump, early boot.
    pub fn spin<T>(
        &mut self,
        clock: &mut impl FnMut() -> Instant,
        limit: Duration,
        mut done: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<T> {
        let start = clock();
        loop {
            let now = clock();
            self.poll(now);
            if let Some(v) = done(self) {
                return Some(v);
            }
            if now.since(start) > limit {
                return None;
            }
        }
    }

    /// Connects if idle and waits, at most `limit`, until the disk is ready
    /// or has failed.
    ///
    /// # Errors
    /// Why connecting failed, or `Deadline`.
    pub fn wait_ready(
        &mut self,
        clock: &mut impl FnMut() -> Instant,
        limit: Duration,
    ) -> Result<(), DiskError> {
        if matches!(self.phase, Phase::Idle) {
            self.connect(clock());
        }
        self.spin(clock, limit, |d| match d.state() {
            DiskState::Ready => Some(Ok(())),
            DiskState::Failed(e) => Some(Err(e)),
            _ => None,
        })
        .unwrap_or(Err(DiskError::Deadline))
    }

    /// Waits, at most `limit`, for the running I/O to end. The I/O bounds
    /// itself by [`IO_WAIT`], so a `limit` above that always sees its end.
    ///
    /// # Errors
    /// The I/O's error, or `Deadline` (the I/O then keeps running).
    pub fn complete(
        &mut self,
        clock: &mut impl FnMut() -> Instant,
        limit: Duration,
    ) -> Result<(), DiskError> {
        if self.io.is_none() {
            return Err(DiskError::NotReady);
        }
        self.spin(clock, limit, |d| d.finish())
            .unwrap_or(Err(DiskError::Deadline))
    }
}
