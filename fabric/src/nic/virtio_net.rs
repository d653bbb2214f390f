//! virtio-net over PCI, polled: legacy (I/O BAR, virtio 0.9.5 / 1.0 §4.1.4.8)
//! and modern (PCI capabilities, virtio 1.0 §4.1.4) transports, one receive
//! and one transmit split virtqueue, no offloads.
//!
//! * Features: MAC and STATUS if offered, VERSION_1 on the modern transport.
//!   Nothing else — in particular no MRG_RXBUF, so the per-frame header is
//!   10 bytes on the legacy interface and 12 on the modern one (§5.1.6).
//! * Every buffer is a fixed two-descriptor chain, header then frame
//!   (descriptors `2s` and `2s+1` for slot `s`). That is the framing a
//!   legacy device without ANY_LAYOUT requires (§5.1.6.6) and any layout is
//!   fine for a modern one, so both transports share it. The chains never
//!   change; only the transmit length is rewritten.
//! * Receive: every slot is posted at start and re-posted as soon as the
//!   caller's closure returns, so the ring stays full.
//! * Transmit: a slot is busy from publish until its chain comes back on the
//!   used ring; `transmit` reclaims finished slots first.
//! * Buffer ownership (see `hal.rs`): a receive slot belongs to the driver
//!   between `pop_used` and the re-publish that ends `receive`; a transmit
//!   slot between reclaim and publish. Slices are taken only in those
//!   windows.
//! * Interrupts are suppressed (`AVAIL_F_NO_INTERRUPT`, PCI INTx disable);
//!   `quiesce` resets the device to status 0 and restores the PCI command
//!   register, leaving nothing for the OS driver to undo.

use super::hal::{dma_zero, wait_until, Bdf, DmaCarver, Hal, PhysAddr};
use super::pci::{self, Bar};
use super::virtqueue::{SplitQueue, DESC_F_NEXT, DESC_F_WRITE};
use super::{MacAddr, Nic};

/// PCI vendor ID of virtio devices.
pub const VENDOR: u16 = 0x1af4;
/// Transitional (legacy-capable) network device ID.
pub const DEVICE_TRANSITIONAL: u16 = 0x1000;
/// Modern-only network device ID (0x1040 + device type 1).
pub const DEVICE_MODERN: u16 = 0x1041;

/// Device status (§2.1): the guest noticed the device.
pub const STATUS_ACKNOWLEDGE: u8 = 1;
/// Device status: the guest has a driver.
pub const STATUS_DRIVER: u8 = 2;
/// Device status: the driver is ready.
pub const STATUS_DRIVER_OK: u8 = 4;
/// Device status: feature negotiation is complete (modern only).
pub const STATUS_FEATURES_OK: u8 = 8;
/// Device status: the driver gave up.
pub const STATUS_FAILED: u8 = 128;

/// Feature: the device config holds a MAC address.
pub const F_MAC: u64 = 1 << 5;
/// Feature: mergeable receive buffers (never negotiated here).
pub const F_MRG_RXBUF: u64 = 1 << 15;
/// Feature: the device config holds a link status word.
pub const F_STATUS: u64 = 1 << 16;
/// Feature: virtio 1.0 semantics (modern transport).
pub const F_VERSION_1: u64 = 1 << 32;

/// Link status bit in the config status word.
const NET_S_LINK_UP: u16 = 1;
/// Device config: MAC at 0, status word at 6 (§5.1.4).
const CFG_MAC: u32 = 0;
const CFG_STATUS: u32 = 6;

/// Receive queue index.
pub const RX_QUEUE: u16 = 0;
/// Transmit queue index.
pub const TX_QUEUE: u16 = 1;
/// Queue size the driver asks for on the modern transport (the legacy
/// transport dictates its own, usually 256).
pub const QUEUE_WANT: u16 = 16;
/// Receive buffers (policy: enough for a burst of replies in the ROM).
pub const RX_SLOTS: u16 = 8;
/// Receive buffers given back per notify (see `VirtioNet::repost_rx`).
pub const RX_KICK_BATCH: u16 = 4;
/// Transmit buffers (at most 32: the busy set is a u32).
pub const TX_SLOTS: u16 = 4;
/// Bytes reserved for the net header in front of each buffer.
const HDR_ROOM: usize = 16;
/// Bytes of frame per buffer on a standard link (≥ 1514, 16-byte multiple).
const BUF_LEN: usize = 1536;
/// Bytes of frame per buffer when the DMA region has room for them: a
/// RoCEv2 packet with a 4096-byte payload is 4170 bytes on the wire
/// (Ethernet 14 + IPv4 20 + UDP 8 + BTH 12 + RETH 16 + 4096 + ICRC 4), so
/// path MTU 4096 fits. Virtual links (QEMU stream/dgram/user) carry any
/// frame size; a physical link's MTU is the CM's business (it falls back).
pub const JUMBO_BUF_LEN: usize = 4224;
/// Largest frame on a standard link: 1500-byte MTU plus the Ethernet header.
pub const MAX_FRAME: usize = 1514;
const ETH_HEADER_LEN: usize = 14;

