//! Intel 8254x gigabit Ethernet ("e1000"; QEMU's default `e1000` is the
//! 82540EM, 8086:100e), polled, with legacy receive and transmit
//! descriptors. Register names and bits follow the PCI/PCI-X Family of
//! Gigabit Ethernet Controllers Software Developer's Manual (8254x SDM):
//! §13 registers, §3.2/§3.3 descriptor formats, §14 initialisation.
//!
//! * Registers: memory BAR 0 (128 KiB).
//! * Receive: up to 32 descriptors ([`RX_DESCS_CHOICES`]) with 2048-byte buffers (RCTL.BSIZE
//!   default), CRC stripped, broadcast accepted. Head/tail: the device owns
//!   `[RDH, RDT)`; one descriptor always stays with the driver so a full
//!   ring is distinguishable from an empty one.
//! * Transmit: [`TX_DESCS`] descriptors, one buffer each, short frames
//!   padded by the device (TCTL.PSP).
//! * Buffer ownership (see `hal.rs`): a receive buffer is the driver's from
//!   the moment its descriptor shows DD (followed by a load barrier) until
//!   RDT is moved past it; a transmit buffer from DD (or never used) until
//!   TDT is moved past it. Slices are taken only in those windows.
//! * Interrupts are masked (IMC) and INTx disabled in PCI command;
//!   `quiesce` disables both queues and issues a device reset.

use super::hal::{dma_zero, wait_until, Bdf, DmaCarver, Hal};
use super::pci::{self, Bar};
use super::{MacAddr, Nic};

/// Intel's PCI vendor ID.
pub const VENDOR: u16 = 0x8086;
/// Device IDs with the register model driven here: 82540EM (QEMU `e1000`),
/// 82544GC (`e1000-82544gc`), 82545EM (`e1000-82545em`).
pub const DEVICES: [u16; 3] = [0x100e, 0x100c, 0x100f];

/// Register offsets in BAR 0 (8254x SDM §13.4).
pub mod reg {
    /// Device control.
    pub const CTRL: u32 = 0x0000;
    /// Device status.
    pub const STATUS: u32 = 0x0008;
    /// EEPROM read.
    pub const EERD: u32 = 0x0014;
    /// Interrupt cause read (clears on read).
    pub const ICR: u32 = 0x00c0;
    /// Interrupt mask clear.
    pub const IMC: u32 = 0x00d8;
    /// Receive control.
    pub const RCTL: u32 = 0x0100;
    /// Transmit control.
    pub const TCTL: u32 = 0x0400;
    /// Transmit inter-packet gap.
    pub const TIPG: u32 = 0x0410;
    /// Receive descriptor base, low 32 bits.
    pub const RDBAL: u32 = 0x2800;
    /// Receive descriptor base, high 32 bits.
    pub const RDBAH: u32 = 0x2804;
    /// Receive ring length in bytes (multiple of 128).
    pub const RDLEN: u32 = 0x2808;
    /// Receive head.
    pub const RDH: u32 = 0x2810;
    /// Receive tail.
    pub const RDT: u32 = 0x2818;
    /// Transmit descriptor base, low.
    pub const TDBAL: u32 = 0x3800;
    /// Transmit descriptor base, high.
    pub const TDBAH: u32 = 0x3804;
    /// Transmit ring length in bytes.
    pub const TDLEN: u32 = 0x3808;
    /// Transmit head.
    pub const TDH: u32 = 0x3810;
    /// Transmit tail.
    pub const TDT: u32 = 0x3818;
    /// Multicast table array, 128 dwords.
    pub const MTA: u32 = 0x5200;
    /// Receive address 0, low (MAC bytes 0-3).
    pub const RAL0: u32 = 0x5400;
    /// Receive address 0, high (MAC bytes 4-5, AV bit).
    pub const RAH0: u32 = 0x5404;
}

