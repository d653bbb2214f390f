//! virtio-net against fake legacy and modern devices: the init sequence the
//! driver writes, and frames through the rings with the test playing the
//! device side.

use super::*;
use crate::nic::fakehal::{cfg_addr, Access, FakeDevice, FakeHal, RegFile, Space};
use crate::nic::virtqueue::Layout;

const BDF: Bdf = Bdf(0x0018);
const IO: u64 = 0xc040;
const BAR4: u64 = 0xfe00_0000;
const DMA_PHYS: u64 = 0x9_0000;
const DMA_LEN: usize = 48 * 1024;
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
/// Bits a QEMU virtio-net offers that we must not take.
const OFFLOADS: u64 = 1 << 0 | 1 << 1 | 1 << 7 | 1 << 11 | F_MRG_RXBUF | 1 << 17 | 1 << 29;

/// Legacy register block in I/O space plus a config space.
struct LegacyDev {
    cfg: RegFile,
    host_features: u32,
    guest_features: u32,
    status: u8,
    sel: u16,
    qnum: [u16; 2],
    pfn: [u32; 2],
    notified: Vec<u16>,
    link: u16,
}

impl LegacyDev {
    fn new(qnum: u16) -> Self {
        let mut cfg = RegFile::default();
        cfg.set_cfg(0x00, 0x1000_1af4);
        cfg.set_cfg(0x04, 0x0000_0001);
        cfg.set_cfg(0x10, IO as u32 | 1);
        LegacyDev {
            cfg,
            host_features: (F_MAC | F_STATUS | OFFLOADS) as u32,
            guest_features: 0,
            status: 0,
            sel: 0,
            qnum: [qnum; 2],
            pfn: [0; 2],
            notified: vec![],
            link: 1,
        }
    }
}

impl FakeDevice for LegacyDev {
    fn read(&mut self, space: Space, addr: u64, width: u8) -> u32 {
        if space == Space::Cfg {
            return self.cfg.get(space, addr, width);
        }
        assert_eq!(space, Space::Io);
        let q = self.sel as usize;
        match (addr - IO, width) {
            (0x00, 4) => self.host_features,
            (0x04, 4) => self.guest_features,
            (0x08, 4) => *self.pfn.get(q).unwrap_or(&0),
            (0x0c, 2) => *self.qnum.get(q).unwrap_or(&0) as u32,
            (0x12, 1) => self.status as u32,
            (0x13, 1) => 0,
            (o @ 0x14..=0x19, 1) => MAC[o as usize - 0x14] as u32,
            (0x1a, 2) => self.link as u32,
            other => panic!("unexpected legacy read {other:x?}"),
        }
    }
    fn write(&mut self, space: Space, addr: u64, width: u8, v: u32) {
        if space == Space::Cfg {
            return self.cfg.put(space, addr, width, v);
        }
        match (addr - IO, width) {
            (0x04, 4) => self.guest_features = v,
            (0x08, 4) => self.pfn[self.sel as usize] = v,
            (0x0e, 2) => self.sel = v as u16,
            (0x10, 2) => self.notified.push(v as u16),
            (0x12, 1) => {
                self.status = v as u8;
                if v == 0 {
                    self.pfn = [0; 2];
                    self.guest_features = 0;
                }
            }
            other => panic!("unexpected legacy write {other:x?} = {v:#x}"),
        }
    }
}

/// Modern device: capabilities in config space, registers in BAR 4.
struct ModernDev {
    cfg: RegFile,
    offered: u64,
    dfsel: u32,
    gfsel: u32,
    driver_features: [u32; 2],
    status: u8,
    accept_features: bool,
    sel: u16,
    qmax: u16,
    qsize: [u16; 2],
    qaddr: [[u32; 6]; 2],
    qenable: [u16; 2],
    notified: Vec<(u64, u16)>,
    generation: u8,
}

const COMMON: u64 = BAR4;
const ISR: u64 = BAR4 + 0x1000;
const DEVCFG: u64 = BAR4 + 0x2000;
const NOTIFY: u64 = BAR4 + 0x3000;
const NOTIFY_MUL: u32 = 4;