/// Why bring-up failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not a virtio-net function.
    NotVirtioNet,
    /// Neither transport's registers are reachable.
    NoUsableBar,
    /// The device kept a non-zero status after reset.
    ResetTimeout,
    /// The modern device did not offer VIRTIO_F_VERSION_1.
    NoVersion1,
    /// The device cleared FEATURES_OK.
    FeaturesRejected,
    /// No MAC feature.
    NoMac,
    /// A queue is missing or unusable.
    NoQueue,
    /// Rings and buffers do not fit the DMA region.
    NoDmaMemory,
}

impl Error {
    /// A short human-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Error::NotVirtioNet => "not a virtio-net device",
            Error::NoUsableBar => "no reachable virtio register BAR",
            Error::ResetTimeout => "device did not reset",
            Error::NoVersion1 => "modern device lacks VIRTIO_F_VERSION_1",
            Error::FeaturesRejected => "device rejected our features",
            Error::NoMac => "device has no MAC address",
            Error::NoQueue => "receive or transmit queue unusable",
            Error::NoDmaMemory => "virtqueues do not fit the DMA region",
        }
    }
}

/// How the driver reaches the device's virtio registers (§4.1).
pub trait Transport {
    /// Legacy interface (10-byte header, page-aligned queues, no FEATURES_OK).
    fn is_legacy(&self) -> bool;
    /// Reads the device status byte.
    fn status<H: Hal>(&self, hal: &H) -> u8;
    /// Writes the device status byte (0 resets the device).
    fn set_status<H: Hal>(&self, hal: &H, s: u8);
    /// Feature bits the device offers.
    fn device_features<H: Hal>(&self, hal: &H) -> u64;
    /// Feature bits the driver accepts.
    fn set_driver_features<H: Hal>(&self, hal: &H, f: u64);
    /// Largest size of queue `q` (0: no such queue). Legacy queues must be
    /// used at exactly this size.
    fn queue_max<H: Hal>(&self, hal: &H, q: u16) -> u16;
    /// Tells the device where queue `q` lives and enables it.
    fn queue_setup<H: Hal>(
        &mut self,
        hal: &H,
        q: u16,
        size: u16,
        desc: PhysAddr,
        avail: PhysAddr,
        used: PhysAddr,
    ) -> bool;
    /// Notifies the device that queue `q` has new buffers.
    fn notify<H: Hal>(&self, hal: &H, q: u16);
    /// Reads a byte of the device-specific config.
    fn config_read8<H: Hal>(&self, hal: &H, off: u32) -> u8;
    /// Reads a 16-bit field of the device-specific config.
    fn config_read16<H: Hal>(&self, hal: &H, off: u32) -> u16;
    /// Reads (and so clears) the ISR status, deasserting INTx.
    fn ack_interrupt<H: Hal>(&self, hal: &H) -> u8;
    /// The config generation counter (§4.1.4.3); legacy devices have none.
    fn config_generation<H: Hal>(&self, _hal: &H) -> u8 {
        0
    }
}

/// The legacy interface: a register block in I/O BAR 0 (§4.1.4.8).
#[derive(Debug, Clone, Copy)]
pub struct LegacyTransport {
    regs: Bar,
    /// Device config offset: 0x14, or 0x18 while MSI-X is enabled.
    config: u32,
}

const L_HOST_FEATURES: u32 = 0x00;
const L_GUEST_FEATURES: u32 = 0x04;
const L_QUEUE_PFN: u32 = 0x08;
const L_QUEUE_NUM: u32 = 0x0c;
const L_QUEUE_SEL: u32 = 0x0e;
const L_QUEUE_NOTIFY: u32 = 0x10;
const L_STATUS: u32 = 0x12;
const L_ISR: u32 = 0x13;
const L_CONFIG: u32 = 0x14;
const L_CONFIG_MSIX: u32 = 0x18;
const CAP_ID_MSIX: u8 = 0x11;
const MSIX_ENABLE: u16 = 1 << 15;

