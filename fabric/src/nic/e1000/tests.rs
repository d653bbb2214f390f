//! e1000 against a fake 82540EM: init order, MAC sources, and frames
//! through both rings with the test writing back descriptors as the device.

use super::*;
use crate::nic::fakehal::{cfg_addr, Access, FakeDevice, FakeHal, RegFile, Space};

const BDF: Bdf = Bdf(0x0018);
const BAR: u64 = 0xfebc_0000;
const DMA_PHYS: u64 = 0x9_1000;
const DMA_LEN: usize = 48 * 1024;
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];

struct Dev {
    cfg: RegFile,
    regs: RegFile,
    eeprom: [u16; 3],
    resets: u32,
}

impl Dev {
    /// `loaded`: the MAC is in RAL/RAH after reset (QEMU, most hardware).
    fn new(loaded: bool) -> Dev {
        let mut cfg = RegFile::default();
        cfg.set_cfg(0x00, 0x100e_8086);
        cfg.set_cfg(0x04, 0x0000_0003);
        cfg.set_cfg(0x10, BAR as u32);
        let mut regs = RegFile::default();
        if loaded {
            regs.put(
                Space::Mem,
                BAR + reg::RAL0 as u64,
                4,
                u32::from_le_bytes([MAC[0], MAC[1], MAC[2], MAC[3]]),
            );
            regs.put(
                Space::Mem,
                BAR + reg::RAH0 as u64,
                4,
                u32::from_le_bytes([MAC[4], MAC[5], 0, 0x80]),
            );
        }
        regs.put(Space::Mem, BAR + reg::STATUS as u64, 4, 0x80 | 2);
        let eeprom = [
            u16::from_le_bytes([MAC[0], MAC[1]]),
            u16::from_le_bytes([MAC[2], MAC[3]]),
            u16::from_le_bytes([MAC[4], MAC[5]]),
        ];
        Dev {
            cfg,
            regs,
            eeprom,
            resets: 0,
        }
    }
}

impl FakeDevice for Dev {
    fn read(&mut self, space: Space, addr: u64, width: u8) -> u32 {
        match space {
            Space::Cfg => self.cfg.get(space, addr, width),
            Space::Mem => {
                assert_eq!(width, 4, "e1000 registers are 32-bit");
                let v = self.regs.get(space, addr, 4);
                if addr == BAR + reg::ICR as u64 {
                    self.regs.put(space, addr, 4, 0);
                }
                v
            }
            Space::Io => panic!("no I/O"),
        }
    }
    fn write(&mut self, space: Space, addr: u64, width: u8, mut v: u32) {
        if space == Space::Cfg {
            return self.cfg.put(space, addr, width, v);
        }
        assert_eq!((space, width), (Space::Mem, 4));
        match (addr - BAR) as u32 {
            reg::CTRL if v & CTRL_RST != 0 => {
                self.resets += 1;
                v &= !CTRL_RST; // reset completes at once
            }
            reg::EERD if v & EERD_START != 0 => {
                let word = (v >> 8) as usize & 0xff;
                v = (self.eeprom[word] as u32) << 16 | EERD_DONE | (word as u32) << 8;
            }
            _ => {}
        }
        self.regs.put(space, addr, 4, v);
    }
}

fn nic(loaded: bool) -> E1000<FakeHal<Dev>> {
    E1000::new(FakeHal::new(Dev::new(loaded), DMA_PHYS, DMA_LEN), BDF)
        .unwrap_or_else(|e| panic!("{}", e.reason()))
}

fn reg_writes(hal: &FakeHal<Dev>) -> Vec<(u32, u32)> {
    hal.writes()
        .into_iter()
        .filter(|w| w.0 == Space::Mem)
        .map(|(_, a, v)| ((a - BAR) as u32, v))
        .collect()
}

fn reg(hal: &FakeHal<Dev>, r: u32) -> u32 {
    hal.dev.borrow().regs.get(Space::Mem, BAR + r as u64, 4)
}