impl ModernDev {
    fn new(device_id: u16) -> Self {
        let mut cfg = RegFile::default();
        cfg.set_cfg(0x00, (device_id as u32) << 16 | 0x1af4);
        cfg.set_cfg(0x04, 0x0010_0000); // status: capability list
        cfg.set_cfg(
            0x10,
            if device_id == DEVICE_TRANSITIONAL {
                IO as u32 | 1
            } else {
                0
            },
        );
        cfg.set_cfg(0x20, BAR4 as u32 | 0xc); // 64-bit prefetchable
        cfg.set_cfg(0x24, 0);
        cfg.set_cfg(0x34, 0x40);
        // vendor caps: id 9, next, len, cfg_type, bar, ...; offset; length
        let cap = |cfg: &mut RegFile,
                   at: u8,
                   next: u8,
                   len: u8,
                   ty: u8,
                   bar: u8,
                   off: u32,
                   length: u32| {
            cfg.set_cfg(at, u32::from_le_bytes([9, next, len, ty]));
            cfg.set_cfg(at + 4, bar as u32);
            cfg.set_cfg(at + 8, off);
            cfg.set_cfg(at + 12, length);
        };
        // An MSI-X capability first, to be skipped.
        cfg.set_cfg(0x40, 0x0000_5011);
        cap(&mut cfg, 0x50, 0x60, 16, CAP_COMMON, 4, 0, 0x1000);
        cap(&mut cfg, 0x60, 0x74, 20, CAP_NOTIFY, 4, 0x3000, 0x1000);
        cfg.set_cfg(0x70, NOTIFY_MUL);
        cap(&mut cfg, 0x74, 0x84, 16, CAP_ISR, 4, 0x1000, 0x1000);
        cap(&mut cfg, 0x84, 0x94, 16, CAP_DEVICE, 4, 0x2000, 0x1000);
        // A second common cfg in another BAR must be ignored.
        cap(&mut cfg, 0x94, 0x00, 16, CAP_COMMON, 2, 0, 0x1000);
        ModernDev {
            cfg,
            offered: F_MAC | F_STATUS | F_VERSION_1 | OFFLOADS | 1 << 33,
            dfsel: 0,
            gfsel: 0,
            driver_features: [0; 2],
            status: 0,
            accept_features: true,
            sel: 0,
            qmax: 256,
            qsize: [256; 2],
            qaddr: [[0; 6]; 2],
            qenable: [0; 2],
            notified: vec![],
            generation: 7,
        }
    }
}

impl FakeDevice for ModernDev {
    fn read(&mut self, space: Space, addr: u64, width: u8) -> u32 {
        if space == Space::Cfg {
            return self.cfg.get(space, addr, width);
        }
        assert_eq!(space, Space::Mem);
        let q = self.sel as usize;
        match (addr, width) {
            (a, 4) if a == COMMON + 0x04 => (self.offered >> (32 * self.dfsel)) as u32,
            (a, 1) if a == COMMON + 0x14 => self.status as u32,
            (a, 1) if a == COMMON + 0x15 => self.generation as u32,
            (a, 2) if a == COMMON + 0x18 => self.qsize[q] as u32,
            (a, 2) if a == COMMON + 0x1e => q as u32, // queue_notify_off = index
            (a, 1) if a == ISR => 0,
            (a, 1) if (DEVCFG..DEVCFG + 6).contains(&a) => MAC[(a - DEVCFG) as usize] as u32,
            (a, 2) if a == DEVCFG + 6 => 1,
            other => panic!("unexpected modern read {other:x?}"),
        }
    }
    fn write(&mut self, space: Space, addr: u64, width: u8, v: u32) {
        if space == Space::Cfg {
            return self.cfg.put(space, addr, width, v);
        }
        let q = self.sel as usize;
        match (addr, width) {
            (a, 4) if a == COMMON => self.dfsel = v,
            (a, 4) if a == COMMON + 0x08 => self.gfsel = v,
            (a, 4) if a == COMMON + 0x0c => self.driver_features[self.gfsel as usize] = v,
            (a, 1) if a == COMMON + 0x14 => {
                let mut s = v as u8;
                if s & STATUS_FEATURES_OK != 0 && !self.accept_features {
                    s &= !STATUS_FEATURES_OK;
                }
                if s == 0 {
                    self.qenable = [0; 2];
                    self.qsize = [self.qmax; 2];
                }
                self.status = s;
            }
            (a, 2) if a == COMMON + 0x16 => self.sel = v as u16,
            (a, 2) if a == COMMON + 0x18 => self.qsize[q] = v as u16,
            (a, 2) if a == COMMON + 0x1c => self.qenable[q] = v as u16,
            (a, 4) if (COMMON + 0x20..COMMON + 0x38).contains(&a) => {
                self.qaddr[q][(a - COMMON - 0x20) as usize / 4] = v
            }
            (a, 2) if (NOTIFY..NOTIFY + 0x1000).contains(&a) => self.notified.push((a, v as u16)),
            other => panic!("unexpected modern write {other:x?} = {v:#x}"),
        }
    }
}