impl LegacyTransport {
    /// The legacy registers of `bdf` (BAR 0).
    pub fn find<H: Hal>(hal: &H, bdf: Bdf) -> Option<LegacyTransport> {
        let regs = pci::bar(hal, bdf, 0, 0x20).ok()?;
        let msix_on = pci::capabilities(hal, bdf)
            .find(|&(_, id)| id == CAP_ID_MSIX)
            .is_some_and(|(at, _)| hal.pci_read16(bdf, at + 2) & MSIX_ENABLE != 0);
        Some(LegacyTransport {
            regs,
            config: if msix_on { L_CONFIG_MSIX } else { L_CONFIG },
        })
    }
}

impl Transport for LegacyTransport {
    fn is_legacy(&self) -> bool {
        true
    }
    fn status<H: Hal>(&self, hal: &H) -> u8 {
        self.regs.read8(hal, L_STATUS)
    }
    fn set_status<H: Hal>(&self, hal: &H, s: u8) {
        self.regs.write8(hal, L_STATUS, s)
    }
    fn device_features<H: Hal>(&self, hal: &H) -> u64 {
        self.regs.read32(hal, L_HOST_FEATURES) as u64
    }
    fn set_driver_features<H: Hal>(&self, hal: &H, f: u64) {
        self.regs.write32(hal, L_GUEST_FEATURES, f as u32)
    }
    fn queue_max<H: Hal>(&self, hal: &H, q: u16) -> u16 {
        self.regs.write16(hal, L_QUEUE_SEL, q);
        self.regs.read16(hal, L_QUEUE_NUM)
    }
    fn queue_setup<H: Hal>(
        &mut self,
        hal: &H,
        q: u16,
        size: u16,
        desc: PhysAddr,
        _avail: PhysAddr,
        _used: PhysAddr,
    ) -> bool {
        // One page frame number describes the whole queue; the parts sit
        // where `Layout::new(size, true)` put them.
        let pfn = desc >> 12;
        if desc & 0xfff != 0 || pfn > u32::MAX as u64 {
            return false;
        }
        self.regs.write16(hal, L_QUEUE_SEL, q);
        if self.regs.read16(hal, L_QUEUE_NUM) != size {
            return false;
        }
        self.regs.write32(hal, L_QUEUE_PFN, pfn as u32);
        true
    }
    fn notify<H: Hal>(&self, hal: &H, q: u16) {
        self.regs.write16(hal, L_QUEUE_NOTIFY, q)
    }
    fn config_read8<H: Hal>(&self, hal: &H, off: u32) -> u8 {
        self.regs.read8(hal, self.config + off)
    }
    fn config_read16<H: Hal>(&self, hal: &H, off: u32) -> u16 {
        self.regs.read16(hal, self.config + off)
    }
    fn ack_interrupt<H: Hal>(&self, hal: &H) -> u8 {
        self.regs.read8(hal, L_ISR)
    }
}

/// The modern interface: register blocks located by vendor-specific PCI
/// capabilities (§4.1.4).
#[derive(Debug, Clone, Copy)]
pub struct ModernTransport {
    common: Bar,
    notify: Bar,
    notify_mul: u32,
    isr: Bar,
    device: Bar,
    /// Notify offsets of the receive and transmit queues, read at setup.
    queue_notify: [u32; 2],
}

const CAP_COMMON: u8 = 1;
const CAP_NOTIFY: u8 = 2;
const CAP_ISR: u8 = 3;
const CAP_DEVICE: u8 = 4;

const C_DEVICE_FEATURE_SELECT: u32 = 0x00;
const C_DEVICE_FEATURE: u32 = 0x04;
const C_DRIVER_FEATURE_SELECT: u32 = 0x08;
const C_DRIVER_FEATURE: u32 = 0x0c;
const C_DEVICE_STATUS: u32 = 0x14;
const C_CONFIG_GENERATION: u32 = 0x15;
const C_QUEUE_SELECT: u32 = 0x16;
const C_QUEUE_SIZE: u32 = 0x18;
const C_QUEUE_ENABLE: u32 = 0x1c;
const C_QUEUE_NOTIFY_OFF: u32 = 0x1e;
const C_QUEUE_DESC: u32 = 0x20;
const C_QUEUE_DRIVER: u32 = 0x28;
const C_QUEUE_DEVICE: u32 = 0x30;
const COMMON_LEN: u32 = 0x38;

