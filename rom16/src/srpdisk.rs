//! The SAN disk: our NIC → soft HCA → IB CM → SRP → SCSI, behind the ROM's
//! `BlockDevice` trait. This file owns the one blocking loop of the ROM
//! (iPXE's `sanboot.c` role): start, poll until done or deadline, retry,
//! reconnect. Everything below it is event-driven and never waits.

use crate::bios::phys;
use crate::console;
use crate::nichal::{Clock, RomHal};
use crate::profile::{self, Bucket};
use core::fmt::Write;
use fabric::boot::{self, FALLBACK_PATH_MTU as FALLBACK_MTU, PREFERRED_PATH_MTU as PREFERRED_MTU};
use fabric::cm::Initiator;
use fabric::memory::Memory;
use fabric::nic::e1000::{self, E1000};
use fabric::nic::hal::Bdf;
use fabric::nic::virtio_net::{self, VirtioNet};
use fabric::nic::{pci, MacAddr, Nic};
use fabric::srp::{
    BlockConfig, BlockDevice as ScsiDevice, BlockError, CmdHandle, DeviceState, Session, Transfer,
};
use fabric::time::{Duration, Instant};
use fabric::transport::{HcaConfig, Resolution};
use fabric::uri::{eui64_from_mac, initiator_port_id, SrpUri};
use fabric::wire::sbft::{
    IbSubtable, Packet as SbftPacket, RoceSubtable, SbftRepr, ROCE_FLAG_GUID_FROM_URI,
};
use fabric::wire::{EthernetAddress, Ipv4Address};
use rom16::blockdev::{BlockDevice, Identity, IoError};
use rom16::mem::PhysMem;
use rom16::readahead::Planner;
use romfmt::config::ConfigRepr;

/// Send/receive queue depth and message size of our one RC QP. SRP IUs we
/// send are small (no immediate data); responses carry at most 96 bytes of
/// sense.
const DEPTH: usize = 8;
const MSG: usize = 512;
/// SRP commands in flight and the IU size we ask for (the OS driver asks
/// for the same: `fabric::boot`).
const SLOTS: usize = 4;
const IU: usize = boot::IU_LEN;
/// Commands one INT 13h transfer keeps in flight.
const IN_FLIGHT: usize = 4;
// Path MTU (`fabric::boot`): 4096 first (our NIC drivers take 4 KiB frames
// where the DMA region allows); a target whose link cannot carry it refuses
// the CM REQ (Linux rxe fails the QP modify, srp-target sends REJ "invalid
// MTU"), and then we log in again at 1024.
/// How long one full-size packet may take to arrive (`probe_path_mtu`).
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// Policy: how long each step may take before we call it failed.
const LINK_WAIT: Duration = Duration::from_secs(3);
const ARP_WAIT: Duration = Duration::from_secs(3);
const LOGIN_WAIT: Duration = Duration::from_secs(10);
/// One INT 13h transfer, per attempt.
const IO_WAIT: Duration = Duration::from_secs(5);
/// Attempts per INT 13h call (each after a reconnect); with IO_WAIT and
/// LOGIN_WAIT this bounds a call at about a minute when the target is gone.
const IO_ATTEMPTS: u32 = 4;

/// Physical memory below 4 GiB, as the HCA's `Memory`: SRP data moves
/// straight between the wire and the INT 13h caller's buffer.
pub struct PhysMemory;

impl Memory for PhysMemory {
    fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        if addr
            .checked_add(out.len() as u64)
            .is_none_or(|e| e > 1 << 32)
        {
            return false;
        }
        phys::read(addr as u32, out);
        true
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        if addr
            .checked_add(data.len() as u64)
            .is_none_or(|e| e > 1 << 32)
        {
            return false;
        }
        profile::timed(Bucket::MemWrite, || phys::write(addr as u32, data));
        true
    }
    fn copy(&mut self, from: u64, to: u64, len: u64, _bounce: &mut [u8]) -> bool {
        let below_4g = |a: u64| a.checked_add(len).is_some_and(|e| e <= 1 << 32);
        if !below_4g(from) || !below_4g(to) {
            return false;
        }
        phys::copy(from as u32, to as u32, len as u32);
        true
    }
}

