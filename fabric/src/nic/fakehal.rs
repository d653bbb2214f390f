//! A fake platform for driver unit tests: DMA memory is a byte vector at a
//! made-up physical address, and every port, MMIO and config access goes to
//! a [`FakeDevice`] and into a log, so tests can check what a driver wrote
//! and in which order. The device side of the rings is played by the test
//! itself between driver calls (through the driver's `hal_mut`).

use super::hal::{Bdf, Hal, PhysAddr};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Address space of an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Space {
    /// x86 I/O ports.
    Io,
    /// Memory-mapped registers.
    Mem,
    /// PCI configuration space; the address is `bdf << 8 | offset`.
    Cfg,
}

/// One logged access: space, address, width in bytes, value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A read and the value the device returned.
    Read(Space, u64, u8, u32),
    /// A write.
    Write(Space, u64, u8, u32),
    /// A barrier: 'm' full, 'r' read, 'w' write.
    Barrier(char),
}

impl Access {
    /// Is this a write?
    pub fn is_write(&self) -> bool {
        matches!(self, Access::Write(..))
    }
}

/// Config-space address as logged.
pub fn cfg_addr(bdf: Bdf, off: u8) -> u64 {
    (bdf.0 as u64) << 8 | off as u64
}

/// What answers the fake's register accesses.
pub trait FakeDevice {
    /// A read of `width` bytes.
    fn read(&mut self, space: Space, addr: u64, width: u8) -> u32;
    /// A write of `width` bytes.
    fn write(&mut self, space: Space, addr: u64, width: u8, v: u32);
}

/// A plain byte-addressed register file (little-endian, widths compose);
/// config space ignores the function number. Unwritten bytes read 0.
#[derive(Debug, Default, Clone)]
pub struct RegFile {
    bytes: BTreeMap<(Space, u64), u8>,
}

impl RegFile {
    /// Stores `v` (4 bytes) at config offset `off`.
    pub fn set_cfg(&mut self, off: u8, v: u32) {
        self.put(Space::Cfg, off as u64, 4, v);
    }
    /// Stores `width` bytes of `v` at `addr`.
    pub fn put(&mut self, space: Space, addr: u64, width: u8, v: u32) {
        let addr = if space == Space::Cfg {
            addr & 0xff
        } else {
            addr
        };
        for i in 0..width as u64 {
            self.bytes.insert((space, addr + i), (v >> (8 * i)) as u8);
        }
    }
    /// Loads `width` bytes at `addr`.
    pub fn get(&self, space: Space, addr: u64, width: u8) -> u32 {
        let addr = if space == Space::Cfg {
            addr & 0xff
        } else {
            addr
        };
        (0..width as u64).fold(0, |acc, i| {
            acc | (*self.bytes.get(&(space, addr + i)).unwrap_or(&0) as u32) << (8 * i)
        })
    }
}

impl FakeDevice for RegFile {
    fn read(&mut self, space: Space, addr: u64, width: u8) -> u32 {
        self.get(space, addr, width)
    }
    fn write(&mut self, space: Space, addr: u64, width: u8, v: u32) {
        self.put(space, addr, width, v)
    }
}

/// The fake platform.
pub struct FakeHal<D: FakeDevice> {
    /// The device model.
    pub dev: RefCell<D>,
    log: Rc<RefCell<Vec<Access>>>,
    /// DMA memory.
    pub dma: Vec<u8>,
    phys: PhysAddr,
    /// Total microseconds the driver asked to wait.
    pub delayed_us: Cell<u64>,
}

impl<D: FakeDevice> FakeHal<D> {
    /// A fake with `dma_len` bytes of DMA memory at `dma_phys`, filled with
    /// a non-zero pattern so forgotten initialisation shows.
    pub fn new(dev: D, dma_phys: PhysAddr, dma_len: usize) -> Self {
        FakeHal {
            dev: RefCell::new(dev),
            log: Rc::new(RefCell::new(vec![])),
            dma: vec![0xa5; dma_len],
            phys: dma_phys,
            delayed_us: Cell::new(0),
        }
    }
    /// The accesses so far.
    pub fn log(&self) -> Vec<Access> {
        self.log.borrow().clone()
    }
    /// A handle on the log that outlives the fake (drivers drop their HAL
    /// on failed bring-up).
    pub fn log_handle(&self) -> Rc<RefCell<Vec<Access>>> {
        self.log.clone()
    }
    /// Forgets the accesses so far.
    pub fn clear_log(&self) {
        self.log.borrow_mut().clear();
    }
    /// The writes so far, as (space, address, value).
    pub fn writes(&self) -> Vec<(Space, u64, u32)> {
        self.log
            .borrow()
            .iter()
            .filter_map(|a| match *a {
                Access::Write(s, addr, _, v) => Some((s, addr, v)),
                _ => None,
            })
            .collect()
    }
    /// Little-endian u16 of DMA memory (device side).
    pub fn peek16(&self, off: usize) -> u16 {
        u16::from_le_bytes([self.dma[off], self.dma[off + 1]])
    }
    /// Little-endian u32 of DMA memory (device side).
    pub fn peek32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.dma[off..off + 4].try_into().unwrap())
    }
    /// Little-endian u64 of DMA memory (device side).
    pub fn peek64(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.dma[off..off + 8].try_into().unwrap())
    }
    /// Writes DMA memory as the device would.
    pub fn poke(&mut self, off: usize, bytes: &[u8]) {
        self.dma[off..off + bytes.len()].copy_from_slice(bytes);
    }
    /// Region offset of a physical address inside the DMA region.
    pub fn off_of(&self, pa: PhysAddr) -> usize {
        assert!(
            pa >= self.phys && pa < self.phys + self.dma.len() as u64,
            "{pa:#x} outside DMA"
        );
        (pa - self.phys) as usize
    }

    fn rd(&self, space: Space, addr: u64, width: u8) -> u32 {
        let v = self.dev.borrow_mut().read(space, addr, width);
        self.log
            .borrow_mut()
            .push(Access::Read(space, addr, width, v));
        v
    }
    fn wr(&self, space: Space, addr: u64, width: u8, v: u32) {
        self.log
            .borrow_mut()
            .push(Access::Write(space, addr, width, v));
        self.dev.borrow_mut().write(space, addr, width, v);
    }
}