impl ModernTransport {
    /// Finds the common, notify, ISR and device-config structures of `bdf`.
    /// `None` if any is missing, too short, or in an unreachable BAR.
    pub fn find<H: Hal>(hal: &H, bdf: Bdf) -> Option<ModernTransport> {
        let mut found: [Option<(Bar, u32)>; 5] = [None; 5];
        let mut notify_mul = 0;
        for (at, id) in pci::capabilities(hal, bdf) {
            if id != pci::CAP_ID_VENDOR {
                continue;
            }
            let cfg_type = hal.pci_read8(bdf, at + 3);
            if !(CAP_COMMON..=CAP_DEVICE).contains(&cfg_type) || found[cfg_type as usize].is_some()
            {
                continue; // the first structure of each type wins (§4.1.4)
            }
            let bar_no = hal.pci_read8(bdf, at + 4);
            let offset = hal.pci_read32(bdf, at + 8);
            let length = hal.pci_read32(bdf, at + 12);
            let need = match cfg_type {
                CAP_COMMON => COMMON_LEN,
                CAP_NOTIFY => 2,
                CAP_ISR => 1,
                _ => CFG_STATUS + 2,
            };
            if length < need {
                continue;
            }
            let Ok(bar) = pci::bar(hal, bdf, bar_no, offset as u64 + length as u64) else {
                continue;
            };
            if cfg_type == CAP_NOTIFY {
                notify_mul = hal.pci_read32(bdf, at + 16);
            }
            found[cfg_type as usize] = Some((bar.offset(offset), length));
        }
        let [_, Some(common), Some(notify), Some(isr), Some(device)] = found else {
            return None;
        };
        Some(ModernTransport {
            common: common.0,
            notify: notify.0,
            notify_mul,
            isr: isr.0,
            device: device.0,
            queue_notify: [0; 2],
        })
    }
}

impl Transport for ModernTransport {
    fn is_legacy(&self) -> bool {
        false
    }
    fn status<H: Hal>(&self, hal: &H) -> u8 {
        self.common.read8(hal, C_DEVICE_STATUS)
    }
    fn set_status<H: Hal>(&self, hal: &H, s: u8) {
        self.common.write8(hal, C_DEVICE_STATUS, s)
    }
    fn device_features<H: Hal>(&self, hal: &H) -> u64 {
        self.common.write32(hal, C_DEVICE_FEATURE_SELECT, 0);
        let lo = self.common.read32(hal, C_DEVICE_FEATURE);
        self.common.write32(hal, C_DEVICE_FEATURE_SELECT, 1);
        let hi = self.common.read32(hal, C_DEVICE_FEATURE);
        (hi as u64) << 32 | lo as u64
    }
    fn set_driver_features<H: Hal>(&self, hal: &H, f: u64) {
        self.common.write32(hal, C_DRIVER_FEATURE_SELECT, 0);
        self.common.write32(hal, C_DRIVER_FEATURE, f as u32);
        self.common.write32(hal, C_DRIVER_FEATURE_SELECT, 1);
        self.common.write32(hal, C_DRIVER_FEATURE, (f >> 32) as u32);
    }
    fn queue_max<H: Hal>(&self, hal: &H, q: u16) -> u16 {
        self.common.write16(hal, C_QUEUE_SELECT, q);
        self.common.read16(hal, C_QUEUE_SIZE)
    }
    fn queue_setup<H: Hal>(
        &mut self,
        hal: &H,
        q: u16,
        size: u16,
        desc: PhysAddr,
        avail: PhysAddr,
        used: PhysAddr,
    ) -> bool {
        if q as usize >= self.queue_notify.len() {
            return false;
        }
        self.common.write16(hal, C_QUEUE_SELECT, q);
        self.common.write16(hal, C_QUEUE_SIZE, size);
        for (reg, pa) in [
            (C_QUEUE_DESC, desc),
            (C_QUEUE_DRIVER, avail),
            (C_QUEUE_DEVICE, used),
        ] {
            self.common.write32(hal, reg, pa as u32);
            self.common.write32(hal, reg + 4, (pa >> 32) as u32);
        }
        self.queue_notify[q as usize] =
            self.common.read16(hal, C_QUEUE_NOTIFY_OFF) as u32 * self.notify_mul;
        self.common.write16(hal, C_QUEUE_ENABLE, 1);
        true
    }
    fn notify<H: Hal>(&self, hal: &H, q: u16) {
        self.notify
            .write16(hal, self.queue_notify[q as usize & 1], q)
    }
    fn config_read8<H: Hal>(&self, hal: &H, off: u32) -> u8 {
        self.device.read8(hal, off)
    }
    fn config_read16<H: Hal>(&self, hal: &H, off: u32) -> u16 {
        self.device.read16(hal, off)
    }
    fn ack_interrupt<H: Hal>(&self, hal: &H) -> u8 {
        self.isr.read8(hal, 0)
    }
    fn config_generation<H: Hal>(&self, hal: &H) -> u8 {
        self.common.read8(hal, C_CONFIG_GENERATION)
    }
}