/// The NIC models we drive.
pub enum RomNic {
    Virtio(VirtioNet<RomHal, virtio_net::AnyTransport>),
    E1000(E1000<RomHal>),
}

impl RomNic {
    fn open(bdf: u16) -> Result<(RomNic, Clock), &'static str> {
        let hal = RomHal::new()?;
        let clock = hal.clock();
        let bdf = Bdf(bdf);
        let nic = match pci::id(&hal, bdf) {
            Some((virtio_net::VENDOR, _)) => {
                RomNic::Virtio(VirtioNet::probe(hal, bdf).map_err(|e| e.reason())?)
            }
            Some(_) if e1000::matches(&hal, bdf) => {
                RomNic::E1000(E1000::new(hal, bdf).map_err(|e| e.reason())?)
            }
            _ => return Err("no driver for this NIC"),
        };
        Ok((nic, clock))
    }

    fn model(&self) -> &'static str {
        match self {
            RomNic::Virtio(n) => n.model(),
            RomNic::E1000(n) => n.model(),
        }
    }

    /// Stops all DMA and leaves the device reset, for the OS.
    pub fn quiesce(&mut self) {
        match self {
            RomNic::Virtio(n) => n.quiesce(),
            RomNic::E1000(n) => n.quiesce(),
        }
    }

    /// Stops DMA as cheaply as the model allows, for the after-every-write
    /// heuristic: virtio-net is reset (bring-up costs well under a
    /// millisecond); e1000 only loses bus mastering (a reset renegotiates
    /// the link, and QEMU holds e1000 receive for 1 s after an RCTL write).
    pub fn pause_dma(&mut self) {
        match self {
            RomNic::Virtio(n) => n.quiesce(),
            RomNic::E1000(n) => n.pause(),
        }
    }

    /// Brings a quiesced or paused device back (no-op while it runs).
    pub fn resume(&mut self) -> Result<(), &'static str> {
        match self {
            RomNic::Virtio(n) => n.resume().map_err(|e| e.reason()),
            RomNic::E1000(n) => n.resume().map_err(|e| e.reason()),
        }
    }
}

impl Nic for RomNic {
    fn mac(&self) -> MacAddr {
        match self {
            RomNic::Virtio(n) => n.mac(),
            RomNic::E1000(n) => n.mac(),
        }
    }
    fn max_frame(&self) -> usize {
        match self {
            RomNic::Virtio(n) => n.max_frame(),
            RomNic::E1000(n) => n.max_frame(),
        }
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let t = profile::now();
        let f = |frame: &[u8]| profile::timed(Bucket::RxWork, || f(frame));
        let r = match self {
            RomNic::Virtio(n) => n.receive(f),
            RomNic::E1000(n) => n.receive(f),
        };
        profile::received(r.is_some(), t);
        r
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        profile::timed(Bucket::Tx, || match self {
            RomNic::Virtio(n) => n.transmit(len, f),
            RomNic::E1000(n) => n.transmit(len, f),
        })
    }
    fn link_up(&self) -> bool {
        match self {
            RomNic::Virtio(n) => n.link_up(),
            RomNic::E1000(n) => n.link_up(),
        }
    }
}

type Chan = Initiator<RomNic, PhysMemory, DEPTH, MSG>;
type Scsi = ScsiDevice<Chan, PhysMemory, SLOTS, IU>;

/// Room the linker script reserves for the sBFT in the low copy.
const SBFT_MAX: usize = 256;

extern "C" {
    /// Offset of the sBFT area in the low copy (linker script).
    static sbft_area: u8;
}

/// The path MTU probe reads one full-size packet into this.
static PROBE_BUF: crate::romstate::RomCell<[u8; PREFERRED_MTU]> =
    crate::romstate::RomCell::new([0; PREFERRED_MTU]);

