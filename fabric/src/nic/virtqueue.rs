//! The split virtqueue (virtio 1.0 §2.4; legacy layout §2.4.2): descriptor
//! table, available ring (driver → device) and used ring (device → driver),
//! kept in the platform's DMA region and touched only through the HAL's
//! volatile accessors.
//!
//! Index arithmetic: `avail.idx` and `used.idx` are free-running u16
//! counters; ring slot = counter mod queue size. The counters wrap at
//! 65536, which every power-of-two size divides, so `counter % size` stays
//! continuous across the wrap. `pending` is the wrapping difference.

use super::hal::{dma_zero, DmaCarver, Hal, PhysAddr};

/// Descriptor flag: the chain continues at `next`.
pub const DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer (receive side).
pub const DESC_F_WRITE: u16 = 2;
/// Available-ring flag: do not interrupt when buffers are used.
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Used-ring flag: the device does not need notifications now.
pub const USED_F_NO_NOTIFY: u16 = 1;

/// Bytes per descriptor.
pub const DESC_LEN: usize = 16;

/// Where the three parts of a queue of a given size go, relative to its
/// start, and how much memory the queue takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Descriptor table offset (always 0).
    pub desc: usize,
    /// Available ring offset (right after the table).
    pub avail: usize,
    /// Used ring offset.
    pub used: usize,
    /// Total bytes.
    pub total: usize,
    /// Alignment the queue's start needs.
    pub align: usize,
}

impl Layout {
    /// The layout for `size` entries. The legacy interface describes a queue
    /// by one page frame number and finds the used ring at the next 4 KiB
    /// boundary after the available ring; the modern interface takes three
    /// addresses, so the parts are packed (16/2/4-byte alignment).
    pub const fn new(size: u16, legacy: bool) -> Layout {
        let n = size as usize;
        let avail = n * DESC_LEN;
        let avail_end = avail + 6 + 2 * n;
        let (used, align) = if legacy {
            ((avail_end + 4095) & !4095, 4096)
        } else {
            ((avail_end + 3) & !3, 16)
        };
        Layout {
            desc: 0,
            avail,
            used,
            total: used + 6 + 8 * n,
            align,
        }
    }
}

/// One entry of the used ring: the head descriptor of a chain the device
/// is finished with and how many bytes it wrote into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedElem {
    /// Head descriptor index.
    pub id: u32,
    /// Bytes written by the device (receive side).
    pub len: u32,
}

/// A split virtqueue in the DMA region.
#[derive(Debug)]
pub struct SplitQueue {
    size: u16,
    desc: usize,
    avail: usize,
    used: usize,
    next_avail: u16,
    last_used: u16,
}

impl SplitQueue {
    /// Takes memory for a queue of `size` entries (a power of two) from
    /// `carver`, zeroes it and asks the device not to interrupt. `None` if
    /// the DMA region is too small.
    pub fn carve<H: Hal>(
        hal: &mut H,
        carver: &mut DmaCarver,
        size: u16,
        legacy: bool,
    ) -> Option<SplitQueue> {
        if !size.is_power_of_two() {
            return None;
        }
        let l = Layout::new(size, legacy);
        let base = carver.take(l.total, l.align)?;
        dma_zero(hal, base, l.total);
        let q = SplitQueue {
            size,
            desc: base + l.desc,
            avail: base + l.avail,
            used: base + l.used,
            next_avail: 0,
            last_used: 0,
        };
        hal.dma_write16(q.avail, AVAIL_F_NO_INTERRUPT);
        Some(q)
    }

    /// Number of entries.
    pub fn size(&self) -> u16 {
        self.size
    }
    /// Physical address of the descriptor table (also the queue's start).
    pub fn desc_phys<H: Hal>(&self, hal: &H) -> PhysAddr {
        hal.dma_phys() + self.desc as u64
    }
    /// Physical address of the available ring.
    pub fn avail_phys<H: Hal>(&self, hal: &H) -> PhysAddr {
        hal.dma_phys() + self.avail as u64
    }
    /// Physical address of the used ring.
    pub fn used_phys<H: Hal>(&self, hal: &H) -> PhysAddr {
        hal.dma_phys() + self.used as u64
    }