/// The device's view of one queue: it takes chains from the available
/// ring and returns them on the used ring.
struct DeviceQueue {
    desc: usize,
    avail: usize,
    used: usize,
    size: u16,
    last_avail: u16,
    used_idx: u16,
}

impl DeviceQueue {
    fn legacy<D: FakeDevice>(hal: &FakeHal<D>, pfn: u32, size: u16) -> Self {
        let l = Layout::new(size, true);
        let desc = hal.off_of((pfn as u64) << 12);
        DeviceQueue {
            desc,
            avail: desc + l.avail,
            used: desc + l.used,
            size,
            last_avail: 0,
            used_idx: 0,
        }
    }
    fn modern<D: FakeDevice>(hal: &FakeHal<D>, addrs: [u32; 6], size: u16) -> Self {
        let pa = |i: usize| (addrs[i + 1] as u64) << 32 | addrs[i] as u64;
        DeviceQueue {
            desc: hal.off_of(pa(0)),
            avail: hal.off_of(pa(2)),
            used: hal.off_of(pa(4)),
            size,
            last_avail: 0,
            used_idx: 0,
        }
    }
    /// Next available chain head.
    fn take<D: FakeDevice>(&mut self, hal: &FakeHal<D>) -> Option<u16> {
        if hal.peek16(self.avail + 2) == self.last_avail {
            return None;
        }
        let head = hal.peek16(self.avail + 4 + 2 * (self.last_avail % self.size) as usize);
        self.last_avail = self.last_avail.wrapping_add(1);
        Some(head)
    }
    /// (address, length, flags) of each descriptor in the chain.
    fn chain<D: FakeDevice>(&self, hal: &FakeHal<D>, head: u16) -> Vec<(u64, u32, u16)> {
        let mut out = vec![];
        let mut i = head;
        loop {
            let d = self.desc + 16 * i as usize;
            let flags = hal.peek16(d + 12);
            out.push((hal.peek64(d), hal.peek32(d + 8), flags));
            if flags & DESC_F_NEXT == 0 {
                return out;
            }
            i = hal.peek16(d + 14);
            assert!(out.len() <= self.size as usize, "descriptor loop");
        }
    }
    fn complete<D: FakeDevice>(&mut self, hal: &mut FakeHal<D>, head: u16, len: u32) {
        let e = self.used + 4 + 8 * (self.used_idx % self.size) as usize;
        hal.poke(e, &(head as u32).to_le_bytes());
        hal.poke(e + 4, &len.to_le_bytes());
        self.used_idx = self.used_idx.wrapping_add(1);
        hal.poke(self.used + 2, &self.used_idx.to_le_bytes());
    }
    /// Transmit side: gather the chain into (header, frame).
    fn pop_tx<D: FakeDevice>(&mut self, hal: &mut FakeHal<D>) -> Option<(Vec<u8>, Vec<u8>)> {
        let head = self.take(hal)?;
        let chain = self.chain(hal, head);
        assert_eq!(chain.len(), 2, "header + frame");
        let mut parts = chain.iter().map(|&(pa, len, flags)| {
            assert_eq!(
                flags & DESC_F_WRITE,
                0,
                "transmit buffers are device-readable"
            );
            let o = hal.off_of(pa);
            hal.dma[o..o + len as usize].to_vec()
        });
        let (h, f) = (parts.next().unwrap(), parts.next().unwrap());
        self.complete(hal, head, 0);
        Some((h, f))
    }
    /// Receive side: write header + frame into the next posted chain.
    fn push_rx<D: FakeDevice>(
        &mut self,
        hal: &mut FakeHal<D>,
        hdr_len: usize,
        frame: &[u8],
    ) -> bool {
        let Some(head) = self.take(hal) else {
            return false;
        };
        let chain = self.chain(hal, head);
        assert_eq!(chain.len(), 2);
        assert!(chain.iter().all(|&(_, _, f)| f & DESC_F_WRITE != 0));
        assert_eq!(
            chain[0].1 as usize, hdr_len,
            "header descriptor holds exactly the header"
        );
        assert!(chain[1].1 as usize >= frame.len());
        let mut hdr = vec![0u8; hdr_len];
        if hdr_len == 12 {
            hdr[10] = 1; // num_buffers = 1 (VERSION_1)
        }
        let h = hal.off_of(chain[0].0);
        hal.poke(h, &hdr);
        let d = hal.off_of(chain[1].0);
        hal.poke(d, frame);
        self.complete(hal, head, (hdr_len + frame.len()) as u32);
        true
    }
}