/// Parameter data (INQUIRY, READ CAPACITY) lands here.
static SCRATCH: crate::romstate::RomCell<[u8; fabric::srp::scsi::SCRATCH_LEN as usize]> =
    crate::romstate::RomCell::new([0; fabric::srp::scsi::SCRATCH_LEN as usize]);

/// Room for one read-ahead: one 64 KiB command (`max_transfer_len`), as
/// much as a 127-sector call.
const READ_AHEAD_LEN: usize = 64 * 1024;
/// Read-aheads kept in flight.
const AHEAD: usize = 2;

/// Read-aheads land here until a call claims them (`rom16::readahead`).
static READ_AHEAD_BUF: crate::romstate::RomCell<[[u8; READ_AHEAD_LEN]; AHEAD]> =
    crate::romstate::RomCell::new([[0; READ_AHEAD_LEN]; AHEAD]);

fn read_ahead_addr(slot: usize) -> u32 {
    READ_AHEAD_BUF.with(|b| phys::addr_of(b[slot].as_mut_ptr()))
}

/// A READ issued ahead of the caller, into buffer `slot`.
#[derive(Clone, Copy)]
struct Ahead {
    lba: u64,
    blocks: u32,
    cmd: CmdHandle,
    slot: usize,
}

/// The remote disk.
pub struct SrpDisk {
    scsi: Scsi,
    clock: Clock,
    pci_bdf: u16,
    lun: u16,
    blocks: u64,
    block_len: u32,
    planner: Planner,
    /// Read-aheads in flight (or finished, not yet claimed), oldest first.
    ahead: [Option<Ahead>; AHEAD],
}

/// Writes `core::fmt` text to the console (error texts come from fabric's
/// `Display` implementations).
struct ConsoleWriter;

impl Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        console::str(s);
        Ok(())
    }
}

fn now(clock: &Clock) -> Instant {
    Instant(clock.now_us())
}

