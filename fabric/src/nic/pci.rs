//! PCI configuration-space helpers over a [`Hal`]: identity, BAR decoding,
//! the capability list and the command register (PCI Local Bus 3.0, ch. 6).
//! Also [`Bar`]: register access through an I/O or memory BAR, so a driver
//! is written once for both.

use super::hal::{Bdf, Hal, PhysAddr};

/// Vendor ID (u16).
pub const VENDOR_ID: u8 = 0x00;
/// Device ID (u16).
pub const DEVICE_ID: u8 = 0x02;
/// Command register (u16).
pub const COMMAND: u8 = 0x04;
/// Status register (u16).
pub const STATUS: u8 = 0x06;
/// First base address register; BAR n is at `BAR0 + 4n`.
pub const BAR0: u8 = 0x10;
/// Capabilities pointer (u8).
pub const CAP_PTR: u8 = 0x34;

/// Command: respond to I/O space accesses.
pub const CMD_IO: u16 = 1 << 0;
/// Command: respond to memory space accesses.
pub const CMD_MEMORY: u16 = 1 << 1;
/// Command: may master the bus (DMA).
pub const CMD_BUS_MASTER: u16 = 1 << 2;
/// Command: INTx assertion disabled.
pub const CMD_INTX_DISABLE: u16 = 1 << 10;
/// Status: the capability list exists.
pub const STATUS_CAP_LIST: u16 = 1 << 4;

/// Capability ID: vendor specific (virtio uses it).
pub const CAP_ID_VENDOR: u8 = 0x09;

/// Vendor and device ID of a function, `None` if nothing answers.
pub fn id<H: Hal>(hal: &H, bdf: Bdf) -> Option<(u16, u16)> {
    let v = hal.pci_read32(bdf, VENDOR_ID);
    let vendor = v as u16;
    if vendor == 0xffff || vendor == 0 {
        return None;
    }
    Some((vendor, (v >> 16) as u16))
}

/// Where a BAR points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bar {
    /// I/O space, base port.
    Io(u16),
    /// Memory space, base physical address.
    Mem(PhysAddr),
}

impl Bar {
    /// The same space moved by `off` bytes (a capability's offset into a BAR).
    pub fn offset(self, off: u32) -> Bar {
        match self {
            Bar::Io(p) => Bar::Io(p.wrapping_add(off as u16)),
            Bar::Mem(a) => Bar::Mem(a + off as u64),
        }
    }
    /// Reads an 8-bit register at `off`.
    pub fn read8<H: Hal>(self, hal: &H, off: u32) -> u8 {
        match self.offset(off) {
            Bar::Io(p) => hal.io_read8(p),
            Bar::Mem(a) => hal.mmio_read8(a),
        }
    }
    /// Reads a 16-bit register at `off`.
    pub fn read16<H: Hal>(self, hal: &H, off: u32) -> u16 {
        match self.offset(off) {
            Bar::Io(p) => hal.io_read16(p),
            Bar::Mem(a) => hal.mmio_read16(a),
        }
    }
    /// Reads a 32-bit register at `off`.
    pub fn read32<H: Hal>(self, hal: &H, off: u32) -> u32 {
        match self.offset(off) {
            Bar::Io(p) => hal.io_read32(p),
            Bar::Mem(a) => hal.mmio_read32(a),
        }
    }
    /// Writes an 8-bit register at `off`.
    pub fn write8<H: Hal>(self, hal: &H, off: u32, v: u8) {
        match self.offset(off) {
            Bar::Io(p) => hal.io_write8(p, v),
            Bar::Mem(a) => hal.mmio_write8(a, v),
        }
    }
    /// Writes a 16-bit register at `off`.
    pub fn write16<H: Hal>(self, hal: &H, off: u32, v: u16) {
        match self.offset(off) {
            Bar::Io(p) => hal.io_write16(p, v),
            Bar::Mem(a) => hal.mmio_write16(a, v),
        }
    }
    /// Writes a 32-bit register at `off`.
    pub fn write32<H: Hal>(self, hal: &H, off: u32, v: u32) {
        match self.offset(off) {
            Bar::Io(p) => hal.io_write32(p, v),
            Bar::Mem(a) => hal.mmio_write32(a, v),
        }
    }
}

/// Why a BAR cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarError {
    /// Index out of range, or the upper half of a 64-bit BAR.
    Invalid,
    /// The firmware assigned no address.
    Unassigned,
    /// The platform cannot reach it (memory above 4 GiB in the ROM).
    Unreachable,
}

/// Decodes BAR `n` (0..=5). `len` is how much of it the driver will touch,
/// checked against [`Hal::mmio_reachable`] for memory BARs.
pub fn bar<H: Hal>(hal: &H, bdf: Bdf, n: u8, len: u64) -> Result<Bar, BarError> {
    if n > 5 {
        return Err(BarError::Invalid);
    }
    let lo = hal.pci_read32(bdf, BAR0 + 4 * n);
    if lo & 1 == 1 {
        let port = lo & 0xffff_fffc;
        if port == 0 || port > 0xffff {
            return Err(BarError::Unassigned);
        }
        return Ok(Bar::Io(port as u16));
    }
    let addr = match (lo >> 1) & 3 {
        0 => (lo & 0xffff_fff0) as u64,
        2 => {
            if n == 5 {
                return Err(BarError::Invalid);
            }
            let hi = hal.pci_read32(bdf, BAR0 + 4 * (n + 1));
            (hi as u64) << 32 | (lo & 0xffff_fff0) as u64
        }
        _ => return Err(BarError::Invalid),
    };
    if addr == 0 {
        return Err(BarError::Unassigned);
    }
    if !hal.mmio_reachable(addr, len) {
        return Err(BarError::Unreachable);
    }
    Ok(Bar::Mem(addr))
}