fn frame(n: u8, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ n).collect();
    f[..6].copy_from_slice(&[0xff; 6]);
    f
}

fn legacy_nic(qnum: u16) -> VirtioNet<FakeHal<LegacyDev>, AnyTransport> {
    let hal = FakeHal::new(LegacyDev::new(qnum), DMA_PHYS, DMA_LEN);
    VirtioNet::probe(hal, BDF).unwrap_or_else(|e| panic!("{}", e.reason()))
}

fn modern_nic(device_id: u16) -> VirtioNet<FakeHal<ModernDev>, AnyTransport> {
    let hal = FakeHal::new(ModernDev::new(device_id), DMA_PHYS, DMA_LEN);
    VirtioNet::probe(hal, BDF).unwrap_or_else(|e| panic!("{}", e.reason()))
}

#[test]
fn legacy_init_sequence() {
    let nic = legacy_nic(256);
    assert_eq!(nic.model(), "virtio-net-legacy");
    assert_eq!(nic.header_len(), 10);
    assert_eq!(nic.queue_sizes(), (256, 256));
    assert_eq!(nic.mac(), MAC);
    assert!(nic.link_up());
    let hal = nic.hal();
    let w: Vec<(Space, u64, u32)> = hal.writes();
    let io = |o: u64, v: u32| (Space::Io, IO + o, v);
    let cmd = cfg_addr(BDF, pci::COMMAND);
    let pfn = hal.dev.borrow().pfn;
    assert_eq!(
        w,
        [
            (Space::Cfg, cmd, 0x0407), // I/O + memory + bus master + INTx off
            io(0x12, 0),               // reset
            io(0x12, 1),               // ACKNOWLEDGE
            io(0x12, 3),               // DRIVER
            io(0x04, (F_MAC | F_STATUS) as u32),
            io(0x0e, 0), // queue_max(0)
            io(0x0e, 0), // setup(0)
            io(0x08, pfn[0]),
            io(0x0e, 1),
            io(0x0e, 1),
            io(0x08, pfn[1]),
            io(0x12, 7), // DRIVER_OK
            io(0x10, 0), // receive buffers are there
        ]
    );
    // Page-aligned queues inside the DMA region, no overlap.
    let q0 = (pfn[0] as u64) << 12;
    let q1 = (pfn[1] as u64) << 12;
    assert!(q0 >= DMA_PHYS && q1 >= q0 + Layout::new(256, true).total as u64);
    assert_eq!(hal.dev.borrow().notified, [0]);
}