const CTRL_LRST: u32 = 1 << 3;
const CTRL_ASDE: u32 = 1 << 5;
const CTRL_SLU: u32 = 1 << 6;
const CTRL_ILOS: u32 = 1 << 7;
const CTRL_RST: u32 = 1 << 26;
const CTRL_VME: u32 = 1 << 30;
const CTRL_PHY_RST: u32 = 1 << 31;
const STATUS_LU: u32 = 1 << 1;
const EERD_START: u32 = 1 << 0;
const EERD_DONE: u32 = 1 << 4;
const RAH_AV: u32 = 1 << 31;
const RCTL_EN: u32 = 1 << 1;
const RCTL_BAM: u32 = 1 << 15;
const RCTL_SECRC: u32 = 1 << 26;
const TCTL_EN: u32 = 1 << 1;
const TCTL_PSP: u32 = 1 << 3;
const TCTL_CT: u32 = 0x0f << 4;
const TCTL_COLD_FULL_DUPLEX: u32 = 0x40 << 12;
/// IPGT 10, IPGR1 8, IPGR2 6: the SDM's recommendation for copper.
const TIPG_COPPER: u32 = 10 | 8 << 10 | 6 << 20;

/// Descriptor status: descriptor done.
const DESC_DD: u32 = 1 << 0;
/// Receive status: end of packet.
const RX_EOP: u32 = 1 << 1;
/// Receive errors that mean a bad frame (CE, SE, SEQ, CXE, RXE; not the
/// checksum-offload bits, which we never enable).
const RX_ERR_FRAME: u32 = 0x01 | 0x02 | 0x04 | 0x10 | 0x80;
/// Transmit command: end of packet, insert FCS, report status.
const TX_CMD_EOP: u32 = 1 << 0;
const TX_CMD_IFCS: u32 = 1 << 1;
const TX_CMD_RS: u32 = 1 << 3;

/// Bytes per legacy descriptor.
pub const DESC_LEN: usize = 16;
/// Receive descriptors: as many of these as the DMA region holds (RDLEN
/// must be a multiple of 128 bytes, so 8 at least). QEMU's e1000 *drops*
/// (rather than holds back) every frame it had queued beyond the free
/// descriptors when an RDT write flushes its queue, and a queue fills
/// with what one read of the backend socket brought (up to ~60 frames at
/// path MTU 1024): a deep ring, handed back in large batches, is what
/// keeps a 64 KiB read from losing frames. Measured with `xtask bench` on
/// e1000: 8 descriptors handed back one by one, 1.5 MiB/s sequential
/// (~46 lost frames per call, recovered by NAK and retransmission).
pub const RX_DESCS_CHOICES: [u16; 3] = [32, 16, 8];
/// Transmit descriptors.
pub const TX_DESCS: u16 = 8;
/// Receive buffer size (RCTL.BSIZE = 00b, BSEX = 0).
const RX_BUF_LEN: usize = 2048;
/// Transmit buffer size.
const TX_BUF_LEN: usize = 1536;
/// Largest frame: 1500-byte MTU plus the Ethernet header.
pub const MAX_FRAME: usize = 1514;
const ETH_HEADER_LEN: usize = 14;
/// BAR 0 size.
const REGS_LEN: u64 = 0x20000;

/// Why bring-up failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Not a supported 8254x function.
    NotE1000,
    /// BAR 0 is missing or unreachable.
    NoUsableBar,
    /// CTRL.RST did not clear.
    ResetTimeout,
    /// Neither RAL/RAH nor the EEPROM hold a usable MAC.
    NoMac,
    /// Rings and buffers do not fit the DMA region.
    NoDmaMemory,
}

impl Error {
    /// A short human-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Error::NotE1000 => "not a supported e1000 device",
            Error::NoUsableBar => "e1000 register BAR unusable",
            Error::ResetTimeout => "device did not reset",
            Error::NoMac => "no MAC address in RAL/RAH or EEPROM",
            Error::NoDmaMemory => "descriptor rings do not fit the DMA region",
        }
    }
}