#[test]
fn init_order() {
    let n = nic(true);
    assert_eq!(n.mac(), MAC);
    assert!(n.link_up());
    let hal = n.hal();
    assert_eq!(
        hal.writes()[0],
        (Space::Cfg, cfg_addr(BDF, pci::COMMAND), 0x0407)
    );
    let w = reg_writes(hal);
    let at = |r: u32| {
        w.iter()
            .position(|x| x.0 == r)
            .unwrap_or_else(|| panic!("{r:#x} never written"))
    };
    let last = |r: u32| w.iter().rposition(|x| x.0 == r).unwrap();
    // Mask interrupts before the reset, and again after it.
    assert_eq!(w[0], (reg::IMC, u32::MAX));
    assert_eq!(w[1].0, reg::CTRL);
    assert_ne!(w[1].1 & CTRL_RST, 0);
    assert_eq!(w[2], (reg::IMC, u32::MAX));
    assert_eq!(hal.dev.borrow().resets, 1);
    // Link up, PHY out of reset.
    let ctrl = w[3];
    assert_eq!(ctrl.0, reg::CTRL);
    assert_eq!(
        ctrl.1 & (CTRL_SLU | CTRL_ASDE | CTRL_PHY_RST | CTRL_LRST),
        CTRL_SLU | CTRL_ASDE
    );
    // Rings programmed before the engines are enabled.
    for r in [reg::RDBAL, reg::RDBAH, reg::RDLEN, reg::RDH, reg::RDT] {
        assert!(at(r) < at(reg::RCTL), "{r:#x} after RCTL");
    }
    for r in [
        reg::TDBAL,
        reg::TDBAH,
        reg::TDLEN,
        reg::TDH,
        reg::TDT,
        reg::TIPG,
    ] {
        assert!(at(r) < at(reg::TCTL), "{r:#x} after TCTL");
    }
    // The deepest ring that fits the 48 KiB test region: 16 descriptors.
    let rx_descs = n.rx_descs() as u32;
    assert_eq!(rx_descs, 16);
    assert_eq!(reg(hal, reg::RDLEN), 16 * rx_descs);
    assert_eq!(reg(hal, reg::TDLEN), 128);
    assert_eq!(reg(hal, reg::RDT), rx_descs - 1);
    assert_eq!(reg(hal, reg::RCTL), RCTL_EN | RCTL_BAM | RCTL_SECRC);
    assert_eq!(
        reg(hal, reg::TCTL) & (TCTL_EN | TCTL_PSP),
        TCTL_EN | TCTL_PSP
    );
    assert_eq!(reg(hal, reg::RAH0), 0x8000_efcd);
    assert_eq!(
        w.iter()
            .filter(|x| (reg::MTA..reg::MTA + 512).contains(&x.0))
            .count(),
        128
    );
    assert!(last(reg::RAH0) < at(reg::RCTL));
    // Descriptor rings are 128-byte aligned and each receive descriptor
    // points at its own buffer.
    let rd = reg(hal, reg::RDBAL) as u64;
    assert_eq!(rd % 128, 0);
    let o = hal.off_of(rd);
    let bufs: Vec<u64> = (0..rx_descs as usize)
        .map(|i| hal.peek64(o + 16 * i))
        .collect();
    assert!(bufs.windows(2).all(|p| p[1] == p[0] + 2048));
    assert!(
        (0..rx_descs as usize).all(|i| hal.peek64(o + 16 * i + 8) == 0),
        "status clear"
    );
}

#[test]
fn mac_from_eeprom_when_ral_rah_empty() {
    let n = nic(false);
    assert_eq!(n.mac(), MAC);
    let w = reg_writes(n.hal());
    assert_eq!(w.iter().filter(|x| x.0 == reg::EERD).count(), 3);
    assert_eq!(reg(n.hal(), reg::RAL0), 0xab00_5452);
    assert_eq!(reg(n.hal(), reg::RAH0), 0x8000_efcd);
}

#[test]
fn no_mac_anywhere_fails_and_cleans_up() {
    let mut dev = Dev::new(false);
    dev.eeprom = [0; 3];
    let hal = FakeHal::new(dev, DMA_PHYS, DMA_LEN);
    let log = hal.log_handle();
    assert_eq!(E1000::new(hal, BDF).err(), Some(Error::NoMac));
    let writes: Vec<Access> = log
        .borrow()
        .iter()
        .filter(|a| a.is_write())
        .cloned()
        .collect();
    assert_eq!(
        writes.last(),
        Some(&Access::Write(
            Space::Cfg,
            cfg_addr(BDF, pci::COMMAND),
            2,
            3
        ))
    );
}

#[test]
fn not_an_e1000() {
    let mut dev = Dev::new(true);
    dev.cfg.set_cfg(0, 0x1000_1af4);
    assert_eq!(
        E1000::new(FakeHal::new(dev, DMA_PHYS, DMA_LEN), BDF).err(),
        Some(Error::NotE1000)
    );
}

