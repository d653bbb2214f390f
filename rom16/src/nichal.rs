//! The ROM's implementation of `fabric::nic::hal::Hal`, plus the two
//! platform services the NIC drivers and their callers need: a clock (TSC
//! calibrated against PIT channel 2) and the A20 gate.
//!
//! Every unsafe access of the NIC path lives in this file:
//! * MMIO: volatile, width-exact accesses at `phys - ram_base` in our flat
//!   4 GiB segments (`bios::phys`). The addresses come from the BARs of the
//!   PCI function the BIOS started us for; we trust them as any driver does.
//! * DMA: a block of extended memory the init stub took from the BIOS's POST
//!   Memory Manager (`pmm_dma_block`; permanent, so SeaBIOS keeps it
//!   E820-reserved for the OS). Not base memory: SeaBIOS wipes 0x7000-0x90000
//!   just before INT 19h, which would zero live rings under the device. The
//!   block has 4 KiB of slack; we use the page-aligned `DMA_LEN` bytes in it.
//!   It is owned by at most one [`RomHal`] at a time (a claim flag), so no
//!   two drivers can alias it. Each accessor bounds-checks and panics (halts)
//!   on a driver bug rather than touch memory outside the region.
//! * Barriers: x86 keeps loads ordered with loads and stores with stores, and
//!   DMA is cache-coherent, so `rmb`/`wmb` only stop the compiler; `mb` is a
//!   locked instruction (a store may otherwise pass a later load).
//!
//! Interrupts are off in protected mode, so nothing here is re-entered.

use crate::bios::{phys, port};
use crate::profile::{self, Bucket};
use crate::romstate::RomCell;
use core::arch::asm;
use core::ptr::{read_volatile, write_volatile};
use fabric::nic::hal::{Bdf, Hal, PhysAddr};

extern "C" {
    /// Linear address of the PMM block the init stub allocated for DMA
    /// (0: none). `DMA_LEN` bytes plus 4 KiB of alignment slack.
    static pmm_dma_block: u32;
}

/// Reads the time stamp counter.
#[inline]
pub(crate) fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC only reads a counter; CR4.TSD is clear under the BIOS.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (hi as u64) << 32 | lo as u64
}

const PIT_HZ: u64 = 1_193_182;
const PIT_CH2_DATA: u16 = 0x42;
const PIT_MODE: u16 = 0x43;
/// Port B: bit 0 gates channel 2, bit 1 drives the speaker, bit 5 is OUT2.
const PORT_B: u16 = 0x61;
const CALIBRATION_MS: u64 = 10;

/// Microsecond time from the TSC. The BIOS tick count (40:6C) does not
/// advance while we run with interrupts off, so the ROM measures time
/// itself.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    ticks_per_us: u64,
    /// 2^32 / ticks_per_us: `now_us` multiplies instead of dividing (a
    /// 64-bit division is a ~100-instruction library call on i686, and the
    /// polling loops read the clock on every turn).
    us_per_tick_q32: u64,
}

impl Clock {
    /// Counts TSC ticks across a 10 ms one-shot of PIT channel 2 (mode 0:
    /// OUT2 rises at terminal count). The speaker stays off; port B is
    /// restored. `None` without a working PIT or TSC.
    pub fn calibrate() -> Option<Clock> {
        let count = (PIT_HZ * CALIBRATION_MS / 1000) as u16;
        let saved = port::inb(PORT_B);
        port::outb(PORT_B, (saved & !0x02) | 0x01);
        port::outb(PIT_MODE, 0b1011_0000); // channel 2, lo/hi byte, mode 0, binary
        port::outb(PIT_CH2_DATA, count as u8);
        port::outb(PIT_CH2_DATA, (count >> 8) as u8);
        let start = rdtsc();
        let mut fired = false;
        // ~10 ms of port reads; the bound only matters without a PIT.
        for _ in 0..10_000_000u32 {
            if port::inb(PORT_B) & 0x20 != 0 {
                fired = true;
                break;
            }
        }
        let ticks = rdtsc().wrapping_sub(start);
        port::outb(PORT_B, saved);
        let ticks_per_us = ticks / (CALIBRATION_MS * 1000);
        (fired && ticks_per_us > 0).then_some(Clock {
            ticks_per_us,
            us_per_tick_q32: (1u64 << 32) / ticks_per_us,
        })
    }

