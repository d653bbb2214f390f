//! The platform under a NIC driver: port I/O, MMIO, PCI configuration
//! space, one DMA region and memory barriers.
//!
//! `fabric` contains no unsafe code, so every access that Rust cannot check
//! happens inside the platform's implementation of [`Hal`] (rom16's
//! `nichal.rs`, later the OS driver's). The drivers above it are plain safe
//! Rust that computes offsets and register values.
//!
//! # The DMA region
//! The platform hands the driver one physically contiguous, cache-coherent
//! region (`dma_phys() .. dma_phys() + dma_len()`) that nothing else uses.
//! Drivers address it by byte offset and carve rings and buffers out of it
//! with [`DmaCarver`]. Two kinds of access exist:
//!
//! * **Shared structures** (descriptor rings, used/avail rings, status bytes)
//!   that the device may write at any moment go through the volatile
//!   `dma_read*`/`dma_write*` methods. No Rust reference to them ever exists,
//!   so a concurrent device write cannot break an aliasing assumption.
//! * **Buffers** (frame payloads) are lent as slices with [`Hal::dma_bytes`]
//!   and [`Hal::dma_bytes_mut`]. A driver asks for a buffer's slice only while
//!   the driver owns that buffer: before it is posted to the device, or after
//!   the device returned it (used ring entry / DD bit observed, followed by
//!   [`Hal::rmb`]) and before it is posted again. The device does not touch a
//!   buffer it does not own, so for the slice's lifetime the memory behaves
//!   like ordinary Rust memory. The borrow checker adds the CPU side: a slice
//!   borrows the HAL, and re-posting needs `&mut` for the ring writes, so no
//!   slice can outlive the hand-back. This ownership protocol is the one
//!   invariant of the drivers that the compiler cannot check; each driver
//!   states where it gains and gives up ownership of a buffer.
//!
//! # Implementer duties
//! * Port, MMIO and config accesses are performed exactly once, with exactly
//!   the given width, in program order relative to each other and to the
//!   DMA accessors (each is at least a compiler barrier).
//! * The DMA region is exclusively the driver's, physically contiguous,
//!   reachable by the device at `dma_phys()` and coherent with the CPU.
//!   `dma_*` methods panic on an offset or length outside the region (a
//!   driver bug), never touching memory outside it. Accessors are volatile.
//! * `mb`/`rmb`/`wmb` order the CPU's accesses to the DMA region and to the
//!   device as seen by the device (full, load-load, store-store barriers).
//! * `delay_us` waits at least the given time.
//!
//! The trait itself is safe to call: every method either stays inside the
//! region it was given or talks to the device the driver was given.

/// A physical (bus) address.
pub type PhysAddr = u64;

/// A PCI function address in the BIOS encoding: `bus << 8 | dev << 3 | fn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bdf(pub u16);

impl Bdf {
    /// Builds an address from its parts (`dev` < 32, `func` < 8).
    pub const fn new(bus: u8, dev: u8, func: u8) -> Bdf {
        Bdf((bus as u16) << 8 | ((dev as u16) & 0x1f) << 3 | (func as u16) & 7)
    }
    /// Bus number.
    pub const fn bus(self) -> u8 {
        (self.0 >> 8) as u8
    }
    /// Device (slot) number.
    pub const fn dev(self) -> u8 {
        ((self.0 >> 3) & 0x1f) as u8
    }
    /// Function number.
    pub const fn func(self) -> u8 {
        (self.0 & 7) as u8
    }
}

/// What a NIC driver needs from the platform. See the module docs for the
/// duties of an implementation and the DMA ownership protocol.
pub trait Hal {
    /// Reads an 8-bit I/O port.
    fn io_read8(&self, port: u16) -> u8;
    /// Reads a 16-bit I/O port.
    fn io_read16(&self, port: u16) -> u16;
    /// Reads a 32-bit I/O port.
    fn io_read32(&self, port: u16) -> u32;
    /// Writes an 8-bit I/O port.
    fn io_write8(&self, port: u16, v: u8);
    /// Writes a 16-bit I/O port.
    fn io_write16(&self, port: u16, v: u16);
    /// Writes a 32-bit I/O port.
    fn io_write32(&self, port: u16, v: u32);

    /// Whether `[addr, addr + len)` can be reached with the `mmio_*` methods
    /// (the ROM runs without paging, so only the low 4 GiB).
    fn mmio_reachable(&self, addr: PhysAddr, len: u64) -> bool;
    /// Reads an 8-bit device register at a physical address.
    fn mmio_read8(&self, addr: PhysAddr) -> u8;
    /// Reads a 16-bit device register (naturally aligned).
    fn mmio_read16(&self, addr: PhysAddr) -> u16;
    /// Reads a 32-bit device register (naturally aligned).
    fn mmio_read32(&self, addr: PhysAddr) -> u32;
    /// Writes an 8-bit device register.
    fn mmio_write8(&self, addr: PhysAddr, v: u8);
    /// Writes a 16-bit device register (naturally aligned).
    fn mmio_write16(&self, addr: PhysAddr, v: u16);
    /// Writes a 32-bit device register (naturally aligned).
    fn mmio_write32(&self, addr: PhysAddr, v: u32);

    /// Reads the aligned dword at `off` (multiple of 4) of a function's
    /// configuration space. A missing function reads all ones.
    fn pci_read32(&self, bdf: Bdf, off: u8) -> u32;
    /// Writes the aligned dword at `off` of a function's configuration space.
    fn pci_write32(&self, bdf: Bdf, off: u8, v: u32);
    /// Writes the aligned word at `off` (even). Needed for the command
    /// register: a dword write would also hit the status register's
    /// write-one-to-clear bits.
    fn pci_write16(&self, bdf: Bdf, off: u8, v: u16);