/// Counters for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames handed to `receive` callers.
    pub rx_frames: u32,
    /// Descriptors dropped (errors, no EOP, bad length).
    pub rx_dropped: u32,
    /// Frames queued for transmission.
    pub tx_frames: u32,
}

/// A polled 8254x.
pub struct E1000<H: Hal> {
    hal: H,
    regs: Bar,
    bdf: Bdf,
    saved_command: u16,
    mac: MacAddr,
    rx_ring: usize,
    tx_ring: usize,
    rx_bufs: usize,
    tx_bufs: usize,
    /// Next receive descriptor the device will complete.
    rx_next: u16,
    /// Receive descriptors in the ring (one of [`RX_DESCS_CHOICES`]).
    rx_descs: u16,
    /// Descriptors given back whose RDT write is still to come (see
    /// `give_back_rx`), and the tail to write then.
    rx_unreported: u16,
    rx_tail: u16,
    /// Next transmit descriptor to fill (= TDT).
    tx_tail: u16,
    /// Oldest transmit descriptor not yet seen done.
    tx_clean: u16,
    live: bool,
    /// Bus mastering turned off by [`E1000::pause`]; rings intact.
    paused: bool,
    /// Diagnostics.
    pub counters: Counters,
}

/// Whether `bdf` is an 8254x this driver handles.
pub fn matches<H: Hal>(hal: &H, bdf: Bdf) -> bool {
    matches!(pci::id(hal, bdf), Some((VENDOR, d)) if DEVICES.contains(&d))
}

impl<H: Hal> E1000<H> {
    /// Resets the device, reads its MAC, programs both rings in the HAL's
    /// DMA region and enables receive and transmit (8254x SDM §14.3-14.5).
    /// On failure the device is reset again and the PCI command register
    /// restored.
    pub fn new(hal: H, bdf: Bdf) -> Result<Self, Error> {
        if !matches(&hal, bdf) {
            return Err(Error::NotE1000);
        }
        let regs = pci::bar(&hal, bdf, 0, REGS_LEN).map_err(|_| Error::NoUsableBar)?;
        if !matches!(regs, Bar::Mem(_)) {
            return Err(Error::NoUsableBar);
        }
        let saved_command = pci::enable_polled_dma(&hal, bdf);
        let mut nic = E1000 {
            hal,
            regs,
            bdf,
            saved_command,
            mac: [0; 6],
            rx_ring: 0,
            tx_ring: 0,
            rx_bufs: 0,
            tx_bufs: 0,
            rx_next: 0,
            rx_descs: 8,
            rx_unreported: 0,
            rx_tail: 7,
            tx_tail: 0,
            tx_clean: 0,
            live: true,
            paused: false,
            counters: Counters::default(),
        };
        match nic.bring_up() {
            Ok(()) => Ok(nic),
            Err(e) => {
                nic.quiesce();
                Err(e)
            }
        }
    }