    /// Microseconds since an arbitrary origin.
    #[inline(never)]
    pub fn now_us(&self) -> u64 {
        // (tsc * 2^32 / ticks_per_us) >> 32 in two 32x32 -> 64 products.
        // Monotonic; the reciprocal's rounding makes it run slow by under
        // one part in 2^32 / ticks_per_us (~1e-6 at 3 GHz), nothing for
        // timeouts.
        let tsc = rdtsc();
        let m = self.us_per_tick_q32;
        (tsc >> 32) * m + (((tsc & 0xffff_ffff) * m) >> 32)
    }

    /// TSC ticks per microsecond (the calibration result).
    pub fn ticks_per_us(&self) -> u64 {
        self.ticks_per_us
    }

    /// Spins for at least `us` microseconds.
    pub fn delay_us(&self, us: u32) {
        let end = rdtsc().wrapping_add(us as u64 * self.ticks_per_us);
        while (end.wrapping_sub(rdtsc()) as i64) > 0 {
            core::hint::spin_loop();
        }
    }
}

/// Fast A20 gate (PS/2 system control port A): bit 1 enables A20, bit 0
/// would reset the CPU and must be written as 0.
const PORT_A: u16 = 0x92;
const ONE_MIB: u32 = 0x10_0000;
/// Bytes of NIC DMA memory (entry16.s DMA_BYTES allocates this plus 4 KiB
/// of alignment slack from PMM): a legacy virtio-net's two 256-entry queues
/// (24 KiB) plus 12 buffers for 4 KiB-MTU frames (50 KiB).
const DMA_LEN: usize = 80 * 1024;
/// A word of ours to probe A20 with (anywhere: the probe flips bit 20).
static A20_PROBE: RomCell<u32> = RomCell::new(0);

/// Whether address line 20 is enabled: writes two patterns at `probe`
/// (memory we own, below or above 1 MiB) and checks whether the address
/// differing in bit 20 follows them; with A20 off both decode to the same
/// byte. The other address is only read.
fn a20_enabled(probe: u32) -> bool {
    let saved = phys::read32(probe);
    let mut enabled = false;
    for pattern in [0x5a5a_0f0f_u32, 0xa5a5_f0f0] {
        phys::write32(probe, pattern);
        if phys::read32(probe ^ ONE_MIB) != pattern {
            enabled = true;
            break;
        }
    }
    phys::write32(probe, saved);
    enabled
}

/// Enables A20 through port 0x92 if it is off. `Ok(true)` if we turned it
/// on (so should turn it off again), `Err` if it stays off: MMIO addresses
/// with bit 20 set would then land on other memory.
fn a20_enable(probe: u32) -> Result<bool, &'static str> {
    if a20_enabled(probe) {
        return Ok(false);
    }
    let a = port::inb(PORT_A);
    port::outb(PORT_A, (a | 0x02) & !0x01);
    if a20_enabled(probe) {
        Ok(true)
    } else {
        Err("cannot enable A20")
    }
}

/// Set while a [`RomHal`] owns the DMA region.
static DMA_CLAIMED: RomCell<bool> = RomCell::new(false);

/// The ROM platform for one NIC driver. Owns the DMA region while it
/// lives; dropping it releases the region and puts A20 back as it was.
pub struct RomHal {
    dma_phys: u32,
    dma_len: usize,
    clock: Clock,
    a20_restore: bool,
}