impl SrpDisk {
    /// Brings the NIC up, logs in to the configured target and identifies
    /// the LUN, printing progress. `Err` carries nothing: the reason has
    /// been printed, one line.
    pub fn open(pci_bdf: u16, cfg: &ConfigRepr<'_>) -> Result<SrpDisk, ()> {
        let mut w = ConsoleWriter;
        let uri = SrpUri {
            ip: Ipv4Address(cfg.target_ip.octets()),
            port: cfg.target_port,
            lun: cfg.lun.index().unwrap_or(0),
            guid: cfg.target_guid,
        };
        let _ = write!(w, "srpboot: connecting to {} ...\n", cfg.uri);
        let (nic, clock) = match RomNic::open(pci_bdf) {
            Ok(x) => x,
            Err(why) => return fail(why),
        };
        let mac = nic.mac();
        let start = now(&clock);
        while !nic.link_up() {
            if now(&clock).since(start) > LINK_WAIT {
                return fail("no link");
            }
        }
        let _ = write!(
            w,
            "srpboot: {} {} link up\n",
            nic.model(),
            EthernetAddress(mac)
        );

        let ip = Ipv4Address(cfg.local_ip.octets());
        let mut hc = HcaConfig::new(
            ip,
            clock.now_us()
                ^ u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]),
        );
        hc.netmask = boot::netmask(cfg.prefix_len);
        hc.gateway = cfg.gateway.map(|g| Ipv4Address(g.octets()));
        let target_ip = Ipv4Address(cfg.target_ip.octets());
        let cm = boot::cm_config(PREFERRED_MTU);
        let mut chan = Chan::new(nic, PhysMemory, hc, cm, target_ip, cfg.target_port);

        // ARP first: the target port ID may derive from the target's MAC.
        let start = now(&clock);
        let target_mac = loop {
            let t = now(&clock);
            let r = chan.hca_mut().resolve(t, target_ip);
            chan.hca_mut().poll(t);
            match r {
                Resolution::Resolved(m) => break m,
                Resolution::Failed => return fail("ARP timeout: the target does not answer"),
                Resolution::Pending if t.since(start) > ARP_WAIT => {
                    return fail("ARP timeout: the target does not answer")
                }
                Resolution::Pending => {}
            }
        };
        let sc = boot::session_config(
            initiator_port_id(0, EthernetAddress(mac)),
            uri.target_port_id(target_mac),
        );
        let session = Session::new(chan, sc);
        let scratch = SCRATCH.with(|s| phys::addr_of(s.as_mut_ptr())) as u64;
        let mut bc = BlockConfig::new(lun_of(cfg), scratch);
        // 64 KiB commands (ib_srpt's default max RDMA size): a 127-sector
        // call is one command, one response and about one ACK each way. At
        // path MTU 1024 16 KiB commands had won (24.6 -> 28 MiB/s); at 4096
        // the extra commands, responses and ACKs cost more than the overlap
        // gains (profile build, 256 calls: 113-180 vs 150-190 ms of guest
        // time; alternating A/B 73.5 vs 68.1 MiB/s, 5 of 6 pairs won).
        bc.max_transfer_len = 64 * 1024;
        let mut disk = SrpDisk {
            scsi: ScsiDevice::new(session, PhysMemory, bc),
            clock,
            pci_bdf,
            lun: uri.lun,
            blocks: 0,
            block_len: 0,
            planner: Planner::new(),
            ahead: [None; AHEAD],
        };
        if let Err(e) = disk.login_any_mtu().and_then(|()| disk.probe_path_mtu()) {
            let _ = write!(w, "srpboot: {e}\n");
            disk.quiesce();
            return Err(());
        }
        let at = disk.publish_sbft(cfg, &uri, mac, target_mac);
        let _ = write!(w, "srpboot: sBFT at {:#x}\n", at);
        Ok(disk)
    }

    /// Writes the SRP boot firmware table (what the OS driver needs to log
    /// in to the same target as the same initiator) into reserved base
    /// memory; returns its physical address.
    fn publish_sbft(
        &mut self,
        cfg: &ConfigRepr<'_>,
        uri: &SrpUri,
        mac: MacAddr,
        target_mac: EthernetAddress,
    ) -> u32 {
        let session = self.scsi.session();
        let sc = *session.config();
        let hca = session.channel().hca();
        let ip = Ipv4Address(cfg.local_ip.octets());
        let target_ip = Ipv4Address(cfg.target_ip.octets());
        let repr = SbftRepr {
            revision: 1,
            oem_id: *b"SRPBT ",
            oem_table_id: *b"SRPBOOT ",
            oem_revision: 1,
            creator_id: *b"SRPB",
            creator_revision: 1,
            lun: lun_of(cfg),
            initiator_port_id: sc.initiator_port_id,
            target_port_id: sc.target_port_id,
            ib: Some(IbSubtable::for_roce(ip, target_ip, cfg.target_port)),
            roce: Some(RoceSubtable {
                version: 2,
                flags: if cfg.target_guid.is_some() {
                    ROCE_FLAG_GUID_FROM_URI
                } else {
                    0
                },
                initiator_mac: EthernetAddress(mac),
                target_mac,
                initiator_ip: ip,
                target_ip,
                rdma_cm_port: cfg.target_port,
                // The IB encoding (3 = 1024, 5 = 4096); the OS driver reads it back
                // with `PathMtu::bytes`.
                path_mtu: u8::from(fabric::cm::mtu_code(session.channel().path_mtu())),
                initiator_guid: eui64_from_mac(EthernetAddress(mac)),
                target_guid: uri.target_guid(target_mac),
                qpn_hint: hca.qpn(0),
                prefix_len: cfg.prefix_len,
                gateway: cfg.gateway.map(|g| Ipv4Address(g.octets())),
            }),
        };
        let mut buf = [0u8; SBFT_MAX];
        let len = repr.buffer_len().min(SBFT_MAX);
        repr.emit(&mut SbftPacket::new_unchecked(&mut buf[..len]));
        let at = phys::low_addr_of(core::ptr::addr_of!(sbft_area));
        phys::write(at, &buf[..len]);
        at
    }

    fn chan_mut(&mut self) -> &mut Chan {
        self.scsi.session_mut().channel_mut()
    }

    fn max_path_mtu(&self) -> usize {
        self.scsi.session().channel().cm().config().max_path_mtu
    }

    /// Logs in; if the target refuses our preferred path MTU (any refusal
    /// but a timeout: a REJ may not say why), once more at 1024.
    fn login_any_mtu(&mut self) -> Result<(), LoginFailure> {
        match self.login() {
            Err(e) if self.max_path_mtu() > FALLBACK_MTU && !e.timed_out() => {
                let mut w = ConsoleWriter;
                let _ = write!(w, "srpboot: {e}; again at path MTU {FALLBACK_MTU}\n");
                self.chan_mut().cm_mut().set_max_path_mtu(FALLBACK_MTU);
                self.scsi.reset();
                self.login()
            }
            r => r,
        }
    }

    /// Both ends may agree on path MTU 4096 while the link between them
    /// cannot carry it: LIO on rdma_rxe accepts 4096 over a 1500-byte
    /// netdev and its 4 KiB packets vanish. So one read of a full-size
    /// packet proves the path; on silence we log in again at 1024 (no
    /// fragment or error ever tells us).
    fn probe_path_mtu(&mut self) -> Result<(), LoginFailure> {
        let mtu = self.scsi.session().channel().path_mtu();
        if mtu <= FALLBACK_MTU || self.block_len == 0 {
            return Ok(());
        }
        let blocks = (mtu as u64 / self.block_len as u64).clamp(1, self.blocks);
        let buf = PROBE_BUF.with(|b| phys::addr_of(b.as_mut_ptr())) as u64;
        let mut x = Transfer::<1>::read(0, blocks, buf);
        let start = now(&self.clock);
        loop {
            let t = now(&self.clock);
            match x.poll(t, &mut self.scsi) {
                Some(Ok(())) => return Ok(()),
                // Not a path problem: the INT 13h calls will see it too.
                Some(Err(_)) => return Ok(()),
                None if t.since(start) > PROBE_WAIT => break,
                None => {}
            }
        }
        x.abandon(&mut self.scsi);
        console::str("srpboot: 4 KiB packets do not arrive: again at path MTU 1024\n");
        self.chan_mut().cm_mut().set_max_path_mtu(FALLBACK_MTU);
        self.login()
    }

    /// Logs in (again) and waits until the unit is ready.
    fn login(&mut self) -> Result<(), LoginFailure> {
        let start = now(&self.clock);
        self.scsi.open(start).map_err(|e| LoginFailure {
            step: "SRP login",
            error: e,
        })?;
        loop {
            let t = now(&self.clock);
            self.scsi.poll(t);
            match self.scsi.state() {
                DeviceState::Opening if t.since(start) > LOGIN_WAIT => {
                    return Err(LoginFailure {
                        step: "login (no answer in time)",
                        error: BlockError::NotOpen,
                    });
                }
                DeviceState::Opening | DeviceState::Closed => {}
                DeviceState::Ready => break,
                DeviceState::Failed(o) => {
                    return Err(LoginFailure {
                        step: o.step,
                        error: o.error,
                    })
                }
            }
        }
        let info = self.scsi.info().copied().ok_or(LoginFailure {
            step: "identify",
            error: BlockError::NotOpen,
        })?;
        self.blocks = info.blocks;
        self.block_len = info.block_len;
        Ok(())
    }

    /// Brings the NIC back after [`SrpDisk::quiesce`] and waits for its
    /// link (a frame sent before would be lost and cost a retransmission
    /// timeout). Frames the target sent meanwhile were lost; RC
    /// retransmission or a re-login recovers.
    fn resume_nic(&mut self) -> Result<(), IoError> {
        let clock = self.clock;
        let nic = self.chan_mut().hca_mut().nic_mut();
        if let Err(why) = nic.resume() {
            return fail(why).map_err(|()| IoError::NotReady);
        }
        let start = now(&clock);
        while !nic.link_up() {
            if now(&clock).since(start) > LINK_WAIT {
                return fail("no link").map_err(|()| IoError::NotReady);
            }
        }
        Ok(())
    }

    /// Sectors and sector size, for the banner.
    pub fn describe(&self) {
        let mut w = ConsoleWriter;
        let _ = write!(
            w,
            "srpboot: LUN {}: {} blocks of {} bytes\nsrpboot: path MTU {}\n",
            self.lun,
            self.blocks,
            self.block_len,
            self.scsi.session().channel().path_mtu()
        );
    }

    /// Runs one transfer to the end, reconnecting and retrying on failure.
    fn run_transfer(&mut self, write: bool, lba: u64, count: u32, buf: u32) -> Result<(), IoError> {
        self.resume_nic()?;
        let mut last = IoError::Timeout;
        for attempt in 0..IO_ATTEMPTS {
            if attempt > 0 || self.scsi.state() != DeviceState::Ready {
                self.reconnect();
                if self.scsi.state() != DeviceState::Ready {
                    last = IoError::NotReady;
                    continue;
                }
            }
            let mut x = if write {
                Transfer::<IN_FLIGHT>::write(lba, count as u64, buf as u64)
            } else {
                Transfer::<IN_FLIGHT>::read(lba, count as u64, buf as u64)
            };
            let start = now(&self.clock);
            loop {
                let t = now(&self.clock);
                match x.poll(t, &mut self.scsi) {
                    Some(Ok(())) => return Ok(()),
                    Some(Err(e)) => {
                        let mut w = ConsoleWriter;
                        let _ = write!(
                            w,
                            "srpboot: {} of {} blocks at {}: {e}\n",
                            if write { "write" } else { "read" },
                            count,
                            lba
                        );
                        // Nothing is in flight any more (poll ends a
                        // transfer only after its commands ended).
                        last = io_error(&e);
                        if !e.is_retryable()
                            && !matches!(last, IoError::NotReady | IoError::Timeout)
                        {
                            return Err(last);
                        }
                        break;
                    }
                    None if t.since(start) > IO_WAIT => {
                        console::str("srpboot: I/O timed out\n");
                        last = IoError::Timeout;
                        // Small packets pass, full ones vanish: something
                        // on the path drops jumbo frames. Stay at 1024.
                        if self.max_path_mtu() > FALLBACK_MTU {
                            self.chan_mut().cm_mut().set_max_path_mtu(FALLBACK_MTU);
                        }
                        // Commands are still out: take them back, or
                        // their slots stay taken after the re-login.
                        x.abandon(&mut self.scsi);
                        self.forget_read_ahead();
                        break;
                    }
                    None => {}
                }
            }
        }
        Err(last)
    }

    /// A read, served from a read ahead where one matches
    /// (`rom16::readahead`): moved into `buf` while its data is still on
    /// the wire, copied if it already finished. Whatever goes wrong with a
    /// read ahead, the call falls back to a plain transfer.
    fn read_with_read_ahead(&mut self, lba: u64, count: u32, buf: u32) -> Result<(), IoError> {
        self.resume_nic()?;
        let max = self
            .scsi
            .info()
            .map_or(0, |i| i.max_transfer_blocks)
            .min(READ_AHEAD_LEN as u32 / self.block_len.max(1));
        let next = self.planner.on_read(lba, count, self.blocks, max);
        let len = count * self.block_len;
        let front = self.ahead[0].take();
        self.ahead.rotate_left(1);
        let served = match front {
            Some(a) if a.lba == lba && a.blocks == count => {
                let t = profile::now();
                if self.scsi.rebind(a.cmd, u64::from(buf)).is_ok() {
                    profile::add(Bucket::AheadMoved, t);
                    // Still on the wire: ask for what follows, then wait
                    // for this one in the caller's buffer.
                    self.top_up(next);
                    self.wait(a.cmd).is_ok()
                } else {
                    // Finished into our buffer already.
                    profile::add(Bucket::AheadCopied, t);
                    let ok = self.copy_out(a, lba, len, buf);
                    if ok {
                        self.top_up(next);
                    }
                    ok
                }
            }
            Some(a) if a.lba <= lba && lba + u64::from(count) <= a.lba + u64::from(a.blocks) => {
                // Inside it (a shorter call, e.g. the end of a file): the
                // read ahead cannot move into a smaller buffer, so let it
                // finish and copy this call's part.
                profile::add(Bucket::AheadCopied, profile::now());
                let ok = self.copy_out(a, lba, len, buf);
                self.settle_read_ahead();
                if ok {
                    self.top_up(next);
                }
                ok
            }
            Some(a) => {
                // Not what this call wants: let them finish, drop them.
                profile::add(Bucket::AheadDropped, profile::now());
                let _ = self.wait(a.cmd);
                self.settle_read_ahead();
                false
            }
            None => false,
        };
        if served {
            return Ok(());
        }
        let r = self.run_transfer(false, lba, count, buf);
        if r.is_ok() {
            self.top_up(next);
        }
        r
    }

    /// Waits for read-ahead `a` to finish into its buffer and copies the
    /// `len` bytes from block `lba` on (inside it) to `buf`.
    fn copy_out(&mut self, a: Ahead, lba: u64, len: u32, buf: u32) -> bool {
        if self.wait(a.cmd).is_err() {
            return false;
        }
        let skip = (lba - a.lba) as u32 * self.block_len;
        phys::copy(read_ahead_addr(a.slot) + skip, buf, len);
        true
    }

    /// Keeps `AHEAD` equal ranges in flight from `next` on (no-op for
    /// `None`: not in a run), each into a free read-ahead buffer, while
    /// they fit the disk and the session has room.
    fn top_up(&mut self, next: Option<(u64, u32)>) {
        let Some((first, blocks)) = next else { return };
        for i in 0..AHEAD {
            let lba = first + i as u64 * u64::from(blocks);
            if self.ahead.iter().flatten().any(|a| a.lba == lba) {
                continue;
            }
            if lba + u64::from(blocks) > self.blocks {
                return;
            }
            let Some(free) = self.ahead.iter().position(Option::is_none) else {
                return;
            };
            let Some(slot) =
                (0..AHEAD).find(|s| !self.ahead.iter().flatten().any(|a| a.slot == *s))
            else {
                return;
            };
            let t = now(&self.clock);
            match self
                .scsi
                .start_read(t, lba, blocks, u64::from(read_ahead_addr(slot)))
            {
                Ok(cmd) => {
                    self.ahead[free] = Some(Ahead {
                        lba,
                        blocks,
                        cmd,
                        slot,
                    })
                }
                Err(_) => return,
            }
        }
    }

    /// Waits for read-aheads nobody will claim (before a write, whose data
    /// they could predate) and drops them.
    fn settle_read_ahead(&mut self) {
        for i in 0..AHEAD {
            if let Some(a) = self.ahead[i].take() {
                let _ = self.wait(a.cmd);
            }
        }
    }

    /// After `scsi.reset()`: the read-aheads ended with the connection;
    /// take their slots back.
    fn forget_read_ahead(&mut self) {
        for i in 0..AHEAD {
            if let Some(a) = self.ahead[i].take() {
                let _ = self.scsi.finish(a.cmd);
            }
        }
    }

    /// Polls until `cmd` ends, at most one I/O deadline (then the
    /// connection is reset, as a transfer's would be, and the next call
    /// logs in again).
    fn wait(&mut self, cmd: CmdHandle) -> Result<(), BlockError> {
        let start = now(&self.clock);
        loop {
            let t = now(&self.clock);
            self.scsi.poll(t);
            if let Some(r) = self.scsi.finish_io(cmd) {
                return r;
            }
            if t.since(start) > IO_WAIT {
                console::str("srpboot: read-ahead timed out\n");
                self.scsi.reset();
                let _ = self.scsi.finish(cmd);
                self.forget_read_ahead();
                return Err(BlockError::NotOpen);
            }
        }
    }

    /// Drops the session and logs in again (the target restarted, or the
    /// connection broke).
    fn reconnect(&mut self) {
        console::str("srpboot: reconnecting ...\n");
        self.scsi.reset();
        self.forget_read_ahead();
        match self.login() {
            Ok(()) => console::str("srpboot: reconnected\n"),
            Err(e) => {
                let mut w = ConsoleWriter;
                let _ = write!(w, "srpboot: reconnect failed: {e}\n");
            }
        }
    }

    /// Stops NIC DMA (the OS takes over) without logging out: the OS
    /// driver's login replaces our channel. The next transfer resumes.
    pub fn quiesce(&mut self) {
        self.chan_mut().hca_mut().nic_mut().quiesce();
    }
}