    /// Always "e1000".
    pub fn model(&self) -> &'static str {
        "e1000"
    }

    /// The platform.
    pub fn hal(&self) -> &H {
        &self.hal
    }

    #[cfg(test)]
    pub(crate) fn hal_mut(&mut self) -> &mut H {
        &mut self.hal
    }

    fn rd(&self, r: u32) -> u32 {
        self.regs.read32(&self.hal, r)
    }

    fn wr(&self, r: u32, v: u32) {
        self.regs.write32(&self.hal, r, v)
    }

    /// Masks interrupts, resets, masks again (the reset unmasks nothing, but
    /// the SDM asks for it) and clears pending causes.
    fn reset(&self) -> bool {
        self.wr(reg::IMC, u32::MAX);
        self.wr(reg::CTRL, self.rd(reg::CTRL) | CTRL_RST);
        // The SDM wants ≥ 1 µs before the next access; EEPROM autoload
        // after a reset takes a few ms on real parts.
        self.hal.delay_us(1000);
        let done = wait_until(&self.hal, 1000, 10, |h| {
            self.regs.read32(h, reg::CTRL) & CTRL_RST == 0
        });
        self.wr(reg::IMC, u32::MAX);
        self.rd(reg::ICR);
        done
    }

    fn read_eeprom(&self, word: u8) -> Option<u16> {
        self.wr(reg::EERD, (word as u32) << 8 | EERD_START);
        let mut v = 0;
        let done = wait_until(&self.hal, 1000, 10, |h| {
            v = self.regs.read32(h, reg::EERD);
            v & EERD_DONE != 0
        });
        done.then_some((v >> 16) as u16)
    }

    fn read_mac(&self) -> Option<MacAddr> {
        let (ral, rah) = (self.rd(reg::RAL0), self.rd(reg::RAH0));
        let mac = if rah & RAH_AV != 0 {
            let l = ral.to_le_bytes();
            let h = rah.to_le_bytes();
            [l[0], l[1], l[2], l[3], h[0], h[1]]
        } else {
            // Words 0-2 of the EEPROM hold the MAC, low byte first.
            let mut m = [0u8; 6];
            for w in 0..3u8 {
                let v = self.read_eeprom(w)?.to_le_bytes();
                m[2 * w as usize] = v[0];
                m[2 * w as usize + 1] = v[1];
            }
            m
        };
        let usable = mac != [0; 6] && mac[0] & 1 == 0;
        usable.then_some(mac)
    }

    fn bring_up(&mut self) -> Result<(), Error> {
        if !self.reset() {
            return Err(Error::ResetTimeout);
        }
        let ctrl = self.rd(reg::CTRL);
        self.wr(
            reg::CTRL,
            (ctrl | CTRL_SLU | CTRL_ASDE) & !(CTRL_LRST | CTRL_PHY_RST | CTRL_ILOS | CTRL_VME),
        );
        self.mac = self.read_mac().ok_or(Error::NoMac)?;
        let m = self.mac;
        self.wr(reg::RAL0, u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
        self.wr(reg::RAH0, u32::from_le_bytes([m[4], m[5], 0, 0]) | RAH_AV);
        for i in 0..128 {
            self.wr(reg::MTA + 4 * i, 0);
        }

        let tx_ring_len = TX_DESCS as usize * DESC_LEN;
        let (rx_descs, rx_ring, tx_ring, rx_bufs, tx_bufs) = RX_DESCS_CHOICES
            .into_iter()
            .find_map(|n| {
                let mut c = DmaCarver::new(&self.hal);
                let rx_ring = c.take(n as usize * DESC_LEN, 128)?;
                let tx_ring = c.take(tx_ring_len, 128)?;
                let rx_bufs = c.take(n as usize * RX_BUF_LEN, 16)?;
                let tx_bufs = c.take(TX_DESCS as usize * TX_BUF_LEN, 16)?;
                Some((n, rx_ring, tx_ring, rx_bufs, tx_bufs))
            })
            .ok_or(Error::NoDmaMemory)?;
        (self.rx_descs, self.rx_ring, self.tx_ring) = (rx_descs, rx_ring, tx_ring);
        (self.rx_bufs, self.tx_bufs) = (rx_bufs, tx_bufs);
        let rx_ring_len = rx_descs as usize * DESC_LEN;
        let base = self.hal.dma_phys();
        dma_zero(&mut self.hal, self.rx_ring, rx_ring_len);
        dma_zero(&mut self.hal, self.tx_ring, tx_ring_len);
        for i in 0..rx_descs as usize {
            let buf = base + (self.rx_bufs + i * RX_BUF_LEN) as u64;
            self.hal.dma_write64(self.rx_ring + i * DESC_LEN, buf);
        }
        for i in 0..TX_DESCS as usize {
            let buf = base + (self.tx_bufs + i * TX_BUF_LEN) as u64;
            self.hal.dma_write64(self.tx_ring + i * DESC_LEN, buf);
        }
        self.hal.wmb();

        let rx_pa = base + self.rx_ring as u64;
        self.wr(reg::RDBAL, rx_pa as u32);
        self.wr(reg::RDBAH, (rx_pa >> 32) as u32);
        self.wr(reg::RDLEN, rx_ring_len as u32);
        self.wr(reg::RDH, 0);
        self.wr(reg::RDT, u32::from(rx_descs - 1));
        self.rx_next = 0;
        self.rx_unreported = 0;
        self.rx_tail = rx_descs - 1;
        self.wr(reg::RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);

        let tx_pa = base + self.tx_ring as u64;
        self.wr(reg::TDBAL, tx_pa as u32);
        self.wr(reg::TDBAH, (tx_pa >> 32) as u32);
        self.wr(reg::TDLEN, tx_ring_len as u32);
        self.wr(reg::TDH, 0);
        self.wr(reg::TDT, 0);
        self.tx_tail = 0;
        self.tx_clean = 0;
        self.wr(reg::TIPG, TIPG_COPPER);
        self.wr(
            reg::TCTL,
            TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD_FULL_DUPLEX,
        );
        Ok(())
    }

    /// Stops all DMA: receive and transmit disabled, interrupts masked,
    /// device reset (it reloads its MAC from the EEPROM), PCI command
    /// register restored. Afterwards `receive`/`transmit` return `None`.
    /// Idempotent.
    pub fn quiesce(&mut self) {
        if !self.live && !self.paused {
            return;
        }
        self.live = false;
        self.paused = false;
        self.wr(reg::RCTL, 0);
        self.wr(reg::TCTL, 0);
        self.reset();
        pci::restore_command(&self.hal, self.bdf, self.saved_command);
    }

    /// Stops DMA without a reset: bus mastering off, rings and receive
    /// state kept. The cheap stop for iPXE's after-every-write quiesce
    /// heuristic: a reset would renegotiate the link, and QEMU's e1000 holds
    /// receive for a second after every RCTL write — a second per write.
    /// (QEMU queues frames while bus mastering is off and delivers them when
    /// it comes back; real hardware drops them and RC retransmits.)
    pub fn pause(&mut self) {
        if !self.live {
            return;
        }
        self.live = false;
        self.paused = true;
        let cmd = self.hal.pci_read16(self.bdf, pci::COMMAND);
        self.hal
            .pci_write16(self.bdf, pci::COMMAND, cmd & !pci::CMD_BUS_MASTER);
    }

    /// Brings a paused device back (bus mastering on), or a quiesced one up
    /// again as `new` did (reset, rings, receive and transmit enabled).
    /// Frames that arrived while quiesced are lost; the transport above
    /// retransmits. No-op while live.
    pub fn resume(&mut self) -> Result<(), Error> {
        if self.live {
            return Ok(());
        }
        if self.paused {
            self.paused = false;
            self.live = true;
            let cmd = self.hal.pci_read16(self.bdf, pci::COMMAND);
            self.hal
                .pci_write16(self.bdf, pci::COMMAND, cmd | pci::CMD_BUS_MASTER);
            return Ok(());
        }
        self.saved_command = pci::enable_polled_dma(&self.hal, self.bdf);
        self.live = true;
        self.bring_up().inspect_err(|_| self.quiesce())
    }

    /// Reads back what [`E1000::quiesce`] promises: receive and transmit
    /// disabled and bus mastering as the firmware left it.
    pub fn is_quiesced(&self) -> bool {
        let command = self.hal.pci_read16(self.bdf, pci::COMMAND);
        (self.rd(reg::RCTL) & RCTL_EN) | (self.rd(reg::TCTL) & TCTL_EN) == 0
            && command & pci::CMD_BUS_MASTER == self.saved_command & pci::CMD_BUS_MASTER
    }

    fn rx_desc(&self, i: u16) -> usize {
        self.rx_ring + i as usize * DESC_LEN
    }

    fn tx_desc(&self, i: u16) -> usize {
        self.tx_ring + i as usize * DESC_LEN
    }

    /// Hands receive descriptor `i` back: clear its status, then move the
    /// tail onto it (the device owns everything before the tail). The RDT
    /// write is batched: it goes out once half the ring is ours or when the
    /// ring has nothing more for us (`receive`), so the device is never
    /// left short while we wait, each write (an exit to the device model,
    /// ~10 us under QEMU TCG) hands back many descriptors, and QEMU's queue
    /// flush finds room for what it holds (see [`RX_DESCS_CHOICES`]).
    fn give_back_rx(&mut self, i: u16) {
        let d = self.rx_desc(i);
        self.hal.dma_write32(d + 8, 0);
        self.hal.dma_write32(d + 12, 0);
        self.rx_tail = i;
        self.rx_unreported += 1;
        self.rx_next = (i + 1) % self.rx_descs;
        if self.rx_unreported >= self.rx_descs / 2 {
            self.report_rx_tail();
        }
    }

    /// Receive descriptors in the ring (what fitted the DMA region).
    pub fn rx_descs(&self) -> u16 {
        self.rx_descs
    }

    fn report_rx_tail(&mut self) {
        if self.rx_unreported > 0 {
            self.rx_unreported = 0;
            self.hal.wmb();
            self.wr(reg::RDT, self.rx_tail as u32);
        }
    }

    fn reclaim_tx(&mut self) {
        while self.tx_clean != self.tx_tail
            && self.hal.dma_read32(self.tx_desc(self.tx_clean) + 12) & DESC_DD != 0
        {
            self.tx_clean = (self.tx_clean + 1) % TX_DESCS;
        }
    }
}

