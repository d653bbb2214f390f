//! The SRP initiator on a host: fabric's [`BlockDevice`] over the real
//! [`Channel`](fabric::channel::Channel) (`fabric::cm::Initiator`: soft HCA +
//! IB CM) on a [`NetDev`], plus the one blocking loop the tools need
//! (iPXE's `sandev_command` role; fabric itself never blocks).
//!
//! [`Client::connect`] goes step by step — network device, ARP for the
//! target, SRP login, INQUIRY / TEST UNIT READY / READ CAPACITY — and a
//! failure names its step ([`ClientError`]). Then [`Client::read_to`],
//! [`Client::write_from`], [`Client::report_luns`], [`Client::bench`] and
//! [`Client::logout`].
//!
//! Memory: the HCA serves RDMA from a [`HostMem`] buffer (scratch area + an
//! I/O window). The target RDMA WRITEs read data straight into the window,
//! from which it is written out once; writes are staged in the window and
//! RDMA READ by the target, or sent as immediate data when small.
//!
//! The concrete channel type is [`HostChannel`]; it is the only place that
//! names the implementation under the `Channel` trait.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Duration as StdDuration;

use fabric::cm::{CmConfig, Initiator};
use fabric::memory::Memory;
use fabric::nic::Nic;
use fabric::srp::scsi::{OpenError, SCRATCH_LEN};
use fabric::srp::{
    BlockConfig, BlockDevice, BlockError, DeviceInfo, DeviceState, Session, SessionConfig, Transfer,
};
use fabric::time::Instant;
use fabric::transport::{HcaConfig, Resolution};
use fabric::uri::SrpUri;
use fabric::wire::scsi::{Lun, ReportLuns};
use fabric::wire::{EthernetAddress, Ipv4Address};

use crate::netdev::NetDev;

/// Send/receive slots per QP (≥ commands in flight + unsolicited IUs).
pub const DEPTH: usize = 40;
/// Message slot size = our req_it_iu_len (Linux's 8260: 8 KiB immediate
/// data at offset 68). ib_srpt echoes it as the largest IU it sends us.
pub const MSG: usize = 8260;
/// Commands outstanding at once.
pub const SLOTS: usize = 32;
/// Commands a [`Transfer`] keeps in flight.
pub const QUEUE: usize = 16;

/// The channel implementation the host tools use.
pub type HostChannel = Initiator<NetDev, HostMem, DEPTH, MSG>;
/// The block device the host tools use.
pub type HostDevice = BlockDevice<HostChannel, HostMem, SLOTS, MSG>;

/// Where the host buffer lives in the HCA's address space (any value; the
/// target sees it in descriptors).
pub const MEM_BASE: u64 = 0x7f00_0000_0000;

/// Host memory the HCA reads and writes: a shared byte buffer at
/// [`MEM_BASE`]. Clones share it.
#[derive(Clone)]
pub struct HostMem {
    bytes: Rc<RefCell<Vec<u8>>>,
}

impl HostMem {
    /// `len` zero bytes.
    pub fn new(len: usize) -> HostMem {
        HostMem {
            bytes: Rc::new(RefCell::new(vec![0; len])),
        }
    }

    /// Runs `f` on `[addr, addr + len)`.
    pub fn with<R>(&self, addr: u64, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let start = (addr - MEM_BASE) as usize;
        f(&mut self.bytes.borrow_mut()[start..start + len])
    }
}

