use super::*;
use crate::blockdev::Identity;

/// 2 MiB of "physical memory".
struct Mem(Vec<u8>);

impl PhysMem for Mem {
    fn read(&self, addr: u32, dst: &mut [u8]) {
        let a = addr as usize;
        dst.copy_from_slice(&self.0[a..a + dst.len()]);
    }
    fn write(&mut self, addr: u32, src: &[u8]) {
        let a = addr as usize;
        self.0[a..a + src.len()].copy_from_slice(src);
    }
}

struct Disk {
    data: Vec<u8>,
    read_only: bool,
    fail: Option<IoError>,
    resets: u32,
}

impl BlockDevice for Disk {
    fn sector_size(&self) -> u32 {
        512
    }
    fn sectors(&self) -> u64 {
        self.data.len() as u64 / 512
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn identity(&self) -> Identity {
        Identity {
            pci_bdf: 0x18,
            scsi_id: 0,
            lun: 0,
        }
    }
    fn read<M: PhysMem>(
        &mut self,
        mem: &mut M,
        lba: u64,
        count: u32,
        buf: u32,
    ) -> Result<(), IoError> {
        if let Some(e) = self.fail {
            return Err(e);
        }
        let a = lba as usize * 512;
        mem.write(buf, &self.data[a..a + count as usize * 512]);
        Ok(())
    }
    fn write<M: PhysMem>(
        &mut self,
        mem: &mut M,
        lba: u64,
        count: u32,
        buf: u32,
    ) -> Result<(), IoError> {
        if let Some(e) = self.fail {
            return Err(e);
        }
        let a = lba as usize * 512;
        mem.read(buf, &mut self.data[a..a + count as usize * 512]);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
    fn reset(&mut self) -> Result<(), IoError> {
        self.resets += 1;
        Ok(())
    }
}

const SECTORS: usize = 16 * 63 * 20; // 20 cylinders of 16 x 63

fn setup() -> (Drive<Disk>, Mem) {
    let mut data = vec![0u8; SECTORS * 512];
    for (i, s) in data.chunks_mut(512).enumerate() {
        s[..8].copy_from_slice(&(i as u64).to_le_bytes());
    }
    let drive = Drive {
        number: 0x80,
        chs: Chs {
            cylinders: 20,
            heads: 16,
            sectors: 63,
        },
        dev: Disk {
            data,
            read_only: false,
            fail: None,
            resets: 0,
        },
    };
    let mut mem = Mem(vec![0; 2 << 20]);
    mem.0[0x475] = 1;
    (drive, mem)
}

fn call(d: &mut Drive<Disk>, mem: &mut Mem, f: Frame) -> Frame {
    let mut f = f;
    d.handle(&mut f, mem);
    f
}

fn regs(ax: u16, bx: u16, cx: u16, dx: u16) -> Frame {
    Frame {
        eax: ax as u32,
        ebx: bx as u32,
        ecx: cx as u32,
        edx: dx as u32,
        ..Frame::default()
    }
}

fn dap(mem: &mut Mem, at: u32, size: u8, count: u8, seg: u16, off: u16, lba: u64) {
    let mut p = [0u8; 32];
    p[0] = size;
    p[2] = count;
    p[4..6].copy_from_slice(&off.to_le_bytes());
    p[6..8].copy_from_slice(&seg.to_le_bytes());
    p[8..16].copy_from_slice(&lba.to_le_bytes());
    mem.write(at, &p);
}

fn ext(ah: u8, dap_seg: u16, dap_off: u16) -> Frame {
    Frame {
        eax: (ah as u32) << 8,
        edx: 0x80,
        ds: dap_seg,
        esi: dap_off as u32,
        ..Frame::default()
    }
}

#[test]
fn other_drives_are_chained_untouched() {
    let (mut d, mut mem) = setup();
    let f0 = regs(0x0201, 0x7c00, 0x0001, 0x0081);
    let f = call(&mut d, &mut mem, f0);
    assert_eq!(f.action, ACTION_CHAIN);
    assert_eq!(
        (f.eax, f.ebx, f.ecx, f.edx),
        (f0.eax, f0.ebx, f0.ecx, f0.edx)
    );
}

#[test]
fn chs_read_maps_to_lba_and_reports_count() {
    let (mut d, mut mem) = setup();
    // C=1 H=2 S=3 -> LBA (1*16+2)*63+2 = 1136; 2 sectors to 0000:8000.
    let f = call(
        &mut d,
        &mut mem,
        Frame {
            es: 0,
            ..regs(0x0202, 0x8000, 0x0103, 0x0280)
        },
    );
    assert!(!f.carry());
    assert_eq!(f.ah(), 0);
    assert_eq!(f.al(), 2);
    assert_eq!(mem.read64(0x8000), 1136);
    assert_eq!(mem.read64(0x8200), 1137);
}

#[test]
fn chs_rejects_bad_parameters() {
    let (mut d, mut mem) = setup();
    for (ax, cx, dx) in [
        (0x0200u16, 0x0001u16, 0x0080u16), // count 0
        (0x0281, 0x0001, 0x0080),          // count 129
        (0x0201, 0x0000, 0x0080),          // sector 0
        (0x0201, 0x0040, 0x0080),          // sector 64 > 63
        (0x0201, 0x0001, 0x1080),          // head 16
        (0x0201, 0x1401, 0x0080),          // cylinder 20
    ] {
        let f = call(&mut d, &mut mem, regs(ax, 0x8000, cx, dx));
        assert!(f.carry(), "{ax:04x} {cx:04x} {dx:04x}");
        assert_eq!(f.ah(), status::INVALID);
    }
    // AH=01 reports it without clearing it.
    let f = call(&mut d, &mut mem, regs(0x0100, 0, 0, 0x80));
    assert_eq!((f.ah(), f.carry()), (status::INVALID, true));
    let f = call(&mut d, &mut mem, regs(0x0100, 0, 0, 0x80));
    assert_eq!((f.ah(), f.carry()), (status::INVALID, true));
}

#[test]
fn parameters_and_type() {
    let (mut d, mut mem) = setup();
    let f = call(&mut d, &mut mem, regs(0x0800, 0, 0, 0x80));
    assert!(!f.carry());
    assert_eq!(f.ch(), 18); // 20 cylinders: max index 19, one kept back
    assert_eq!(f.cl(), 63);
    assert_eq!(f.dh(), 15);
    assert_eq!(f.dl(), 1);
    let f = call(&mut d, &mut mem, regs(0x1500, 0, 0, 0x80));
    assert!(!f.carry());
    assert_eq!(f.ah(), 3);
    assert_eq!(((f.cx() as u32) << 16) | f.dx() as u32, 19 * 16 * 63);
}

#[test]
fn edd_check_needs_the_magic() {
    let (mut d, mut mem) = setup();
    let f = call(&mut d, &mut mem, regs(0x4100, 0x55aa, 0, 0x80));
    assert_eq!(
        (f.ah(), f.bx(), f.cx(), f.carry()),
        (0x30, 0xaa55, EDD_FEATURES, false)
    );
    let f = call(&mut d, &mut mem, regs(0x4100, 0x1234, 0, 0x80));
    assert!(f.carry());
}

#[test]
fn extended_read_16_byte_dap() {
    let (mut d, mut mem) = setup();
    dap(&mut mem, 0x600, 16, 3, 0x1000, 0x0010, 100);
    let f = call(&mut d, &mut mem, ext(0x42, 0, 0x600));
    assert!(!f.carry(), "{f:?}");
    assert_eq!(mem.read64(0x10010), 100);
    assert_eq!(mem.read64(0x10010 + 1024), 102);
    assert_eq!(mem.read8(0x602), 3);
}

#[test]
fn extended_read_flat_buffer_and_long_count() {
    let (mut d, mut mem) = setup();
    dap(&mut mem, 0x600, 24, 2, 0xffff, 0xffff, 7);
    mem.write(0x610, &0x12_0000u64.to_le_bytes());
    let f = call(&mut d, &mut mem, ext(0x42, 0, 0x600));
    assert!(!f.carry(), "{f:?}");
    assert_eq!(mem.read64(0x12_0000), 7);
    assert_eq!(mem.read64(0x12_0200), 8);
    // count FFh: long count at +24 needs a 28+ byte packet.
    dap(&mut mem, 0x600, 24, 0xff, 0xffff, 0xffff, 9);
    assert!(call(&mut d, &mut mem, ext(0x42, 0, 0x600)).carry());
    dap(&mut mem, 0x600, 32, 0xff, 0xffff, 0xffff, 9);
    mem.write(0x610, &0x13_0000u64.to_le_bytes());
    mem.write(0x618, &200u32.to_le_bytes());
    let f = call(&mut d, &mut mem, ext(0x42, 0, 0x600));
    assert!(!f.carry(), "{f:?}");
    assert_eq!(mem.read64(0x13_0000 + 199 * 512), 208);
}

#[test]
fn extended_rejects_bad_packets_and_ranges() {
    let (mut d, mut mem) = setup();
    for (size, count, lba, want) in [
        (0u8, 1u8, 0u64, status::INVALID),
        (15, 1, 0, status::INVALID),
        (16, 128, 0, status::INVALID),
        (16, 1, SECTORS as u64, status::INVALID),
        (16, 2, SECTORS as u64 - 1, status::BAD_TRACK),
    ] {
        dap(&mut mem, 0x600, size, count, 0x1000, 0, lba);
        let f = call(&mut d, &mut mem, ext(0x42, 0, 0x600));
        assert!(f.carry());
        assert_eq!(f.ah(), want, "size {size} count {count} lba {lba}");
    }
    // The failed transfer reports zero sectors done.
    assert_eq!(mem.read8(0x602), 0);
    // Count 0 is a successful no-op.
    dap(&mut mem, 0x600, 16, 0, 0x1000, 0, 0);
    assert!(!call(&mut d, &mut mem, ext(0x42, 0, 0x600)).carry());
}

#[test]
fn write_then_read_back_and_read_only() {
    let (mut d, mut mem) = setup();
    mem.write(0x20000, &[0xabu8; 512]);
    dap(&mut mem, 0x600, 16, 1, 0x2000, 0, 50);
    assert!(!call(&mut d, &mut mem, ext(0x43, 0, 0x600)).carry());
    assert!(d.dev.data[50 * 512..51 * 512].iter().all(|&b| b == 0xab));
    d.dev.read_only = true;
    let f = call(&mut d, &mut mem, ext(0x43, 0, 0x600));
    assert_eq!((f.ah(), f.carry()), (status::WRITE_PROTECTED, true));
}

#[test]
fn transport_errors_map_to_bios_codes() {
    let (mut d, mut mem) = setup();
    for (e, want) in [
        (IoError::Timeout, 0x80),
        (IoError::NotReady, 0xaa),
        (IoError::Media, 0x04),
    ] {
        d.dev.fail = Some(e);
        dap(&mut mem, 0x600, 16, 1, 0x2000, 0, 1);
        let f = call(&mut d, &mut mem, ext(0x42, 0, 0x600));
        assert_eq!((f.ah(), f.carry()), (want, true));
        assert_eq!(mem.read8(0x474), want);
    }
}

#[test]
fn ext_parameters_short_buffer_and_edd3() {
    let (mut d, mut mem) = setup();
    mem.write16(0x700, 0x18);
    assert!(call(&mut d, &mut mem, ext(0x48, 0, 0x700)).carry());
    mem.write16(0x700, 0x42);
    let f = call(&mut d, &mut mem, ext(0x48, 0, 0x700));
    assert!(!f.carry());
    assert_eq!(mem.read16(0x700), 0x42);
    assert_eq!(mem.read64(0x710), SECTORS as u64);
}

#[test]
fn unknown_and_cd_functions_fail_cleanly() {
    let (mut d, mut mem) = setup();
    for ah in [0x4bu8, 0x77, 0x05, 0x16] {
        let f = call(&mut d, &mut mem, regs((ah as u16) << 8, 0, 0, 0x80));
        assert_eq!((f.ah(), f.carry()), (status::INVALID, true), "AH={ah:02x}");
    }
}

#[test]
fn reset_reaches_the_device() {
    let (mut d, mut mem) = setup();
    let f = call(&mut d, &mut mem, regs(0x0000, 0, 0, 0x80));
    assert!(!f.carry());
    assert_eq!(d.dev.resets, 1);
}

#[test]
fn random_frames_never_panic() {
    let (mut d, mut mem) = setup();
    let mut x = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20000 {
        let r = next();
        let f = Frame {
            eax: r as u32,
            ebx: (r >> 32) as u32,
            ecx: next() as u32,
            edx: 0x80 | (next() as u32 & 0xff00),
            ds: 0x50 + (next() as u16 & 0x3fff),
            es: next() as u16 & 0x7fff,
            esi: next() as u32 & 0xffff,
            ..Frame::default()
        };
        // Random DAP contents under DS:SI, kept inside our 2 MiB.
        let at = linear(f.ds, f.si());
        let junk = next().to_le_bytes();
        mem.write(at, &junk);
        mem.write(at + 16, &(next() & 0xf_ffff).to_le_bytes());
        let mut f2 = f;
        d.handle(&mut f2, &mut mem);
    }
}