impl RomHal {
    /// Calibrates the clock, makes sure A20 is on and claims the DMA region.
    pub fn new() -> Result<RomHal, &'static str> {
        // SAFETY: written once by the init stub before any Rust runs.
        let start = unsafe { core::ptr::read_volatile(core::ptr::addr_of!(pmm_dma_block)) };
        if start == 0 {
            return Err("no DMA memory: the BIOS has no PMM or refused the allocation");
        }
        let dma_phys = (start + 4095) & !4095;
        let end = start + DMA_LEN as u32 + 4096;
        if DMA_CLAIMED.with(|c| *c) {
            return Err("DMA region already in use");
        }
        let clock = Clock::calibrate().ok_or("no PIT/TSC to time with")?;
        let probe = A20_PROBE.with(|p| phys::addr_of(p as *mut u32));
        let a20_restore = a20_enable(probe)?;
        DMA_CLAIMED.with(|c| *c = true);
        Ok(RomHal {
            dma_phys,
            dma_len: (end - dma_phys).min(DMA_LEN as u32) as usize,
            clock,
            a20_restore,
        })
    }

    /// The calibrated clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Pointer to `len` bytes at `off` of the DMA region; panics outside it.
    fn dma_ptr(&self, off: usize, len: usize) -> *mut u8 {
        assert!(
            off <= self.dma_len && len <= self.dma_len - off,
            "DMA access outside the region"
        );
        (self.dma_phys + off as u32).wrapping_sub(phys::base()) as *mut u8
    }

    /// Pointer to a `T`-sized, `T`-aligned device register below 4 GiB.
    fn mmio_ptr<T>(addr: PhysAddr) -> *mut T {
        let size = core::mem::size_of::<T>() as u64;
        assert!(
            addr + size <= 1 << 32 && addr % size == 0,
            "bad MMIO address"
        );
        // ram_base is page-aligned (entry16.s), so alignment carries over.
        (addr as u32).wrapping_sub(phys::base()) as *mut T
    }
}

impl Drop for RomHal {
    fn drop(&mut self) {
        DMA_CLAIMED.with(|c| *c = false);
        if self.a20_restore {
            port::outb(PORT_A, port::inb(PORT_A) & !0x03);
        }
    }
}

impl Hal for RomHal {
    fn io_read8(&self, p: u16) -> u8 {
        port::inb(p)
    }
    fn io_read16(&self, p: u16) -> u16 {
        port::inw(p)
    }
    fn io_read32(&self, p: u16) -> u32 {
        port::inl(p)
    }
    fn io_write8(&self, p: u16, v: u8) {
        port::outb(p, v)
    }
    fn io_write16(&self, p: u16, v: u16) {
        profile::timed(Bucket::PortWrite, || port::outw(p, v))
    }
    fn io_write32(&self, p: u16, v: u32) {
        port::outl(p, v)
    }

    fn mmio_reachable(&self, addr: PhysAddr, len: u64) -> bool {
        // No paging: the flat segments end at 4 GiB.
        addr.checked_add(len).is_some_and(|end| end <= 1 << 32)
    }
    fn mmio_read8(&self, addr: PhysAddr) -> u8 {
        // SAFETY: a device register of our PCI function (module docs); A20
        // is on while a RomHal exists, so the address is the one decoded.
        unsafe { read_volatile(Self::mmio_ptr::<u8>(addr)) }
    }
    fn mmio_read16(&self, addr: PhysAddr) -> u16 {
        // SAFETY: as `mmio_read8`; `mmio_ptr` checked the alignment.
        unsafe { read_volatile(Self::mmio_ptr::<u16>(addr)) }
    }
    fn mmio_read32(&self, addr: PhysAddr) -> u32 {
        // SAFETY: as `mmio_read16`.
        unsafe { read_volatile(Self::mmio_ptr::<u32>(addr)) }
    }
    fn mmio_write8(&self, addr: PhysAddr, v: u8) {
        // SAFETY: as `mmio_read8`.
        profile::timed(Bucket::MmioWrite, || unsafe {
            write_volatile(Self::mmio_ptr::<u8>(addr), v)
        })
    }
    fn mmio_write16(&self, addr: PhysAddr, v: u16) {
        // SAFETY: as `mmio_read16`.
        profile::timed(Bucket::MmioWrite, || unsafe {
            write_volatile(Self::mmio_ptr::<u16>(addr), v)
        })
    }
    fn mmio_write32(&self, addr: PhysAddr, v: u32) {
        // SAFETY: as `mmio_read16`.
        profile::timed(Bucket::MmioWrite, || unsafe {
            write_volatile(Self::mmio_ptr::<u32>(addr), v)
        })
    }