    /// Fills descriptor `i`. Only for descriptors not currently published.
    pub fn set_desc<H: Hal>(
        &self,
        hal: &mut H,
        i: u16,
        addr: PhysAddr,
        len: u32,
        flags: u16,
        next: u16,
    ) {
        let d = self.desc + i as usize * DESC_LEN;
        hal.dma_write64(d, addr);
        hal.dma_write32(d + 8, len);
        hal.dma_write16(d + 12, flags);
        hal.dma_write16(d + 14, next);
    }

    /// Changes the length of descriptor `i` (transmit sizes).
    pub fn set_desc_len<H: Hal>(&self, hal: &mut H, i: u16, len: u32) {
        hal.dma_write32(self.desc + i as usize * DESC_LEN + 8, len);
    }

    /// Makes the chain starting at `head` available to the device: ring
    /// entry first, then a store barrier, then the index the device polls.
    /// The device owns the chain's buffers from here until it shows up in
    /// [`SplitQueue::pop_used`].
    pub fn publish<H: Hal>(&mut self, hal: &mut H, head: u16) {
        let slot = (self.next_avail % self.size) as usize;
        hal.dma_write16(self.avail + 4 + 2 * slot, head);
        hal.wmb();
        self.next_avail = self.next_avail.wrapping_add(1);
        hal.dma_write16(self.avail + 2, self.next_avail);
    }

    /// After [`SplitQueue::publish`]: whether the device asked to be
    /// notified. The full barrier orders our index store before the load of
    /// the device's flag (a store-load pair, which x86 may otherwise swap).
    pub fn needs_notify<H: Hal>(&self, hal: &H) -> bool {
        hal.mb();
        hal.dma_read16(self.used) & USED_F_NO_NOTIFY == 0
    }

    /// The next chain the device has finished with, if any. The load barrier
    /// after reading `used.idx` keeps the entry (and the buffer contents the
    /// caller reads next) from being read ahead of the index.
    pub fn pop_used<H: Hal>(&mut self, hal: &H) -> Option<UsedElem> {
        let idx = hal.dma_read16(self.used + 2);
        if idx == self.last_used {
            return None;
        }
        hal.rmb();
        let e = self.used + 4 + 8 * (self.last_used % self.size) as usize;
        let elem = UsedElem {
            id: hal.dma_read32(e),
            len: hal.dma_read32(e + 4),
        };
        self.last_used = self.last_used.wrapping_add(1);
        Some(elem)
    }