#[test]
fn legacy_frames_both_ways() {
    let mut nic = legacy_nic(256);
    let pfn = nic.hal().dev.borrow().pfn;
    let mut rxq = DeviceQueue::legacy(nic.hal(), pfn[0], 256);
    let mut txq = DeviceQueue::legacy(nic.hal(), pfn[1], 256);

    // Receive: nothing yet, then two frames in order.
    assert_eq!(nic.receive(|f| f.len()), None);
    let (a, b) = (frame(1, 60), frame(2, MAX_FRAME));
    assert!(rxq.push_rx(nic.hal_mut(), 10, &a));
    assert!(rxq.push_rx(nic.hal_mut(), 10, &b));
    assert_eq!(nic.receive(|f| f.to_vec()), Some(a));
    assert_eq!(nic.receive(|f| f.to_vec()), Some(b));
    assert_eq!(nic.receive(|f| f.len()), None);
    // Both buffers went straight back: the ring is full again.
    assert_eq!(nic.hal().peek16(rxq.avail + 2), RX_SLOTS + 2);

    // Transmit: header of 10 zero bytes, then the frame.
    let out = frame(3, 42);
    assert_eq!(nic.transmit(42, |buf| buf.copy_from_slice(&out)), Some(()));
    let (hdr, sent) = txq.pop_tx(nic.hal_mut()).unwrap();
    assert_eq!(hdr, [0u8; 10]);
    assert_eq!(sent, out);
    // RX: the initial notify, then one for both buffers (batched until
    // the used ring ran empty); then TX.
    assert_eq!(nic.hal().dev.borrow().notified, [0, 0, 1]);
    assert_eq!(
        nic.counters,
        Counters {
            rx_frames: 2,
            rx_dropped: 0,
            tx_frames: 1
        }
    );
}

#[test]
fn transmit_slots_are_reclaimed_and_bounded() {
    let mut nic = legacy_nic(256);
    let pfn = nic.hal().dev.borrow().pfn;
    let mut txq = DeviceQueue::legacy(nic.hal(), pfn[1], 256);
    for i in 0..TX_SLOTS {
        assert!(nic.transmit(60, |b| b.fill(i as u8)).is_some());
    }
    assert_eq!(nic.transmit(60, |_| ()), None, "all slots in flight");
    assert_eq!(nic.transmit(MAX_FRAME + 1, |_| ()), None, "too long");
    assert_eq!(nic.transmit(0, |_| ()), None, "empty");
    // The device finishes the second frame only: exactly one slot frees.
    let first = txq.take(nic.hal()).unwrap();
    let second = txq.take(nic.hal()).unwrap();
    txq.complete(nic.hal_mut(), second, 0);
    assert!(nic.transmit(60, |b| b.fill(0xee)).is_some());
    assert_eq!(nic.transmit(60, |_| ()), None);
    txq.complete(nic.hal_mut(), first, 0);
    assert!(nic.transmit(60, |_| ()).is_some());
}

#[test]
fn thousands_of_frames_wrap_rings_and_indices() {
    // Small legacy queues so slots wrap often; 70000 frames wrap the u16
    // ring indices too.
    let mut nic = legacy_nic(16);
    let pfn = nic.hal().dev.borrow().pfn;
    let mut rxq = DeviceQueue::legacy(nic.hal(), pfn[0], 16);
    let mut txq = DeviceQueue::legacy(nic.hal(), pfn[1], 16);
    for n in 0..70_000u32 {
        let f = frame(n as u8, 60 + (n % 7) as usize);
        assert!(rxq.push_rx(nic.hal_mut(), 10, &f), "ring ran dry at {n}");
        assert_eq!(nic.receive(|got| got == &f[..]), Some(true), "frame {n}");
        assert!(
            nic.transmit(f.len(), |b| b.copy_from_slice(&f)).is_some(),
            "tx {n}"
        );
        assert_eq!(txq.pop_tx(nic.hal_mut()).unwrap().1, f);
    }
    assert_eq!(nic.counters.rx_frames, 70_000);
}