impl<D: FakeDevice> Hal for FakeHal<D> {
    fn io_read8(&self, port: u16) -> u8 {
        self.rd(Space::Io, port as u64, 1) as u8
    }
    fn io_read16(&self, port: u16) -> u16 {
        self.rd(Space::Io, port as u64, 2) as u16
    }
    fn io_read32(&self, port: u16) -> u32 {
        self.rd(Space::Io, port as u64, 4)
    }
    fn io_write8(&self, port: u16, v: u8) {
        self.wr(Space::Io, port as u64, 1, v as u32)
    }
    fn io_write16(&self, port: u16, v: u16) {
        self.wr(Space::Io, port as u64, 2, v as u32)
    }
    fn io_write32(&self, port: u16, v: u32) {
        self.wr(Space::Io, port as u64, 4, v)
    }
    fn mmio_reachable(&self, addr: PhysAddr, len: u64) -> bool {
        addr.checked_add(len).is_some_and(|end| end <= 1 << 32)
    }
    fn mmio_read8(&self, addr: PhysAddr) -> u8 {
        self.rd(Space::Mem, addr, 1) as u8
    }
    fn mmio_read16(&self, addr: PhysAddr) -> u16 {
        self.rd(Space::Mem, addr, 2) as u16
    }
    fn mmio_read32(&self, addr: PhysAddr) -> u32 {
        self.rd(Space::Mem, addr, 4)
    }
    fn mmio_write8(&self, addr: PhysAddr, v: u8) {
        self.wr(Space::Mem, addr, 1, v as u32)
    }
    fn mmio_write16(&self, addr: PhysAddr, v: u16) {
        self.wr(Space::Mem, addr, 2, v as u32)
    }
    fn mmio_write32(&self, addr: PhysAddr, v: u32) {
        self.wr(Space::Mem, addr, 4, v)
    }
    fn pci_read32(&self, bdf: Bdf, off: u8) -> u32 {
        assert_eq!(off & 3, 0, "unaligned config dword");
        self.rd(Space::Cfg, cfg_addr(bdf, off), 4)
    }
    fn pci_write32(&self, bdf: Bdf, off: u8, v: u32) {
        assert_eq!(off & 3, 0, "unaligned config dword");
        self.wr(Space::Cfg, cfg_addr(bdf, off), 4, v)
    }
    fn pci_write16(&self, bdf: Bdf, off: u8, v: u16) {
        assert_eq!(off & 1, 0, "unaligned config word");
        self.wr(Space::Cfg, cfg_addr(bdf, off), 2, v as u32)
    }
    fn dma_phys(&self) -> PhysAddr {
        self.phys
    }
    fn dma_len(&self) -> usize {
        self.dma.len()
    }
    fn dma_read16(&self, off: usize) -> u16 {
        assert_eq!(off % 2, 0);
        self.peek16(off)
    }
    fn dma_read32(&self, off: usize) -> u32 {
        assert_eq!(off % 4, 0);
        self.peek32(off)
    }
    fn dma_write16(&mut self, off: usize, v: u16) {
        assert_eq!(off % 2, 0);
        self.dma[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn dma_write32(&mut self, off: usize, v: u32) {
        assert_eq!(off % 4, 0);
        self.dma[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn dma_bytes(&self, off: usize, len: usize) -> &[u8] {
        &self.dma[off..off + len]
    }
    fn dma_bytes_mut(&mut self, off: usize, len: usize) -> &mut [u8] {
        &mut self.dma[off..off + len]
    }
    fn mb(&self) {
        self.log.borrow_mut().push(Access::Barrier('m'));
    }
    fn rmb(&self) {
        self.log.borrow_mut().push(Access::Barrier('r'));
    }
    fn wmb(&self) {
        self.log.borrow_mut().push(Access::Barrier('w'));
    }
    fn delay_us(&self, us: u32) {
        self.delayed_us.set(self.delayed_us.get() + us as u64);
    }
}