impl<H: Hal> Nic for E1000<H> {
    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn max_frame(&self) -> usize {
        MAX_FRAME
    }

    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if !self.live {
            return None;
        }
        let (i, len) = loop {
            let i = self.rx_next;
            let d = self.rx_desc(i);
            // status (byte 12) and errors (byte 13) in one load
            let st = self.hal.dma_read32(d + 12);
            if st & DESC_DD == 0 {
                self.report_rx_tail();
                return None;
            }
            self.hal.rmb();
            let len = (self.hal.dma_read32(d + 8) & 0xffff) as usize;
            let errors = (st >> 8) & 0xff;
            if st & RX_EOP != 0
                && errors & RX_ERR_FRAME == 0
                && (ETH_HEADER_LEN..=MAX_FRAME).contains(&len)
            {
                break (i, len);
            }
            self.counters.rx_dropped += 1;
            self.give_back_rx(i);
        };
        self.counters.rx_frames += 1;
        // DD seen: the buffer is ours until give_back_rx moves the tail.
        let r = f(self
            .hal
            .dma_bytes(self.rx_bufs + i as usize * RX_BUF_LEN, len));
        self.give_back_rx(i);
        Some(r)
    }

    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if !self.live || len == 0 || len > MAX_FRAME {
            return None;
        }
        self.reclaim_tx();
        let next = (self.tx_tail + 1) % TX_DESCS;
        if next == self.tx_clean {
            return None; // ring full
        }
        let i = self.tx_tail;
        // Beyond the tail or already done: the buffer is ours.
        let r = f(self
            .hal
            .dma_bytes_mut(self.tx_bufs + i as usize * TX_BUF_LEN, len));
        let d = self.tx_desc(i);
        // length (15:0), CSO (23:16) = 0, CMD (31:24); then STA/CSS/special = 0
        self.hal.dma_write32(
            d + 8,
            len as u32 | (TX_CMD_EOP | TX_CMD_IFCS | TX_CMD_RS) << 24,
        );
        self.hal.dma_write32(d + 12, 0);
        self.hal.wmb();
        self.tx_tail = next;
        self.wr(reg::TDT, next as u32);
        self.counters.tx_frames += 1;
        Some(r)
    }

    fn link_up(&self) -> bool {
        self.live && self.rd(reg::STATUS) & STATUS_LU != 0
    }
}

impl<H: Hal> Drop for E1000<H> {
    /// The DMA region goes away with the HAL: stop the device first.
    fn drop(&mut self) {
        self.quiesce();
    }
}

#[cfg(test)]
mod tests;