#[test]
fn bad_completions_are_dropped_and_reposted() {
    let mut nic = legacy_nic(256);
    let pfn = nic.hal().dev.borrow().pfn;
    let mut rxq = DeviceQueue::legacy(nic.hal(), pfn[0], 256);
    // Length shorter than header + Ethernet header.
    let head = rxq.take(nic.hal()).unwrap();
    rxq.complete(nic.hal_mut(), head, 12);
    // An id we never posted.
    rxq.complete(nic.hal_mut(), 1, 100);
    let good = frame(9, 64);
    assert!(rxq.push_rx(nic.hal_mut(), 10, &good));
    assert_eq!(nic.receive(|f| f.to_vec()), Some(good));
    assert_eq!(nic.counters.rx_dropped, 2);
    // The short one was re-posted; the bogus id was not.
    assert_eq!(nic.hal().peek16(rxq.avail + 2), RX_SLOTS + 2);
}

#[test]
fn legacy_queue_too_big_for_the_region_fails_cleanly() {
    let hal = FakeHal::new(LegacyDev::new(4096), DMA_PHYS, DMA_LEN);
    let err = VirtioNet::probe(hal, BDF).err();
    assert_eq!(err, Some(Error::NoDmaMemory));
}

#[test]
fn failure_resets_the_device_and_restores_pci_command() {
    let mut dev = LegacyDev::new(256);
    dev.host_features &= !(F_MAC as u32);
    let hal = FakeHal::new(dev, DMA_PHYS, DMA_LEN);
    let t = probe(&hal, BDF).unwrap();
    // Keep a window on the device after the driver drops the HAL.
    let log = hal.log_handle();
    let r = VirtioNet::new(hal, t, BDF);
    assert_eq!(r.err(), Some(Error::NoMac));
    let writes: Vec<_> = log
        .borrow()
        .iter()
        .filter(|a| a.is_write())
        .cloned()
        .collect();
    assert_eq!(
        writes[writes.len() - 3..],
        [
            Access::Write(Space::Io, IO + 0x12, 1, STATUS_FAILED as u32),
            Access::Write(Space::Io, IO + 0x12, 1, 0),
            Access::Write(Space::Cfg, cfg_addr(BDF, pci::COMMAND), 2, 1)
        ]
    );
}

#[test]
fn modern_init_sequence() {
    let nic = modern_nic(DEVICE_MODERN);
    assert_eq!(nic.model(), "virtio-net-modern");
    assert_eq!(nic.header_len(), 12);
    assert_eq!(nic.queue_sizes(), (QUEUE_WANT, QUEUE_WANT));
    assert_eq!(nic.features(), F_MAC | F_STATUS | F_VERSION_1);
    assert_eq!(nic.mac(), MAC);
    let hal = nic.hal();
    let dev = hal.dev.borrow();
    assert_eq!(dev.driver_features, [(F_MAC | F_STATUS) as u32, 1]);
    assert_eq!(dev.qenable, [1, 1]);
    assert_eq!(dev.status, 0xf);
    // Status steps in order, FEATURES_OK before any queue register.
    let common_writes: Vec<(u64, u32)> = hal
        .writes()
        .into_iter()
        .filter(|&(s, a, _)| s == Space::Mem && a < COMMON + 0x1000)
        .map(|(_, a, v)| (a - COMMON, v))
        .collect();
    let statuses: Vec<u32> = common_writes
        .iter()
        .filter(|w| w.0 == 0x14)
        .map(|w| w.1)
        .collect();
    assert_eq!(statuses, [0, 1, 3, 0xb, 0xf]);
    let features_ok = common_writes
        .iter()
        .position(|&w| w == (0x14, 0xb))
        .unwrap();
    let first_queue = common_writes.iter().position(|w| w.0 == 0x16).unwrap();
    assert!(features_ok < first_queue);
    assert_eq!(common_writes.last(), Some(&(0x14, 0xf)), "DRIVER_OK last");
    // Packed layout: 16-aligned table, used ring 4-aligned.
    for q in 0..2 {
        let a = dev.qaddr[q];
        assert_eq!(a[1] | a[3] | a[5], 0);
        assert_eq!(a[0] % 16, 0);
        assert_eq!(a[2], a[0] + 16 * QUEUE_WANT as u32);
        assert_eq!(a[4] % 4, 0);
    }
    // First notify after DRIVER_OK, at notify base + off(0) * multiplier.
    assert_eq!(dev.notified, [(NOTIFY, 0)]);
}