impl Memory for HostMem {
    fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        let b = self.bytes.borrow();
        let Some(s) = addr
            .checked_sub(MEM_BASE)
            .and_then(|s| usize::try_from(s).ok())
        else {
            return false;
        };
        match s.checked_add(out.len()).and_then(|e| b.get(s..e)) {
            Some(src) => {
                out.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        let mut b = self.bytes.borrow_mut();
        let Some(s) = addr
            .checked_sub(MEM_BASE)
            .and_then(|s| usize::try_from(s).ok())
        else {
            return false;
        };
        match s.checked_add(data.len()).and_then(|e| b.get_mut(s..e)) {
            Some(dst) => {
                dst.copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

/// How to reach the target.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// [`NetDev::open`] spec (`connect:HOST:PORT`, `dgram:…`, `packet:IF`).
    pub netdev: String,
    /// Our MAC (`None`: a default, or the interface's for AF_PACKET).
    pub mac: Option<[u8; 6]>,
    /// Our IPv4 address.
    pub ip: Ipv4Address,
    /// Our netmask.
    pub netmask: Ipv4Address,
    /// Router for targets outside the subnet.
    pub gateway: Option<Ipv4Address>,
    /// The target.
    pub uri: SrpUri,
    /// Largest transfer per command in bytes.
    pub max_transfer: u32,
    /// I/O window in bytes (how much one read/write step moves).
    pub window: usize,
    /// Deadline of each blocking step.
    pub timeout: StdDuration,
    /// Ask for immediate data at login.
    pub immediate: bool,
    /// Print steps to stderr.
    pub verbose: bool,
}

impl ClientConfig {
    /// Defaults: 256 KiB per command, 8 MiB window, 30 s per step.
    pub fn new(netdev: &str, ip: Ipv4Address, prefix: u8, uri: SrpUri) -> ClientConfig {
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix.min(32)))
        };
        ClientConfig {
            netdev: netdev.to_string(),
            mac: None,
            ip,
            netmask: Ipv4Address(mask.to_be_bytes()),
            gateway: None,
            uri,
            max_transfer: 256 * 1024,
            window: 8 << 20,
            timeout: StdDuration::from_secs(30),
            immediate: true,
            verbose: false,
        }
    }
}

/// What failed, and in which step.
#[derive(Debug)]
pub enum ClientError {
    /// Opening the network device.
    Netdev(io::Error),
    /// ARP for the target (or gateway) went unanswered.
    Arp(Ipv4Address),
    /// Login or identification failed (the step is named inside).
    Open(OpenError),
    /// A step did not finish in time.
    Timeout(String),
    /// An I/O command failed.
    Io {
        /// What was being done.
        what: String,
        /// Why.
        error: BlockError,
    },
    /// Reading or writing a local file.
    File(io::Error),
    /// A request that makes no sense (sizes, ranges).
    Usage(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Netdev(e) => write!(f, "network device: {e}"),
            ClientError::Arp(ip) => write!(
                f,
                "ARP: no answer from {ip} (is the target up, on this segment, with that IP?)"
            ),
            ClientError::Open(e) => write!(f, "{e}"),
            ClientError::Timeout(what) => write!(f, "timeout: {what}"),
            ClientError::Io { what, error } => write!(f, "{what}: {error}"),
            ClientError::File(e) => write!(f, "file: {e}"),
            ClientError::Usage(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ClientError {}

/// Results of [`Client::bench`].
#[derive(Debug, Clone, Copy)]
pub struct BenchResult {
    /// Sequential read, bytes per second.
    pub seq_bytes_per_s: f64,
    /// Sequential bytes moved.
    pub seq_bytes: u64,
    /// Random reads per second.
    pub rand_iops: f64,
    /// Random read size.
    pub rand_size: u32,
    /// Random reads done.
    pub rand_ops: u64,
}

/// A logged-in SRP block device on a host network device.
pub struct Client {
    dev: Box<HostDevice>,
    mem: HostMem,
    clock: std::time::Instant,
    cfg: ClientConfig,
    target_mac: EthernetAddress,
}

const SCRATCH: u64 = MEM_BASE;
const WINDOW: u64 = MEM_BASE + 4096;

impl Client {
    fn now_at(clock: &std::time::Instant) -> Instant {
        Instant(clock.elapsed().as_micros() as u64 + 1)
    }

    /// Time since the client started.
    pub fn now(&self) -> Instant {
        Self::now_at(&self.clock)
    }

    fn say(cfg: &ClientConfig, msg: impl FnOnce() -> String) {
        if cfg.verbose {
            eprintln!("srp-client: {}", msg());
        }
    }

    /// Opens the network device, resolves the target, logs in and
    /// identifies the disk.
    ///
    /// # Errors
    /// The step that failed and why.
    pub fn connect(cfg: ClientConfig) -> Result<Client, ClientError> {
        const _: () = assert!(SCRATCH_LEN <= 4096);
        let clock = std::time::Instant::now();
        let nic = NetDev::open(&cfg.netdev, cfg.mac).map_err(ClientError::Netdev)?;
        let mac = nic.mac();
        Self::say(&cfg, || {
            format!("netdev {} up, MAC {}", cfg.netdev, EthernetAddress(mac))
        });
        let mem = HostMem::new(4096 + cfg.window);
        let mut hc = HcaConfig::new(
            cfg.ip,
            clock.elapsed().as_nanos() as u64 ^ u64::from(std::process::id()) << 32,
        );
        hc.netmask = cfg.netmask;
        hc.gateway = cfg.gateway;
        let chan = HostChannel::new(
            nic,
            mem.clone(),
            hc,
            CmConfig::default(),
            cfg.uri.ip,
            cfg.uri.port,
        );
        // The session and device hold big fixed buffers: keep them off the stack.
        let mut chan = Box::new(chan);

        // Step 1: ARP (the target port ID may be derived from its MAC).
        let deadline = clock.elapsed() + cfg.timeout;
        let target_mac = loop {
            let now = Self::now_at(&clock);
            let r = chan.hca_mut().resolve(now, cfg.uri.ip);
            chan.hca_mut().poll(now);
            match r {
                Resolution::Resolved(m) => break m,
                Resolution::Failed => return Err(ClientError::Arp(cfg.uri.ip)),
                Resolution::Pending => {}
            }
            if clock.elapsed() > deadline {
                return Err(ClientError::Arp(cfg.uri.ip));
            }
            let wait = chan
                .hca()
                .poll_at()
                .map_or(10_000, |t| t.0.saturating_sub(Self::now_at(&clock).0));
            chan.hca()
                .nic()
                .wait(StdDuration::from_micros(wait.clamp(100, 50_000)));
        };
        Self::say(&cfg, || format!("ARP {} is at {}", cfg.uri.ip, target_mac));

        // Step 2: login and identification.
        let mut sc = SessionConfig::for_uri(&cfg.uri, EthernetAddress(mac), target_mac);
        sc.request_immediate = cfg.immediate;
        Self::say(&cfg, || {
            format!("login as {} to {}", sc.initiator_port_id, sc.target_port_id)
        });
        let session = Session::new(*chan, sc);
        let mut bc = BlockConfig::new(cfg.uri.scsi_lun(), SCRATCH);
        bc.max_transfer_len = cfg.max_transfer;
        let dev = Box::new(BlockDevice::new(session, mem.clone(), bc));
        let mut c = Client {
            dev,
            mem,
            clock,
            cfg,
            target_mac,
        };
        let now = c.now();
        if let Err(e) = c.dev.open(now) {
            return Err(match c.dev.state() {
                DeviceState::Failed(o) => ClientError::Open(o),
                _ => ClientError::Io {
                    what: "SRP login".into(),
                    error: e,
                },
            });
        }
        let opened = c.block_until("login and identification", |d| {
            d.state() != DeviceState::Opening
        });
        let err = match (opened, c.dev.state()) {
            (Ok(()), DeviceState::Ready) => None,
            (Ok(()), DeviceState::Failed(o)) => Some(ClientError::Open(o)),
            (Ok(()), s) => Some(ClientError::Usage(format!("unexpected device state {s:?}"))),
            (Err(e), _) => Some(e),
        };
        if let Some(e) = err {
            c.abandon();
            return Err(e);
        }
        Self::say(&c.cfg, || {
            let i = c.info();
            format!(
                "logged in: {} credits, max_it_iu_len {}, immediate {} B; {} blocks of {} B",
                i.login.initial_credits,
                i.login.max_it_iu_len,
                i.login.max_immediate,
                i.blocks,
                i.block_len
            )
        });
        Ok(c)
    }

    /// Best effort after a failure: if the channel is still up, send the
    /// DREQ and give the target a moment to answer, so it does not keep a
    /// half-open channel until its own timeout.
    fn abandon(&mut self) {
        let now = self.now();
        self.dev.close(now);
        let until = self.clock.elapsed() + StdDuration::from_millis(500);
        while self.clock.elapsed() < until
            && !matches!(
                self.dev.session().state(),
                fabric::srp::SessionState::Closed(_)
            )
        {
            let now = self.now();
            if !self.dev.poll(now) {
                self.idle(StdDuration::from_millis(5));
            }
        }
    }

    /// What the device is.
    pub fn info(&self) -> DeviceInfo {
        *self.dev.info().expect("open")
    }

    /// The target's MAC (from ARP).
    pub fn target_mac(&self) -> EthernetAddress {
        self.target_mac
    }

    /// The device (for the session's counters and login details).
    pub fn device(&self) -> &HostDevice {
        &self.dev
    }

    /// The device, mutably (to start commands of one's own; drive them with
    /// [`Client::poll_until`]).
    pub fn device_mut(&mut self) -> &mut HostDevice {
        &mut self.dev
    }

    /// Polls until `done` says so, or the step deadline passes.
    ///
    /// # Errors
    /// A timeout (named `what`) or a lost network device.
    pub fn poll_until(
        &mut self,
        what: &str,
        done: impl FnMut(&mut HostDevice) -> bool,
    ) -> Result<(), ClientError> {
        self.block_until(what, done)
    }

    /// The HCA's counters, for reports.
    pub fn hca_counters(&self) -> fabric::transport::Counters {
        *self.dev.session().channel().hca().counters()
    }

    /// Sleeps until the next timer or a frame, at most `max`.
    fn idle(&self, max: StdDuration) {
        let now = self.now().0;
        let wait = self
            .dev
            .poll_at()
            .map_or(max.as_micros() as u64, |t| t.0.saturating_sub(now));
        if wait == 0 {
            return;
        }
        let wait = StdDuration::from_micros(wait).min(max);
        self.dev.session().channel().hca().nic().wait(wait);
    }

    /// The one blocking loop: polls until `done` or the step's deadline.
    fn block_until(
        &mut self,
        what: &str,
        mut done: impl FnMut(&mut HostDevice) -> bool,
    ) -> Result<(), ClientError> {
        let deadline = self.clock.elapsed() + self.cfg.timeout;
        loop {
            let now = self.now();
            let progress = self.dev.poll(now);
            if done(&mut self.dev) {
                return Ok(());
            }
            if self.dev.session().channel().hca().nic().disconnected() {
                return Err(ClientError::Netdev(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "peer closed the connection",
                )));
            }
            if self.clock.elapsed() > deadline {
                return Err(ClientError::Timeout(format!(
                    "{what} did not finish within {:?}",
                    self.cfg.timeout
                )));
            }
            if !progress {
                self.idle(StdDuration::from_millis(5));
            }
        }
    }

    /// Runs a [`Transfer`] to the end.
    fn transfer<const K: usize>(
        &mut self,
        what: &str,
        x: &mut Transfer<K>,
    ) -> Result<(), ClientError> {
        let deadline = self.clock.elapsed() + self.cfg.timeout;
        loop {
            let now = self.now();
            let before = x.done_blocks();
            if let Some(r) = x.poll(now, &mut self.dev) {
                return r.map_err(|error| ClientError::Io {
                    what: what.to_string(),
                    error,
                });
            }
            if self.dev.session().channel().hca().nic().disconnected() {
                return Err(ClientError::Netdev(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "peer closed the connection",
                )));
            }
            if self.clock.elapsed() > deadline {
                return Err(ClientError::Timeout(format!(
                    "{what} did not finish within {:?}",
                    self.cfg.timeout
                )));
            }
            if x.done_blocks() == before {
                self.idle(StdDuration::from_millis(2));
            }
        }
    }

    fn window_blocks(&self) -> u64 {
        (self.cfg.window as u64 / u64::from(self.info().block_len)).max(1)
    }

    fn check_range(&self, lba: u64, count: u64) -> Result<(), ClientError> {
        let i = self.info();
        if lba.checked_add(count).is_none_or(|e| e > i.blocks) {
            return Err(ClientError::Usage(format!(
                "LBA range {lba}+{count} is beyond the disk's {} blocks",
                i.blocks
            )));
        }
        Ok(())
    }

    /// Reads `count` blocks at `lba` and writes them to `out`, window by
    /// window, several commands in flight. Returns the bytes written.
    ///
    /// # Errors
    /// The range, a SCSI error (with the LBA range), a timeout, or `out`.
    pub fn read_to(
        &mut self,
        lba: u64,
        count: u64,
        out: &mut impl Write,
    ) -> Result<u64, ClientError> {
        self.check_range(lba, count)?;
        let bl = u64::from(self.info().block_len);
        let step = self.window_blocks();
        let mut done = 0;
        while done < count {
            let n = (count - done).min(step);
            let at = lba + done;
            let mut x = Transfer::<QUEUE>::read(at, n, WINDOW);
            self.transfer(&format!("READ LBA {at}+{n}"), &mut x)?;
            self.mem
                .with(WINDOW, (n * bl) as usize, |b| out.write_all(b))
                .map_err(ClientError::File)?;
            done += n;
        }
        Ok(count * bl)
    }

    /// Writes `data` (whole blocks) at `lba`: one immediate-data command
    /// when it fits the login's grant, else RDMA READ by the target from the
    /// window, several commands in flight. Then SYNCHRONIZE CACHE.
    ///
    /// # Errors
    /// Not whole blocks, the range, a SCSI error, a timeout.
    pub fn write_from(&mut self, lba: u64, data: &[u8]) -> Result<(), ClientError> {
        let bl = self.info().block_len as usize;
        if data.is_empty() || !data.len().is_multiple_of(bl) {
            return Err(ClientError::Usage(format!(
                "write of {} bytes is not a whole number of {bl}-byte blocks",
                data.len()
            )));
        }
        let count = (data.len() / bl) as u64;
        self.check_range(lba, count)?;
        if data.len() as u64 <= u64::from(self.dev.session().max_immediate()) {
            let h = self
                .dev
                .start_write_immediate(self.now(), lba, data)
                .map_err(|error| ClientError::Io {
                    what: format!("WRITE LBA {lba}+{count} (immediate)"),
                    error,
                })?;
            self.run(&format!("WRITE LBA {lba}+{count} (immediate)"), h)?;
        } else {
            let step = self.window_blocks();
            let mut done = 0u64;
            while done < count {
                let n = (count - done).min(step);
                let at = lba + done;
                let off = (done as usize) * bl;
                self.mem.with(WINDOW, n as usize * bl, |b| {
                    b.copy_from_slice(&data[off..off + n as usize * bl])
                });
                let mut x = Transfer::<QUEUE>::write(at, n, WINDOW);
                self.transfer(&format!("WRITE LBA {at}+{n}"), &mut x)?;
                done += n;
            }
        }
        let h = self.start_retry("SYNCHRONIZE CACHE", |d, now| d.start_sync(now))?;
        self.run("SYNCHRONIZE CACHE", h)
    }

    /// Starts a command, waiting while the window is closed.
    fn start_retry(
        &mut self,
        what: &str,
        mut start: impl FnMut(&mut HostDevice, Instant) -> Result<fabric::srp::CmdHandle, BlockError>,
    ) -> Result<fabric::srp::CmdHandle, ClientError> {
        let mut h = None;
        let mut err = None;
        let deadline = self.clock.elapsed() + self.cfg.timeout;
        while h.is_none() && err.is_none() {
            let now = self.now();
            match start(&mut self.dev, now) {
                Ok(x) => h = Some(x),
                Err(BlockError::Busy) => {
                    self.dev.poll(now);
                    if self.clock.elapsed() > deadline {
                        return Err(ClientError::Timeout(format!(
                            "{what}: no credit within {:?}",
                            self.cfg.timeout
                        )));
                    }
                    self.idle(StdDuration::from_millis(2));
                }
                Err(e) => err = Some(e),
            }
        }
        match (h, err) {
            (Some(h), _) => Ok(h),
            (None, Some(error)) => Err(ClientError::Io {
                what: what.to_string(),
                error,
            }),
            (None, None) => unreachable!(),
        }
    }

    /// Waits for one command.
    fn run(&mut self, what: &str, h: fabric::srp::CmdHandle) -> Result<(), ClientError> {
        let mut result = None;
        self.block_until(what, |d| {
            result = d.finish_io(h);
            result.is_some()
        })?;
        result.unwrap().map_err(|error| ClientError::Io {
            what: what.to_string(),
            error,
        })
    }

    /// REPORT LUNS.
    ///
    /// # Errors
    /// A SCSI error or a timeout.
    pub fn report_luns(&mut self) -> Result<Vec<Lun>, ClientError> {
        let len = 4096u32.min(self.cfg.window as u32);
        let h = self.start_retry("REPORT LUNS", |d, now| {
            d.start_report_luns(now, WINDOW, len)
        })?;
        let mut result = None;
        self.block_until("REPORT LUNS", |d| {
            result = d.finish(h);
            result.is_some()
        })?;
        result.unwrap().map_err(|error| ClientError::Io {
            what: "REPORT LUNS".into(),
            error,
        })?;
        let b = self.mem.with(WINDOW, len as usize, |b| b.to_vec());
        let luns = ReportLuns::parse(&b).map_err(|_| ClientError::Io {
            what: "REPORT LUNS".into(),
            error: BlockError::BadParameterData("REPORT LUNS"),
        })?;
        Ok(luns.iter().collect())
    }

    /// Sequential read of up to `seq_bytes` (from LBA 0, wrapping), then
    /// random reads of `rand_size` bytes for `rand_time`, `SLOTS` deep.
    ///
    /// # Errors
    /// A SCSI error or a timeout.
    pub fn bench(
        &mut self,
        seq_bytes: u64,
        rand_size: u32,
        rand_time: StdDuration,
    ) -> Result<BenchResult, ClientError> {
        let i = self.info();
        let bl = u64::from(i.block_len);
        let disk = i.blocks;
        // Sequential.
        let t0 = std::time::Instant::now();
        let mut moved = 0u64;
        let step = self.window_blocks().min(disk);
        let mut lba = 0;
        while moved < seq_bytes {
            let n = step.min(disk - lba);
            let mut x = Transfer::<QUEUE>::read(lba, n, WINDOW);
            self.transfer(&format!("READ LBA {lba}+{n}"), &mut x)?;
            moved += n * bl;
            lba = if lba + n >= disk { 0 } else { lba + n };
        }
        let seq_s = t0.elapsed().as_secs_f64();
        // Random.
        let rb = (u64::from(rand_size) / bl).max(1);
        let rsize = rb * bl;
        let depth = (self.cfg.window as u64 / rsize).clamp(1, SLOTS as u64 - 1) as usize;
        let span = disk.saturating_sub(rb).max(1);
        let mut x: u64 = 0x2545_F491_4F6C_DD1D ^ disk;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut inflight: Vec<Option<fabric::srp::CmdHandle>> = vec![None; depth];
        let t1 = std::time::Instant::now();
        let mut ops = 0u64;
        let deadline = self.clock.elapsed() + self.cfg.timeout + rand_time;
        loop {
            let now = self.now();
            self.dev.poll(now);
            let running = t1.elapsed() < rand_time;
            let mut busy = 0;
            for (k, slot) in inflight.iter_mut().enumerate() {
                if let Some(h) = *slot {
                    match self.dev.finish_io(h) {
                        None => {
                            busy += 1;
                            continue;
                        }
                        Some(Ok(())) => {
                            ops += 1;
                            *slot = None;
                        }
                        Some(Err(error)) => {
                            return Err(ClientError::Io {
                                what: "random READ".into(),
                                error,
                            })
                        }
                    }
                }
                if running {
                    let lba = rnd() % span;
                    match self
                        .dev
                        .start_read(now, lba, rb as u32, WINDOW + k as u64 * rsize)
                    {
                        Ok(h) => {
                            *slot = Some(h);
                            busy += 1;
                        }
                        Err(BlockError::Busy) => {}
                        Err(error) => {
                            return Err(ClientError::Io {
                                what: format!("random READ LBA {lba}"),
                                error,
                            })
                        }
                    }
                }
            }
            if !running && busy == 0 {
                break;
            }
            if self.clock.elapsed() > deadline {
                return Err(ClientError::Timeout("random reads".into()));
            }
            self.idle(StdDuration::from_millis(1));
        }
        let rand_s = t1.elapsed().as_secs_f64();
        Ok(BenchResult {
            seq_bytes_per_s: moved as f64 / seq_s,
            seq_bytes: moved,
            rand_iops: ops as f64 / rand_s,
            rand_size: rsize as u32,
            rand_ops: ops,
        })
    }

    /// Logs out (CM DREQ) and waits for the channel to close.
    ///
    /// # Errors
    /// A timeout waiting for the DREP.
    pub fn logout(mut self) -> Result<(), ClientError> {
        let now = self.now();
        self.dev.close(now);
        self.block_until("logout (DREQ/DREP)", |d| {
            matches!(d.session().state(), fabric::srp::SessionState::Closed(_))
        })
    }
}

impl Drop for Client {
    /// A client dropped without [`Client::logout`] (an error in the middle)
    /// still says goodbye with a DREQ.
    fn drop(&mut self) {
        if !matches!(
            self.dev.session().state(),
            fabric::srp::SessionState::Closed(_)
        ) {
            self.abandon();
        }
    }
}

/// Reads a whole file, or stdin for `-`.
///
/// # Errors
/// As the read.
pub fn read_input(path: &str) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    if path == "-" {
        io::stdin().read_to_end(&mut v)?;
    } else {
        std::fs::File::open(path)?.read_to_end(&mut v)?;
    }
    Ok(v)
}