    /// Reads the aligned word at `off` (even).
    fn pci_read16(&self, bdf: Bdf, off: u8) -> u16 {
        (self.pci_read32(bdf, off & !3) >> ((off & 2) * 8)) as u16
    }
    /// Reads the byte at `off`.
    fn pci_read8(&self, bdf: Bdf, off: u8) -> u8 {
        (self.pci_read32(bdf, off & !3) >> ((off & 3) * 8)) as u8
    }

    /// Physical address of the DMA region's first byte.
    fn dma_phys(&self) -> PhysAddr;
    /// Length of the DMA region in bytes.
    fn dma_len(&self) -> usize;
    /// Volatile read of the little-endian u16 at `off` (even).
    fn dma_read16(&self, off: usize) -> u16;
    /// Volatile read of the little-endian u32 at `off` (multiple of 4).
    fn dma_read32(&self, off: usize) -> u32;
    /// Volatile write of a little-endian u16 at `off` (even).
    fn dma_write16(&mut self, off: usize, v: u16);
    /// Volatile write of a little-endian u32 at `off` (multiple of 4).
    fn dma_write32(&mut self, off: usize, v: u32);
    /// Writes a little-endian u64 at `off` (multiple of 8) as two u32s, low
    /// half first. Only for fields the device is not reading right now.
    fn dma_write64(&mut self, off: usize, v: u64) {
        self.dma_write32(off, v as u32);
        self.dma_write32(off + 4, (v >> 32) as u32);
    }
    /// Lends `len` bytes at `off` for reading. Only for buffers the driver
    /// owns (module docs).
    fn dma_bytes(&self, off: usize, len: usize) -> &[u8];
    /// Lends `len` bytes at `off` for writing. Only for buffers the driver
    /// owns (module docs).
    fn dma_bytes_mut(&mut self, off: usize, len: usize) -> &mut [u8];

    /// Full barrier: earlier loads and stores complete before later ones.
    fn mb(&self);
    /// Load barrier: e.g. between reading a used index and the entries it
    /// covers.
    fn rmb(&self);
    /// Store barrier: e.g. between filling descriptors and publishing them.
    fn wmb(&self);

    /// Busy-waits at least `us` microseconds (device resets only; never in a
    /// receive or transmit path).
    fn delay_us(&self, us: u32);
}

/// Hands out aligned, non-overlapping pieces of the DMA region, front to
/// back. Offsets are relative to the region; alignment is applied to the
/// physical address the device sees.
#[derive(Debug, Clone)]
pub struct DmaCarver {
    phys: PhysAddr,
    next: usize,
    end: usize,
}

impl DmaCarver {
    /// A carver over the whole region of `hal`.
    pub fn new<H: Hal>(hal: &H) -> DmaCarver {
        DmaCarver {
            phys: hal.dma_phys(),
            next: 0,
            end: hal.dma_len(),
        }
    }

    /// A carver over a region described by hand (tests, sub-regions).
    pub const fn with_region(phys: PhysAddr, len: usize) -> DmaCarver {
        DmaCarver {
            phys,
            next: 0,
            end: len,
        }
    }

    /// Takes `len` bytes whose physical address is a multiple of `align`
    /// (a power of two). Returns the region offset, or `None` when the
    /// region is exhausted.
    pub fn take(&mut self, len: usize, align: usize) -> Option<usize> {
        debug_assert!(align.is_power_of_two());
        let here = self.phys.checked_add(self.next as u64)?;
        let mask = align as u64 - 1;
        let pad = ((here.wrapping_add(mask) & !mask) - here) as usize;
        let start = self.next.checked_add(pad)?;
        let end = start.checked_add(len)?;
        if end > self.end {
            return None;
        }
        self.next = end;
        Some(start)
    }

    /// Bytes used so far, alignment padding included.
    pub const fn used(&self) -> usize {
        self.next
    }
}

/// Zeroes `len` bytes at `off` of the DMA region (the driver owns them).
pub fn dma_zero<H: Hal>(hal: &mut H, off: usize, len: usize) {
    hal.dma_bytes_mut(off, len).fill(0);
}

/// Polls `done` up to `tries` times, `step_us` apart. Returns whether it
/// became true (bounded waits during device resets).
pub fn wait_until<H: Hal>(
    hal: &H,
    tries: u32,
    step_us: u32,
    mut done: impl FnMut(&H) -> bool,
) -> bool {
    for _ in 0..tries {
        if done(hal) {
            return true;
        }
        hal.delay_us(step_us);
    }
    done(hal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bdf_fields() {
        let b = Bdf::new(0x12, 0x1f, 7);
        assert_eq!(b.0, 0x12ff);
        assert_eq!((b.bus(), b.dev(), b.func()), (0x12, 0x1f, 7));
        assert_eq!(Bdf(0x0010), Bdf::new(0, 2, 0));
    }

    #[test]
    fn carver_aligns_physical_addresses() {
        // Region starts 0x400 past a page boundary.
        let mut c = DmaCarver::with_region(0x9_8400, 0x4000);
        assert_eq!(c.take(10, 4096), Some(0xc00));
        assert_eq!(c.take(6, 16), Some(0xc10));
        assert_eq!(c.take(1, 1), Some(0xc16));
        assert_eq!(c.used(), 0xc17);
        assert_eq!(c.take(0x4000, 1), None, "too big");
        assert_eq!(c.used(), 0xc17, "a failed take uses nothing");
        assert_eq!(c.take(0x4000 - 0xc17, 1), Some(0xc17));
        assert_eq!(c.take(1, 1), None);
    }
}