#[test]
fn transitional_device_prefers_modern() {
    let nic = modern_nic(DEVICE_TRANSITIONAL);
    assert_eq!(nic.model(), "virtio-net-modern");
}

#[test]
fn modern_frames_use_12_byte_header_and_per_queue_notify() {
    let mut nic = modern_nic(DEVICE_MODERN);
    let addrs = nic.hal().dev.borrow().qaddr;
    let mut rxq = DeviceQueue::modern(nic.hal(), addrs[0], QUEUE_WANT);
    let mut txq = DeviceQueue::modern(nic.hal(), addrs[1], QUEUE_WANT);
    let f = frame(5, 98);
    assert!(rxq.push_rx(nic.hal_mut(), 12, &f));
    assert_eq!(nic.receive(|got| got.to_vec()), Some(f.clone()));
    nic.transmit(f.len(), |b| b.copy_from_slice(&f)).unwrap();
    let (hdr, sent) = txq.pop_tx(nic.hal_mut()).unwrap();
    assert_eq!(hdr, [0u8; 12]);
    assert_eq!(sent, f);
    let notified = nic.hal().dev.borrow().notified.clone();
    // The reposted RX buffer waits for a batch or an empty ring.
    assert_eq!(notified, [(NOTIFY, 0), (NOTIFY + NOTIFY_MUL as u64, 1)]);
    assert_eq!(nic.receive(|got| got.len()), None);
    let notified = nic.hal().dev.borrow().notified.clone();
    assert_eq!(
        notified,
        [(NOTIFY, 0), (NOTIFY + NOTIFY_MUL as u64, 1), (NOTIFY, 0)]
    );
}

/// A device that ran dry wants a notify per buffer; we send one per
/// `RX_KICK_BATCH` buffers while frames keep coming, and one as soon as
/// the used ring is empty, so it is never left without buffers it could
/// know about while we wait.
#[test]
fn receive_notifies_once_per_batch_and_when_the_ring_runs_empty() {
    let mut nic = legacy_nic(256);
    let pfn = nic.hal().dev.borrow().pfn;
    let mut rxq = DeviceQueue::legacy(nic.hal(), pfn[0], 256);
    let rx_notifies = |nic: &VirtioNet<FakeHal<LegacyDev>, AnyTransport>| {
        nic.hal()
            .dev
            .borrow()
            .notified
            .iter()
            .filter(|&&q| q == 0)
            .count()
    };
    let start = rx_notifies(&nic);
    let n = 2 * RX_KICK_BATCH as usize + 1;
    for i in 0..n {
        assert!(rxq.push_rx(nic.hal_mut(), 10, &frame(i as u8, 60)));
        assert!(nic.receive(|f| f.len()).is_some());
        // The device keeps its buffers only if it can see them.
        let avail = nic.hal().peek16(rxq.avail + 2);
        assert_eq!(avail, RX_SLOTS + 1 + i as u16, "buffer {i} not reposted");
    }
    assert_eq!(rx_notifies(&nic) - start, 2, "one notify per full batch");
    assert_eq!(nic.receive(|f| f.len()), None);
    assert_eq!(
        rx_notifies(&nic) - start,
        3,
        "the remainder on an empty ring"
    );
    assert_eq!(nic.receive(|f| f.len()), None);
    assert_eq!(rx_notifies(&nic) - start, 3, "nothing new to tell");
}

#[test]
fn modern_device_rejecting_features() {
    let mut dev = ModernDev::new(DEVICE_MODERN);
    dev.accept_features = false;
    let r = VirtioNet::probe(FakeHal::new(dev, DMA_PHYS, DMA_LEN), BDF);
    assert_eq!(r.err(), Some(Error::FeaturesRejected));
}