/// Either transport, chosen at run time ([`probe`]).
#[derive(Debug, Clone, Copy)]
pub enum AnyTransport {
    /// I/O BAR 0 interface.
    Legacy(LegacyTransport),
    /// Capability-located interface.
    Modern(ModernTransport),
}

macro_rules! dispatch {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            AnyTransport::Legacy($t) => $e,
            AnyTransport::Modern($t) => $e,
        }
    };
}

impl Transport for AnyTransport {
    fn is_legacy(&self) -> bool {
        matches!(self, AnyTransport::Legacy(_))
    }
    fn status<H: Hal>(&self, hal: &H) -> u8 {
        dispatch!(self, t => t.status(hal))
    }
    fn set_status<H: Hal>(&self, hal: &H, s: u8) {
        dispatch!(self, t => t.set_status(hal, s))
    }
    fn device_features<H: Hal>(&self, hal: &H) -> u64 {
        dispatch!(self, t => t.device_features(hal))
    }
    fn set_driver_features<H: Hal>(&self, hal: &H, f: u64) {
        dispatch!(self, t => t.set_driver_features(hal, f))
    }
    fn queue_max<H: Hal>(&self, hal: &H, q: u16) -> u16 {
        dispatch!(self, t => t.queue_max(hal, q))
    }
    fn queue_setup<H: Hal>(
        &mut self,
        hal: &H,
        q: u16,
        size: u16,
        desc: PhysAddr,
        avail: PhysAddr,
        used: PhysAddr,
    ) -> bool {
        dispatch!(self, t => t.queue_setup(hal, q, size, desc, avail, used))
    }
    fn notify<H: Hal>(&self, hal: &H, q: u16) {
        dispatch!(self, t => t.notify(hal, q))
    }
    fn config_read8<H: Hal>(&self, hal: &H, off: u32) -> u8 {
        dispatch!(self, t => t.config_read8(hal, off))
    }
    fn config_read16<H: Hal>(&self, hal: &H, off: u32) -> u16 {
        dispatch!(self, t => t.config_read16(hal, off))
    }
    fn ack_interrupt<H: Hal>(&self, hal: &H) -> u8 {
        dispatch!(self, t => t.ack_interrupt(hal))
    }
    fn config_generation<H: Hal>(&self, hal: &H) -> u8 {
        dispatch!(self, t => t.config_generation(hal))
    }
}

/// Picks the transport for a virtio-net function: modern when its
/// capabilities are usable (a transitional device offers both, as Linux
/// prefers too), else legacy on a transitional device.
pub fn probe<H: Hal>(hal: &H, bdf: Bdf) -> Result<AnyTransport, Error> {
    match pci::id(hal, bdf) {
        Some((VENDOR, DEVICE_TRANSITIONAL | DEVICE_MODERN)) => {}
        _ => return Err(Error::NotVirtioNet),
    }
    if let Some(m) = ModernTransport::find(hal, bdf) {
        return Ok(AnyTransport::Modern(m));
    }
    if pci::id(hal, bdf) == Some((VENDOR, DEVICE_TRANSITIONAL)) {
        if let Some(l) = LegacyTransport::find(hal, bdf) {
            return Ok(AnyTransport::Legacy(l));
        }
    }
    Err(Error::NoUsableBar)
}

/// Counters for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames handed to `receive` callers.
    pub rx_frames: u32,
    /// Receive completions dropped (bad length or descriptor id).
    pub rx_dropped: u32,
    /// Frames published for transmission.
    pub tx_frames: u32,
}

/// A polled virtio-net device.
pub struct VirtioNet<H: Hal, T: Transport> {
    hal: H,
    transport: T,
    bdf: Bdf,
    saved_command: u16,
    /// Queues, buffers and what was negotiated (rebuilt by `resume`).
    s: Parts,
    tx_busy: u32,
    /// Receive buffers posted since the last RX notify check (see
    /// `receive`).
    rx_unkicked: u16,
    live: bool,
    /// Diagnostics.
    pub counters: Counters,
}

/// What `bring_up` sets up: the queues, the buffers, what was negotiated.
struct Parts {
    rx: SplitQueue,
    tx: SplitQueue,
    rx_bufs: usize,
    tx_bufs: usize,
    rx_slots: u16,
    tx_slots: u16,
    hdr_len: usize,
    /// Frame bytes per buffer: [`BUF_LEN`] or [`JUMBO_BUF_LEN`].
    buf_len: usize,
    mac: MacAddr,
    features: u64,
}

impl<H: Hal> VirtioNet<H, AnyTransport> {
    /// Probes `bdf` ([`probe`]) and brings the device up.
    pub fn probe(hal: H, bdf: Bdf) -> Result<Self, Error> {
        let t = probe(&hal, bdf)?;
        Self::new(hal, t, bdf)
    }
}