/// Device side: write frame `f` into receive descriptor `i`.
fn deliver(n: &mut E1000<FakeHal<Dev>>, i: usize, f: &[u8], status: u8, errors: u8) {
    let descs = u32::from(n.rx_descs());
    let hal = n.hal_mut();
    let o = hal.off_of(reg(hal, reg::RDBAL) as u64) + 16 * i;
    let buf = hal.off_of(hal.peek64(o));
    hal.poke(buf, f);
    hal.poke(o + 8, &(f.len() as u16).to_le_bytes());
    hal.poke(o + 12, &[status, errors]);
    let rdh = (i as u32 + 1) % descs;
    hal.dev
        .borrow_mut()
        .regs
        .put(Space::Mem, BAR + reg::RDH as u64, 4, rdh);
}

#[test]
fn receive_in_order_and_give_back() {
    let mut n = nic(true);
    assert_eq!(n.receive(|f| f.len()), None);
    let a: Vec<u8> = (0..60).collect();
    let b: Vec<u8> = (0..200).map(|i| i as u8 ^ 0x5a).collect();
    deliver(&mut n, 0, &a, 0x03, 0);
    deliver(&mut n, 1, &b, 0x03, 0);
    assert_eq!(n.receive(|f| f.to_vec()), Some(a));
    assert_eq!(n.receive(|f| f.to_vec()), Some(b));
    // The tail moves once the ring has nothing more for us (batched).
    assert_eq!(
        reg(n.hal(), reg::RDT),
        u32::from(n.rx_descs()) - 1,
        "tail before the batch"
    );
    assert_eq!(n.receive(|f| f.len()), None);
    assert_eq!(reg(n.hal(), reg::RDT), 1, "both descriptors handed back");
    // Status was cleared before the hand-back.
    let o = n.hal().off_of(reg(n.hal(), reg::RDBAL) as u64);
    assert_eq!(n.hal().peek32(o + 12), 0);
}

#[test]
fn receive_drops_errors_fragments_and_runts() {
    let mut n = nic(true);
    let good: Vec<u8> = vec![7; 64];
    deliver(&mut n, 0, &good, 0x03, 0x01); // CRC error
    deliver(&mut n, 1, &good, 0x01, 0); // no EOP
    deliver(&mut n, 2, &good[..10], 0x03, 0); // runt
    deliver(&mut n, 3, &good, 0x03, 0x20); // TCP checksum bit only: fine
    assert_eq!(n.receive(|f| f.len()), Some(64));
    assert_eq!(n.counters.rx_dropped, 3);
    // All four go back (with the next look at an empty ring).
    assert_eq!(n.receive(|f| f.len()), None);
    assert_eq!(reg(n.hal(), reg::RDT), 3);
}

#[test]
fn ring_wraps_many_times() {
    let mut n = nic(true);
    let descs = n.rx_descs() as usize;
    let mut pending = 0;
    for k in 0..100usize {
        let f = vec![k as u8; 60 + k % 5];
        deliver(&mut n, k % descs, &f, 0x03, 0);
        assert_eq!(n.receive(|got| got == &f[..]), Some(true), "frame {k}");
        pending += 1;
        if pending == descs / 2 {
            // Half the ring back: the tail moves by itself.
            assert_eq!(reg(n.hal(), reg::RDT) as usize, k % descs);
            pending = 0;
        }
        if k % 7 == 0 {
            // An empty ring reports what is left.
            assert_eq!(n.receive(|got| got.len()), None);
            assert_eq!(reg(n.hal(), reg::RDT) as usize, k % descs);
            pending = 0;
        }
    }
}

/// A small DMA region still gets a working (8-descriptor) ring; one too
/// small for even that is refused.
#[test]
fn ring_depth_follows_the_dma_region() {
    let small = E1000::new(FakeHal::new(Dev::new(true), DMA_PHYS, 32 * 1024), BDF).unwrap();
    assert_eq!(small.rx_descs(), 8);
    assert_eq!(reg(small.hal(), reg::RDLEN), 128);
    let big = E1000::new(FakeHal::new(Dev::new(true), DMA_PHYS, 80 * 1024), BDF).unwrap();
    assert_eq!(big.rx_descs(), 32);
    assert!(E1000::new(FakeHal::new(Dev::new(true), DMA_PHYS, 16 * 1024), BDF).is_err());
}