/// Iterates over the capability list: yields each capability's offset and
/// ID. Bounded, so a looping list cannot hang the caller.
pub fn capabilities<H: Hal>(hal: &H, bdf: Bdf) -> Capabilities<'_, H> {
    let next = if hal.pci_read16(bdf, STATUS) & STATUS_CAP_LIST != 0 {
        hal.pci_read8(bdf, CAP_PTR) & 0xfc
    } else {
        0
    };
    Capabilities {
        hal,
        bdf,
        next,
        budget: 48,
    }
}

/// Iterator returned by [`capabilities`].
pub struct Capabilities<'a, H: Hal> {
    hal: &'a H,
    bdf: Bdf,
    next: u8,
    budget: u8,
}

impl<H: Hal> Iterator for Capabilities<'_, H> {
    /// (offset in config space, capability ID)
    type Item = (u8, u8);
    fn next(&mut self) -> Option<(u8, u8)> {
        if self.next < 0x40 || self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        let at = self.next;
        let head = self.hal.pci_read16(self.bdf, at);
        self.next = (head >> 8) as u8 & 0xfc;
        Some((at, head as u8))
    }
}

/// Turns on what a polled DMA driver needs (I/O and memory decoding, bus
/// mastering) and masks INTx: nobody in the ROM handles the interrupt, and a
/// level-triggered line left asserted would storm the BIOS. Returns the
/// previous command register for [`restore_command`].
pub fn enable_polled_dma<H: Hal>(hal: &H, bdf: Bdf) -> u16 {
    let old = hal.pci_read16(bdf, COMMAND);
    hal.pci_write16(
        bdf,
        COMMAND,
        old | CMD_IO | CMD_MEMORY | CMD_BUS_MASTER | CMD_INTX_DISABLE,
    );
    old
}

/// Puts the command register back as [`enable_polled_dma`] found it (bus
/// mastering off again unless the firmware had it on).
pub fn restore_command<H: Hal>(hal: &H, bdf: Bdf, old: u16) {
    hal.pci_write16(bdf, COMMAND, old);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nic::fakehal::{cfg_addr, FakeHal, RegFile, Space};

    fn hal_with_config(cfg: &[(u8, u32)]) -> FakeHal<RegFile> {
        let mut regs = RegFile::default();
        for &(off, v) in cfg {
            regs.set_cfg(off, v);
        }
        FakeHal::new(regs, 0x10_0000, 4096)
    }

    #[test]
    fn id_and_missing_function() {
        let hal = hal_with_config(&[(0, 0x1000_1af4)]);
        assert_eq!(id(&hal, Bdf(0x10)), Some((0x1af4, 0x1000)));
        let hal = hal_with_config(&[(0, 0xffff_ffff)]);
        assert_eq!(id(&hal, Bdf(0x10)), None);
    }

    #[test]
    fn bar_decoding() {
        let hal = hal_with_config(&[
            (0x10, 0x0000_c041), // I/O at c040
            (0x14, 0xfebd_1000), // 32-bit memory
            (0x18, 0xfe00_000c), // 64-bit prefetchable, low half
            (0x1c, 0x0000_0000), //   high half
            (0x20, 0x0000_000c), // 64-bit above 4 GiB
            (0x24, 0x0000_0001), //   high half = 1
        ]);
        let b = Bdf(0x10);
        assert_eq!(bar(&hal, b, 0, 0x20), Ok(Bar::Io(0xc040)));
        assert_eq!(bar(&hal, b, 1, 0x20000), Ok(Bar::Mem(0xfebd_1000)));
        assert_eq!(bar(&hal, b, 2, 0x4000), Ok(Bar::Mem(0xfe00_0000)));
        assert_eq!(bar(&hal, b, 4, 0x4000), Err(BarError::Unreachable));
        assert_eq!(bar(&hal, b, 6, 1), Err(BarError::Invalid));
        let hal = hal_with_config(&[(0x10, 0)]);
        assert_eq!(bar(&hal, b, 0, 1), Err(BarError::Unassigned));
    }

    #[test]
    fn capability_walk_is_bounded_and_masks_low_bits() {
        let hal = hal_with_config(&[
            (0x04, 0x0010_0000), // status: cap list
            (0x34, 0x0000_0042), // low bits must be ignored
            (0x40, 0x0000_5009),
            (0x50, 0x0000_6011),
            (0x60, 0x0000_4009), // loops back to 0x40
        ]);
        let caps: Vec<_> = capabilities(&hal, Bdf(0)).collect();
        assert_eq!(caps.len(), 48);
        assert_eq!(&caps[..4], &[(0x40, 9), (0x50, 0x11), (0x60, 9), (0x40, 9)]);
        let none = hal_with_config(&[(0x34, 0x40), (0x40, 0x0009)]);
        assert_eq!(
            capabilities(&none, Bdf(0)).count(),
            0,
            "status says no list"
        );
    }

    #[test]
    fn command_enable_and_restore_use_word_writes() {
        let hal = hal_with_config(&[(0x04, 0x0010_0003)]);
        let old = enable_polled_dma(&hal, Bdf(8));
        assert_eq!(old, 3);
        restore_command(&hal, Bdf(8), old);
        let cmd = cfg_addr(Bdf(8), COMMAND);
        assert_eq!(
            hal.writes(),
            [(Space::Cfg, cmd, 0x0407), (Space::Cfg, cmd, 0x0003)]
        );
        assert!(hal
            .log()
            .iter()
            .all(|a| !matches!(a, crate::nic::fakehal::Access::Write(_, _, 4, _))));
    }
}