impl<H: Hal, T: Transport> VirtioNet<H, T> {
    /// Resets the device, negotiates features, sets up both queues in the
    /// HAL's DMA region, posts every receive buffer and sets DRIVER_OK
    /// (§3.1.1). On failure the device is reset again and the PCI command
    /// register restored.
    pub fn new(mut hal: H, mut transport: T, bdf: Bdf) -> Result<Self, Error> {
        let saved_command = pci::enable_polled_dma(&hal, bdf);
        match bring_up(&mut hal, &mut transport) {
            Ok(s) => {
                let nic = VirtioNet {
                    hal,
                    transport,
                    bdf,
                    saved_command,
                    s,
                    tx_busy: 0,
                    rx_unkicked: 0,
                    live: true,
                    counters: Counters::default(),
                };
                // Notifications only after DRIVER_OK (§3.1.1 step 8).
                nic.transport.notify(&nic.hal, RX_QUEUE);
                Ok(nic)
            }
            Err(e) => {
                give_up(&hal, &transport, bdf, saved_command);
                Err(e)
            }
        }
    }

    /// Brings a quiesced device up again, as `new` did: reset, fresh
    /// queues in the same DMA region, every receive buffer posted. Frames
    /// that arrived meanwhile are lost, as on a cable pull; the transport
    /// above retransmits. No-op while live.
    pub fn resume(&mut self) -> Result<(), Error> {
        if self.live {
            return Ok(());
        }
        self.saved_command = pci::enable_polled_dma(&self.hal, self.bdf);
        match bring_up(&mut self.hal, &mut self.transport) {
            Ok(s) => {
                self.s = s;
                self.tx_busy = 0;
                self.rx_unkicked = 0;
                self.live = true;
                self.transport.notify(&self.hal, RX_QUEUE);
                Ok(())
            }
            Err(e) => {
                give_up(&self.hal, &self.transport, self.bdf, self.saved_command);
                Err(e)
            }
        }
    }

    /// "virtio-net-legacy" or "virtio-net-modern".
    pub fn model(&self) -> &'static str {
        if self.transport.is_legacy() {
            "virtio-net-legacy"
        } else {
            "virtio-net-modern"
        }
    }

    /// Negotiated feature bits.
    pub fn features(&self) -> u64 {
        self.s.features
    }

    /// Bytes of virtio-net header in front of each frame (10 or 12).
    pub fn header_len(&self) -> usize {
        self.s.hdr_len
    }

    /// Queue sizes (receive, transmit).
    pub fn queue_sizes(&self) -> (u16, u16) {
        (self.s.rx.size(), self.s.tx.size())
    }

    /// The platform, e.g. to read its clock between polls.
    pub fn hal(&self) -> &H {
        &self.hal
    }

    #[cfg(test)]
    pub(crate) fn hal_mut(&mut self) -> &mut H {
        &mut self.hal
    }

    /// Stops all DMA: resets the device (status 0, queues forgotten), clears
    /// a pending interrupt and restores the PCI command register. After this
    /// the device is as the firmware left it and `receive`/`transmit` return
    /// `None`. Idempotent.
    pub fn quiesce(&mut self) {
        if !self.live {
            return;
        }
        self.live = false;
        reset(&self.hal, &self.transport);
        self.transport.ack_interrupt(&self.hal);
        pci::restore_command(&self.hal, self.bdf, self.saved_command);
    }

    /// Reads back what [`VirtioNet::quiesce`] promises: device status 0 and
    /// bus mastering as the firmware left it.
    pub fn is_quiesced(&self) -> bool {
        let command = self.hal.pci_read16(self.bdf, pci::COMMAND);
        self.transport.status(&self.hal) == 0
            && command & pci::CMD_BUS_MASTER == self.saved_command & pci::CMD_BUS_MASTER
    }

    fn rx_data(&self, slot: u16) -> usize {
        self.s.rx_bufs + slot as usize * (HDR_ROOM + self.s.buf_len) + HDR_ROOM
    }

    fn tx_data(&self, slot: u16) -> usize {
        self.s.tx_bufs + slot as usize * (HDR_ROOM + self.s.buf_len) + HDR_ROOM
    }

    /// Gives a receive buffer back to the device. The notify is batched:
    /// a device that ran dry asks for one after every buffer, and each
    /// costs an exit to the device model (~10 us under QEMU TCG, about as
    /// much as processing a 4 KiB frame). So it goes out after
    /// `RX_KICK_BATCH` buffers, or as soon as the used ring is empty
    /// (`receive`), which keeps the device from waiting on us while we
    /// have nothing else to do.
    fn repost_rx(&mut self, slot: u16) {
        self.s.rx.publish(&mut self.hal, 2 * slot);
        self.rx_unkicked += 1;
        if self.rx_unkicked >= RX_KICK_BATCH.min(self.s.rx_slots) {
            self.kick_rx_now();
        }
    }

    fn kick_rx_now(&mut self) {
        if self.rx_unkicked > 0 {
            self.rx_unkicked = 0;
            self.kick(RX_QUEUE);
        }
    }

    fn kick(&mut self, q: u16) {
        let queue = if q == RX_QUEUE {
            &self.s.rx
        } else {
            &self.s.tx
        };
        if queue.needs_notify(&self.hal) {
            self.transport.notify(&self.hal, q);
        }
    }

    /// Gives finished transmit slots back to the free set.
    fn reclaim_tx(&mut self) {
        while let Some(u) = self.s.tx.pop_used(&self.hal) {
            let slot = u.id / 2;
            if u.id % 2 == 0 && slot < self.s.tx_slots as u32 {
                self.tx_busy &= !(1 << slot);
            }
        }
    }
}