    fn pci_read32(&self, bdf: Bdf, off: u8) -> u32 {
        crate::pci::read32(bdf.0, off)
    }
    fn pci_write32(&self, bdf: Bdf, off: u8, v: u32) {
        crate::pci::write32(bdf.0, off, v)
    }
    fn pci_write16(&self, bdf: Bdf, off: u8, v: u16) {
        crate::pci::write16(bdf.0, off, v)
    }

    fn dma_phys(&self) -> PhysAddr {
        self.dma_phys as PhysAddr
    }
    fn dma_len(&self) -> usize {
        self.dma_len
    }
    fn dma_read16(&self, off: usize) -> u16 {
        assert!(off % 2 == 0);
        // SAFETY: inside the region we own (checked), aligned (the region is
        // page-aligned); the device may write it concurrently, hence volatile.
        unsafe { read_volatile(self.dma_ptr(off, 2) as *const u16) }
    }
    fn dma_read32(&self, off: usize) -> u32 {
        assert!(off % 4 == 0);
        // SAFETY: as `dma_read16`.
        unsafe { read_volatile(self.dma_ptr(off, 4) as *const u32) }
    }
    fn dma_write16(&mut self, off: usize, v: u16) {
        assert!(off % 2 == 0);
        // SAFETY: as `dma_read16`; `&mut self` means no lent slice is alive.
        unsafe { write_volatile(self.dma_ptr(off, 2) as *mut u16, v) }
    }
    fn dma_write32(&mut self, off: usize, v: u32) {
        assert!(off % 4 == 0);
        // SAFETY: as `dma_write16`.
        unsafe { write_volatile(self.dma_ptr(off, 4) as *mut u32, v) }
    }
    fn dma_bytes(&self, off: usize, len: usize) -> &[u8] {
        // SAFETY: inside the region (checked), which no Rust object and no
        // other RomHal aliases; writes through this HAL need `&mut self`, so
        // none happen while the slice lives; the driver lends only buffers
        // the device has handed back (hal.rs ownership protocol).
        unsafe { core::slice::from_raw_parts(self.dma_ptr(off, len), len) }
    }
    fn dma_bytes_mut(&mut self, off: usize, len: usize) -> &mut [u8] {
        // SAFETY: as `dma_bytes`, and `&mut self` makes the slice unique.
        unsafe { core::slice::from_raw_parts_mut(self.dma_ptr(off, len), len) }
    }

    fn mb(&self) {
        // SAFETY: a locked read-modify-write of 0 into the word at the top of
        // our stack: a full fence that changes no data (flags only).
        unsafe { asm!("lock or dword ptr [esp], 0", options(nostack)) };
    }
    fn rmb(&self) {
        // SAFETY: an empty asm statement; without `nomem` it is a compiler
        // barrier for all memory.
        unsafe { asm!("", options(nostack, preserves_flags)) };
    }
    fn wmb(&self) {
        // SAFETY: as `rmb`.
        unsafe { asm!("", options(nostack, preserves_flags)) };
    }

    fn delay_us(&self, us: u32) {
        self.clock.delay_us(us)
    }
}