#[test]
fn transmit_fills_descriptor_and_bumps_tail() {
    let mut n = nic(true);
    let f: Vec<u8> = (0..42).collect();
    n.transmit(42, |b| b.copy_from_slice(&f)).unwrap();
    let hal = n.hal();
    assert_eq!(reg(hal, reg::TDT), 1);
    let o = hal.off_of(reg(hal, reg::TDBAL) as u64);
    let buf = hal.off_of(hal.peek64(o));
    assert_eq!(&hal.dma[buf..buf + 42], &f[..]);
    // length 42, CMD = EOP | IFCS | RS, status cleared
    assert_eq!(hal.peek32(o + 8), 42 | 0x0b << 24);
    assert_eq!(hal.peek32(o + 12), 0);
}

#[test]
fn transmit_ring_full_until_done() {
    let mut n = nic(true);
    for _ in 0..TX_DESCS - 1 {
        assert!(n.transmit(60, |_| ()).is_some());
    }
    assert_eq!(
        n.transmit(60, |_| ()),
        None,
        "one descriptor always stays free"
    );
    // The device finishes descriptor 0.
    let o = n.hal().off_of(reg(n.hal(), reg::TDBAL) as u64);
    n.hal_mut().poke(o + 12, &[DESC_DD as u8]);
    assert!(n.transmit(60, |_| ()).is_some());
    assert_eq!(reg(n.hal(), reg::TDT), 0, "tail wrapped");
    assert_eq!(n.transmit(60, |_| ()), None);
    assert_eq!(n.transmit(MAX_FRAME + 1, |_| ()), None);
}

#[test]
fn quiesce_stops_engines_resets_and_restores() {
    let mut n = nic(true);
    assert!(!n.is_quiesced());
    n.hal().clear_log();
    n.quiesce();
    assert!(n.is_quiesced());
    let w = reg_writes(n.hal());
    assert_eq!(
        &w[..3],
        &[(reg::RCTL, 0), (reg::TCTL, 0), (reg::IMC, u32::MAX)]
    );
    assert_ne!(w[3].1 & CTRL_RST, 0);
    assert_eq!(n.hal().dev.borrow().resets, 2);
    assert_eq!(
        n.hal().writes().last(),
        Some(&(Space::Cfg, cfg_addr(BDF, pci::COMMAND), 3))
    );
    assert!(n.transmit(60, |_| ()).is_none());
    assert!(!n.link_up());
}

#[test]
fn resume_after_quiesce_receives_again() {
    let mut n = nic(true);
    n.quiesce();
    assert!(n.is_quiesced());
    n.resume().unwrap();
    assert!(!n.is_quiesced());
    assert_eq!(n.mac(), MAC);
    let a: Vec<u8> = (0..60).collect();
    deliver(&mut n, 0, &a, 0x03, 0);
    assert_eq!(n.receive(|f| f.to_vec()), Some(a));
    assert!(n.transmit(60, |b| b.fill(1)).is_some());
    n.hal().clear_log();
    n.resume().unwrap();
    assert!(n.hal().writes().is_empty(), "no-op while live");
}

#[test]
fn pause_only_drops_bus_mastering_and_resume_picks_up_the_rings() {
    let mut n = nic(true);
    let a: Vec<u8> = (0..60).collect();
    deliver(&mut n, 0, &a, 0x03, 0);
    assert_eq!(n.receive(|f| f.to_vec()), Some(a));
    n.hal().clear_log();
    n.pause();
    // No reset, no RCTL/TCTL write (QEMU would hold receive for 1 s).
    assert!(reg_writes(n.hal()).is_empty());
    assert_eq!(
        n.hal().writes(),
        [(Space::Cfg, cfg_addr(BDF, pci::COMMAND), 0x403)]
    );
    assert!(n.transmit(60, |_| ()).is_none());
    assert!(n.receive(|_| ()).is_none());
    n.pause();
    n.resume().unwrap();
    assert_eq!(
        n.hal().writes().last(),
        Some(&(Space::Cfg, cfg_addr(BDF, pci::COMMAND), 0x407))
    );
    assert_eq!(n.hal().dev.borrow().resets, 1, "only the bring-up reset");
    // The ring carries on where it was.
    let b: Vec<u8> = (0..70).map(|i| i as u8 ^ 0x33).collect();
    deliver(&mut n, 1, &b, 0x03, 0);
    assert_eq!(n.receive(|f| f.to_vec()), Some(b));
    // A full quiesce still works from the paused state.
    n.pause();
    n.quiesce();
    assert!(n.is_quiesced());
}