/// Bring-up failed: mark the device FAILED, reset it, restore PCI command.
fn give_up<H: Hal, T: Transport>(hal: &H, t: &T, bdf: Bdf, saved_command: u16) {
    t.set_status(hal, STATUS_FAILED);
    reset(hal, t);
    pci::restore_command(hal, bdf, saved_command);
}

fn reset<H: Hal, T: Transport>(hal: &H, t: &T) -> bool {
    t.set_status(hal, 0);
    // Modern devices may take time; the driver must wait for 0 (§4.1.4.3.2).
    wait_until(hal, 1000, 100, |h| t.status(h) == 0)
}

fn bring_up<H: Hal, T: Transport>(hal: &mut H, t: &mut T) -> Result<Parts, Error> {
    if !reset(hal, t) {
        return Err(Error::ResetTimeout);
    }
    t.set_status(hal, STATUS_ACKNOWLEDGE);
    t.set_status(hal, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    let offered = t.device_features(hal);
    let legacy = t.is_legacy();
    if !legacy && offered & F_VERSION_1 == 0 {
        return Err(Error::NoVersion1);
    }
    if offered & F_MAC == 0 {
        return Err(Error::NoMac);
    }
    let want = F_MAC | F_STATUS | if legacy { 0 } else { F_VERSION_1 };
    let features = offered & want;
    t.set_driver_features(hal, features);
    let mut status = STATUS_ACKNOWLEDGE | STATUS_DRIVER;
    if !legacy {
        status |= STATUS_FEATURES_OK;
        t.set_status(hal, status);
        if t.status(hal) & STATUS_FEATURES_OK == 0 {
            return Err(Error::FeaturesRejected);
        }
    }
    // Header: struct virtio_net_hdr, plus num_buffers when VERSION_1 (or
    // MRG_RXBUF, which we never take) is negotiated (§5.1.6).
    let hdr_len = if features & F_VERSION_1 != 0 { 12 } else { 10 };

    let mut carver = DmaCarver::new(hal);
    let mut queues = [None, None];
    for (q, slot) in [RX_QUEUE, TX_QUEUE].into_iter().zip(queues.iter_mut()) {
        let max = t.queue_max(hal, q);
        let size = if legacy { max } else { max.min(QUEUE_WANT) };
        if size < 2 || !size.is_power_of_two() {
            return Err(Error::NoQueue);
        }
        let vq = SplitQueue::carve(hal, &mut carver, size, legacy).ok_or(Error::NoDmaMemory)?;
        let (d, a, u) = (vq.desc_phys(hal), vq.avail_phys(hal), vq.used_phys(hal));
        if !t.queue_setup(hal, q, size, d, a, u) {
            return Err(Error::NoQueue);
        }
        *slot = Some(vq);
    }
    let [Some(mut rx), Some(tx)] = queues else {
        return Err(Error::NoQueue);
    };
    let rx_slots = RX_SLOTS.min(rx.size() / 2);
    let tx_slots = TX_SLOTS.min(tx.size() / 2);
    // Jumbo buffers when the region has room for them, else standard ones.
    let (buf_len, rx_bufs, tx_bufs) = [JUMBO_BUF_LEN, BUF_LEN]
        .into_iter()
        .find_map(|buf_len| {
            let mut c = carver.clone();
            let slot_len = HDR_ROOM + buf_len;
            let rx_bufs = c.take(rx_slots as usize * slot_len, 16)?;
            let tx_bufs = c.take(tx_slots as usize * slot_len, 16)?;
            Some((buf_len, rx_bufs, tx_bufs))
        })
        .ok_or(Error::NoDmaMemory)?;
    let slot_len = HDR_ROOM + buf_len;
    // Transmit headers stay all-zero: no checksum offload, no GSO.
    dma_zero(hal, tx_bufs, tx_slots as usize * slot_len);

    let base = hal.dma_phys();
    for s in 0..tx_slots {
        let hdr = tx_bufs + s as usize * slot_len;
        tx.set_desc(
            hal,
            2 * s,
            base + hdr as u64,
            hdr_len as u32,
            DESC_F_NEXT,
            2 * s + 1,
        );
        tx.set_desc(hal, 2 * s + 1, base + (hdr + HDR_ROOM) as u64, 0, 0, 0);
    }
    for s in 0..rx_slots {
        let hdr = rx_bufs + s as usize * slot_len;
        rx.set_desc(
            hal,
            2 * s,
            base + hdr as u64,
            hdr_len as u32,
            DESC_F_NEXT | DESC_F_WRITE,
            2 * s + 1,
        );
        rx.set_desc(
            hal,
            2 * s + 1,
            base + (hdr + HDR_ROOM) as u64,
            buf_len as u32,
            DESC_F_WRITE,
            0,
        );
        rx.publish(hal, 2 * s);
    }

    let mut mac = [0u8; 6];
    for _ in 0..4 {
        // Modern devices version their config; retry a torn read (§2.4.1).
        let gen = t.config_generation(hal);
        for (i, b) in mac.iter_mut().enumerate() {
            *b = t.config_read8(hal, CFG_MAC + i as u32);
        }
        if gen == t.config_generation(hal) {
            break;
        }
    }
    t.set_status(hal, status | STATUS_DRIVER_OK);
    Ok(Parts {
        rx,
        tx,
        rx_bufs,
        tx_bufs,
        rx_slots,
        tx_slots,
        hdr_len,
        buf_len,
        mac,
        features,
    })
}

impl<H: Hal, T: Transport> Nic for VirtioNet<H, T> {
    fn mac(&self) -> MacAddr {
        self.s.mac
    }

    fn max_frame(&self) -> usize {
        // Without FCS: a buffer holds exactly this much frame.
        if self.s.buf_len > BUF_LEN {
            self.s.buf_len
        } else {
            MAX_FRAME
        }
    }

    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if !self.live {
            return None;
        }
        let (slot, len) = loop {
            let Some(used) = self.s.rx.pop_used(&self.hal) else {
                // Nothing to take: the device must know of every buffer.
                self.kick_rx_now();
                return None;
            };
            let slot = (used.id / 2) as u16;
            if used.id % 2 != 0 || used.id / 2 >= self.s.rx_slots as u32 {
                // Not a chain head we posted: nothing to re-post.
                self.counters.rx_dropped += 1;
                continue;
            }
            // The device wrote header + frame across the chain.
            let len = (used.len as usize).wrapping_sub(self.s.hdr_len);
            if (ETH_HEADER_LEN..=self.max_frame()).contains(&len) {
                break (slot, len);
            }
            self.counters.rx_dropped += 1;
            self.repost_rx(slot);
        };
        self.counters.rx_frames += 1;
        // The slot is ours until the publish below.
        let r = f(self.hal.dma_bytes(self.rx_data(slot), len));
        self.repost_rx(slot);
        Some(r)
    }

    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if !self.live || len == 0 || len > self.max_frame() {
            return None;
        }
        self.reclaim_tx();
        let free = !self.tx_busy & (u32::MAX >> (32 - self.s.tx_slots as u32));
        if free == 0 {
            return None;
        }
        let slot = free.trailing_zeros() as u16;
        // Not published: the slot is ours.
        let r = f(self.hal.dma_bytes_mut(self.tx_data(slot), len));
        self.s
            .tx
            .set_desc_len(&mut self.hal, 2 * slot + 1, len as u32);
        self.tx_busy |= 1 << slot;
        self.s.tx.publish(&mut self.hal, 2 * slot);
        self.kick(TX_QUEUE);
        self.counters.tx_frames += 1;
        Some(r)
    }

    fn link_up(&self) -> bool {
        if !self.live {
            return false;
        }
        if self.s.features & F_STATUS == 0 {
            return true;
        }
        self.transport.config_read16(&self.hal, CFG_STATUS) & NET_S_LINK_UP != 0
    }
}

impl<H: Hal, T: Transport> Drop for VirtioNet<H, T> {
    /// The DMA region goes away with the HAL: stop the device first.
    fn drop(&mut self) {
        self.quiesce();
    }
}

#[cfg(test)]
mod tests;