struct LoginFailure {
    step: &'static str,
    error: BlockError,
}

impl LoginFailure {
    fn timed_out(&self) -> bool {
        self.error == BlockError::NotOpen
    }
}

impl core::fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} failed: {}", self.step, self.error)
    }
}

fn fail<T>(why: &str) -> Result<T, ()> {
    console::str("srpboot: ");
    console::str(why);
    console::str("\n");
    Err(())
}

fn lun_of(cfg: &ConfigRepr<'_>) -> fabric::wire::scsi::Lun {
    fabric::wire::scsi::Lun(cfg.lun.0)
}

fn io_error(e: &BlockError) -> IoError {
    match e {
        BlockError::WriteProtected(_) => IoError::WriteProtected,
        BlockError::Busy
        | BlockError::NotOpen
        | BlockError::Session(_)
        | BlockError::NotReady(_)
        | BlockError::NoMedium => IoError::NotReady,
        e if e.is_retryable() => IoError::NotReady,
        _ => IoError::Media,
    }
}

impl BlockDevice for SrpDisk {
    fn sector_size(&self) -> u32 {
        self.block_len
    }
    fn sectors(&self) -> u64 {
        self.blocks
    }
    fn read_only(&self) -> bool {
        false
    }
    fn identity(&self) -> Identity {
        Identity {
            pci_bdf: self.pci_bdf,
            scsi_id: 0,
            lun: self.lun as u64,
        }
    }
    fn read<M: PhysMem>(
        &mut self,
        _mem: &mut M,
        lba: u64,
        count: u32,
        buf: u32,
    ) -> Result<(), IoError> {
        let t = profile::transfer_start();
        let r = self.read_with_read_ahead(lba, count, buf);
        profile::transfer_done(t, self.clock.ticks_per_us());
        r
    }
    /// iPXE's quiesce heuristic (bios-anchors §1.4): Windows writes a flag
    /// to the boot disk as its last INT 13h action before its own drivers
    /// take over, and nothing else tells a BIOS disk that the OS is done
    /// with it. So every successful write stops the NIC's DMA — virtio-net
    /// reset, e1000 with bus mastering off (`RomNic::pause_dma`) — and the
    /// next call brings it back.
    fn write<M: PhysMem>(
        &mut self,
        _mem: &mut M,
        lba: u64,
        count: u32,
        buf: u32,
    ) -> Result<(), IoError> {
        self.planner.on_other();
        self.settle_read_ahead();
        let r = self.run_transfer(true, lba, count, buf);
        if r.is_ok() {
            self.chan_mut().hca_mut().nic_mut().pause_dma();
        }
        r
    }
    /// SYNCHRONIZE CACHE, waiting at most one I/O deadline.
    fn flush(&mut self) -> Result<(), IoError> {
        self.resume_nic()?;
        let start = now(&self.clock);
        let h = self.scsi.start_sync(start).map_err(|e| io_error(&e))?;
        loop {
            let t = now(&self.clock);
            self.scsi.poll(t);
            if let Some(r) = self.scsi.finish(h) {
                return r.map(|_| ()).map_err(|e| io_error(&e));
            }
            if t.since(start) > IO_WAIT {
                // Free the command's slot: the next call logs in again.
                self.scsi.reset();
                let _ = self.scsi.finish(h);
                self.forget_read_ahead();
                return Err(IoError::Timeout);
            }
        }
    }
    fn reset(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}