    /// Chains published and not yet returned.
    pub fn pending(&self) -> u16 {
        self.next_avail.wrapping_sub(self.last_used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nic::fakehal::{Access, FakeHal, RegFile};

    #[test]
    fn legacy_layout_matches_the_spec_formula() {
        // virtio 0.9.5 / 1.0 §2.4.2: used ring at ALIGN(16n + 6 + 2n, 4096).
        let l = Layout::new(256, true);
        assert_eq!((l.desc, l.avail, l.used), (0, 4096, 8192));
        assert_eq!(l.total, 8192 + 6 + 8 * 256);
        assert_eq!(l.align, 4096);
        let l = Layout::new(16, true);
        assert_eq!((l.avail, l.used, l.total), (256, 4096, 4096 + 134));
    }

    #[test]
    fn modern_layout_is_packed() {
        let l = Layout::new(16, false);
        assert_eq!(
            (l.avail, l.used, l.total, l.align),
            (256, 256 + 38 + 2, 296 + 134, 16)
        );
        assert_eq!(l.used % 4, 0);
        let l = Layout::new(1, false);
        assert_eq!((l.avail, l.used), (16, 24));
    }

    fn queue(size: u16) -> (FakeHal<RegFile>, SplitQueue) {
        let mut hal = FakeHal::new(RegFile::default(), 0x9_0000, 0x4000);
        let mut c = DmaCarver::new(&hal);
        let q = SplitQueue::carve(&mut hal, &mut c, size, false).unwrap();
        (hal, q)
    }

    #[test]
    fn carve_zeroes_and_suppresses_interrupts() {
        let (hal, q) = queue(8);
        let l = Layout::new(8, false);
        assert_eq!(hal.peek16(q.avail), AVAIL_F_NO_INTERRUPT);
        let nonzero: Vec<usize> = (0..l.total).filter(|&i| hal.dma[i] != 0).collect();
        assert_eq!(nonzero, [q.avail], "all zero but the avail flags");
        assert_eq!(hal.dma[l.total], 0xa5, "nothing past the queue is touched");
        assert!(SplitQueue::carve(
            &mut FakeHal::new(RegFile::default(), 0, 64),
            &mut DmaCarver::with_region(0, 64),
            8,
            false
        )
        .is_none());
        assert!(SplitQueue::carve(
            &mut FakeHal::new(RegFile::default(), 0, 4096),
            &mut DmaCarver::with_region(0, 4096),
            6,
            false
        )
        .is_none());
    }

    #[test]
    fn descriptor_bytes() {
        let (mut hal, q) = queue(4);
        q.set_desc(
            &mut hal,
            2,
            0x1122_3344_5566_7788,
            0x600,
            DESC_F_NEXT | DESC_F_WRITE,
            3,
        );
        let d = q.desc + 32;
        assert_eq!(
            &hal.dma[d..d + 16],
            &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00, 0x06, 0, 0, 3, 0, 3, 0]
        );
        q.set_desc_len(&mut hal, 2, 42);
        assert_eq!(hal.peek32(d + 8), 42);
    }

    #[test]
    fn publish_orders_entry_barrier_index() {
        let (mut hal, mut q) = queue(4);
        hal.clear_log();
        q.publish(&mut hal, 6);
        assert_eq!(hal.peek16(q.avail + 4), 6);
        assert_eq!(hal.peek16(q.avail + 2), 1);
        assert_eq!(hal.log(), [Access::Barrier('w')]);
        assert_eq!(q.pending(), 1);
    }

    #[test]
    fn indices_wrap_at_65536_and_slots_wrap_at_size() {
        let (mut hal, mut q) = queue(4);
        // Start just below the u16 wrap on both sides.
        q.next_avail = 65534;
        q.last_used = 65534;
        hal.poke(q.used + 2, &65534u16.to_le_bytes());
        for head in [10u16, 11, 12] {
            q.publish(&mut hal, head);
        }
        // 65534 % 4 = 2, 65535 % 4 = 3, 0 % 4 = 0.
        assert_eq!(hal.peek16(q.avail + 4 + 4), 10);
        assert_eq!(hal.peek16(q.avail + 4 + 6), 11);
        assert_eq!(hal.peek16(q.avail + 4), 12);
        assert_eq!(hal.peek16(q.avail + 2), 1);
        assert_eq!(q.pending(), 3);

        // Device returns two of them, out of order.
        let used = q.used;
        hal.poke(used + 4 + 8 * 2, &[11, 0, 0, 0, 60, 0, 0, 0]);
        hal.poke(used + 4 + 8 * 3, &[10, 0, 0, 0, 70, 0, 0, 0]);
        assert_eq!(q.pop_used(&hal), None, "index not yet advanced");
        hal.poke(used + 2, &0u16.to_le_bytes());
        hal.clear_log();
        assert_eq!(q.pop_used(&hal), Some(UsedElem { id: 11, len: 60 }));
        assert_eq!(hal.log(), [Access::Barrier('r')]);
        assert_eq!(q.pop_used(&hal), Some(UsedElem { id: 10, len: 70 }));
        assert_eq!(q.pop_used(&hal), None);
        assert_eq!(q.pending(), 1);
    }

    #[test]
    fn notify_suppression_reads_used_flags_after_full_barrier() {
        let (mut hal, q) = queue(4);
        hal.clear_log();
        assert!(q.needs_notify(&hal));
        assert_eq!(hal.log(), [Access::Barrier('m')]);
        hal.poke(q.used, &USED_F_NO_NOTIFY.to_le_bytes());
        assert!(!q.needs_notify(&hal));
    }
}