#[test]
fn modern_only_device_without_version_1() {
    let mut dev = ModernDev::new(DEVICE_MODERN);
    dev.offered &= !F_VERSION_1;
    let r = VirtioNet::probe(FakeHal::new(dev, DMA_PHYS, DMA_LEN), BDF);
    assert_eq!(r.err(), Some(Error::NoVersion1));
}

#[test]
fn quiesce_resets_and_restores() {
    let mut nic = modern_nic(DEVICE_MODERN);
    assert!(!nic.is_quiesced());
    nic.hal().clear_log();
    nic.quiesce();
    assert!(nic.is_quiesced());
    let w = nic.hal().writes();
    assert_eq!(
        w,
        [
            (Space::Mem, COMMON + 0x14, 0),
            (Space::Cfg, cfg_addr(BDF, pci::COMMAND), 0)
        ]
    );
    assert_eq!(nic.hal().dev.borrow().status, 0);
    assert!(nic.transmit(60, |_| ()).is_none());
    assert!(nic.receive(|_| ()).is_none());
    assert!(!nic.link_up());
    nic.hal().clear_log();
    nic.quiesce();
    assert!(nic.hal().writes().is_empty(), "idempotent");
}

#[test]
fn not_virtio() {
    let mut dev = LegacyDev::new(256);
    dev.cfg.set_cfg(0, 0x100e_8086);
    assert_eq!(
        probe(&FakeHal::new(dev, DMA_PHYS, DMA_LEN), BDF).err(),
        Some(Error::NotVirtioNet)
    );
}

#[test]
fn jumbo_buffers_when_the_region_has_room() {
    // 48 KiB: standard buffers (a legacy queue of 256 takes ~20 KiB).
    assert_eq!(legacy_nic(256).max_frame(), MAX_FRAME);
    // 128 KiB: buffers for a path MTU 4096 RoCE frame (4170 bytes).
    let hal = FakeHal::new(LegacyDev::new(256), DMA_PHYS, 128 * 1024);
    let mut nic = VirtioNet::probe(hal, BDF).unwrap();
    assert_eq!(nic.max_frame(), JUMBO_BUF_LEN);
    let pfn = nic.hal().dev.borrow().pfn;
    let mut rxq = DeviceQueue::legacy(nic.hal(), pfn[0], 256);
    let mut txq = DeviceQueue::legacy(nic.hal(), pfn[1], 256);
    let big = frame(7, 4170);
    assert!(rxq.push_rx(nic.hal_mut(), 10, &big));
    assert_eq!(nic.receive(|f| f.to_vec()), Some(big.clone()));
    assert!(nic
        .transmit(big.len(), |b| b.copy_from_slice(&big))
        .is_some());
    assert_eq!(txq.pop_tx(nic.hal_mut()).unwrap().1, big);
    assert_eq!(nic.transmit(JUMBO_BUF_LEN + 1, |_| ()), None);
}

#[test]
fn resume_after_quiesce_brings_the_rings_back() {
    let mut nic = legacy_nic(256);
    nic.quiesce();
    assert!(nic.is_quiesced());
    assert!(nic.receive(|_| ()).is_none());
    nic.resume().unwrap();
    assert!(!nic.is_quiesced());
    assert_eq!(nic.hal().dev.borrow().status, 7, "DRIVER_OK again");
    let pfn = nic.hal().dev.borrow().pfn;
    let mut rxq = DeviceQueue::legacy(nic.hal(), pfn[0], 256);
    let mut txq = DeviceQueue::legacy(nic.hal(), pfn[1], 256);
    let f = frame(5, 100);
    assert!(rxq.push_rx(nic.hal_mut(), 10, &f));
    assert_eq!(nic.receive(|got| got.to_vec()), Some(f.clone()));
    assert!(nic.transmit(f.len(), |b| b.copy_from_slice(&f)).is_some());
    assert_eq!(txq.pop_tx(nic.hal_mut()).unwrap().1, f);
    // Resume while live changes nothing.
    nic.hal().clear_log();
    nic.resume().unwrap();
    assert!(nic.hal().writes().is_empty());
}
