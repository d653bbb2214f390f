//! The INT 13h register ABI for one hard-disk drive, served from a
//! [`BlockDevice`]. Calls for other drives are chained to the previous
//! handler. Semantics follow SeaBIOS's `disk.c` (the reference BIOS these
//! loaders were tested against) except where docs/int13.md says otherwise.

use crate::blockdev::{BlockDevice, IoError};
use crate::edd;
use crate::geometry::Chs;
use crate::mem::{linear, PhysMem};

/// Registers as the real-mode entry stub saved them (see `entry16.s`).
/// Rust edits them in place; the stub reloads them on return.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub gs: u16,
    pub fs: u16,
    pub es: u16,
    pub ds: u16,
    pub edi: u32,
    pub esi: u32,
    pub ebp: u32,
    pub esp: u32,
    pub ebx: u32,
    pub edx: u32,
    pub ecx: u32,
    pub eax: u32,
    /// The caller's FLAGS (read-only; CF is reported through `action`).
    pub flags: u32,
    /// What the stub does next: [`ACTION_CARRY`], [`ACTION_CHAIN`].
    pub action: u32,
}

/// Return with CF set.
pub const ACTION_CARRY: u32 = 1;
/// Not ours: pass the call, registers untouched, to the previous handler.
pub const ACTION_CHAIN: u32 = 2;

macro_rules! reg8 {
    ($get:ident, $set:ident, $reg:ident, $shift:expr) => {
        #[doc = concat!("The ", stringify!($get), " register.")]
        pub fn $get(&self) -> u8 {
            (self.$reg >> $shift) as u8
        }
        #[doc = concat!("Sets ", stringify!($get), ".")]
        pub fn $set(&mut self, v: u8) {
            self.$reg = (self.$reg & !(0xff << $shift)) | ((v as u32) << $shift);
        }
    };
}

macro_rules! reg16 {
    ($get:ident, $set:ident, $reg:ident) => {
        #[doc = concat!("The ", stringify!($get), " register.")]
        pub fn $get(&self) -> u16 {
            self.$reg as u16
        }
        #[doc = concat!("Sets ", stringify!($get), ".")]
        pub fn $set(&mut self, v: u16) {
            self.$reg = (self.$reg & 0xffff_0000) | v as u32;
        }
    };
}

impl Frame {
    reg8!(al, set_al, eax, 0);
    reg8!(ah, set_ah, eax, 8);
    reg8!(cl, set_cl, ecx, 0);
    reg8!(ch, set_ch, ecx, 8);
    reg8!(dl, set_dl, edx, 0);
    reg8!(dh, set_dh, edx, 8);
    reg16!(bx, set_bx, ebx);
    reg16!(cx, set_cx, ecx);
    reg16!(dx, set_dx, edx);
    reg16!(si, set_si, esi);

    /// CF as the caller will see it.
    pub fn carry(&self) -> bool {
        self.action & ACTION_CARRY != 0
    }
}

/// INT 13h status codes we return.
pub mod status {
    pub const SUCCESS: u8 = 0x00;
    pub const INVALID: u8 = 0x01;
    pub const WRITE_PROTECTED: u8 = 0x03;
    pub const NOT_FOUND: u8 = 0x04;
    pub const BAD_TRACK: u8 = 0x0c;
    pub const TIMEOUT: u8 = 0x80;
    pub const NOT_REMOVABLE: u8 = 0xb2;
    pub const NOT_READY: u8 = 0xaa;
}

/// BDA 40:74: status of the last hard-disk operation.
const BDA_HDD_STATUS: u32 = 0x474;
/// BDA 40:75: number of hard disks.
const BDA_HDD_COUNT: u32 = 0x475;

/// AH=41h CX: extended access (42-44,47,48), EDD (48 with the 3.0
/// fields), 64-bit flat buffer addresses in the DAP. No removable-media
/// functions (45, 46, 49) are claimed.
pub const EDD_FEATURES: u16 = 0x0001 | 0x0004 | 0x0008;

/// The disk we serve and how we present it.
pub struct Drive<D> {
    /// BIOS drive number (0x80..).
    pub number: u8,
    /// Geometry for CHS calls.
    pub chs: Chs,
    /// The device.
    pub dev: D,
}

enum Op {
    Read,
    Write,
    Verify,
    Seek,
}

fn io_status(e: IoError, op: &Op) -> u8 {
    match e {
        IoError::Timeout => status::TIMEOUT,
        IoError::NotReady => status::NOT_READY,
        IoError::WriteProtected => status::WRITE_PROTECTED,
        IoError::Media => match op {
            Op::Read => status::NOT_FOUND,
            _ => status::BAD_TRACK,
        },
    }
}

impl<D: BlockDevice> Drive<D> {
    /// Handles one INT 13h call. Calls for other drives get [`ACTION_CHAIN`].
    pub fn handle<M: PhysMem>(&mut self, f: &mut Frame, mem: &mut M) {
        f.action = 0;
        if f.dl() != self.number {
            f.action = ACTION_CHAIN;
            return;
        }
        let ah = f.ah();
        if ah == 0x01 {
            // Last status: reported, not changed.
            let last = mem.read8(BDA_HDD_STATUS);
            f.set_ah(last);
            if last != 0 {
                f.action = ACTION_CARRY;
            }
            return;
        }
        let st = match ah {
            0x00 => self.reset(),
            0x02 => self.chs_access(f, mem, Op::Read),
            0x03 => self.chs_access(f, mem, Op::Write),
            0x04 => self.chs_access(f, mem, Op::Verify),
            0x08 => self.parameters(f, mem),
            // Initialise parameters, seek, alternate reset, recalibrate,
            // diagnostics: nothing to do for a network disk.
            0x09 | 0x0c | 0x0d | 0x11 | 0x14 => status::SUCCESS,
            0x10 => status::SUCCESS, // ready: we only answer when connected
            0x15 => self.disk_type(f),
            0x41 => self.edd_check(f),
            0x42 => self.ext_access(f, mem, Op::Read),
            0x43 => self.ext_access(f, mem, Op::Write),
            0x44 => self.ext_access(f, mem, Op::Verify),
            0x45 | 0x49 => status::SUCCESS, // lock / media change: fixed disk
            0x46 => status::NOT_REMOVABLE,
            0x47 => self.ext_access(f, mem, Op::Seek),
            0x48 => self.ext_parameters(f, mem),
            0x4e => match f.al() {
                0x01 | 0x03 | 0x04 | 0x06 => status::SUCCESS,
                _ => status::INVALID,
            },
            // 05 format, 16 media change (floppy), 4B CD emulation, and
            // anything unknown.
            _ => status::INVALID,
        };
        mem.write8(BDA_HDD_STATUS, st);
        match (ah, st) {
            (0x15, status::SUCCESS) => f.set_ah(0x03), // fixed disk present
            (0x41, status::SUCCESS) => f.set_ah(0x30), // EDD 3.0
            _ => f.set_ah(st),
        }
        if st != status::SUCCESS {
            f.action |= ACTION_CARRY;
        }
    }

    fn reset(&mut self) -> u8 {
        match self.dev.reset() {
            Ok(()) => status::SUCCESS,
            Err(e) => io_status(e, &Op::Seek),
        }
    }

    /// AH=02/03/04: count in AL, cylinder in CH + CL[7:6], sector CL[5:0],
    /// head DH, buffer ES:BX. AL returns the sectors transferred.
    fn chs_access<M: PhysMem>(&mut self, f: &mut Frame, mem: &mut M, op: Op) -> u8 {
        let count = f.al() as u32;
        let cylinder = f.ch() as u32 | ((f.cl() as u32 & 0xc0) << 2);
        let sector = (f.cl() & 0x3f) as u32;
        let head = f.dh() as u32;
        if count == 0 || count > 128 || sector == 0 || self.dev.sector_size() != 512 {
            return status::INVALID;
        }
        let g = self.chs;
        if cylinder >= g.cylinders || head >= g.heads || sector > g.sectors {
            return status::INVALID;
        }
        let lba = ((cylinder * g.heads + head) * g.sectors + sector - 1) as u64;
        let buf = linear(f.es, f.bx());
        let st = self.transfer(mem, &op, lba, count, buf);
        f.set_al(if st == status::SUCCESS {
            count as u8
        } else {
            0
        });
        st
    }

    /// AH=08: maximum cylinder/head/sector and the number of hard disks.
    fn parameters<M: PhysMem>(&mut self, f: &mut Frame, mem: &mut M) -> u8 {
        if self.dev.sector_size() != 512 {
            return status::INVALID;
        }
        let g = self.chs;
        // Like SeaBIOS, the last cylinder is kept back ("diagnostic cylinder").
        let max_cyl = g.cylinders.saturating_sub(2);
        f.set_al(0);
        f.set_ch(max_cyl as u8);
        f.set_cl((((max_cyl >> 2) & 0xc0) as u8) | (g.sectors as u8 & 0x3f));
        f.set_dh((g.heads - 1) as u8);
        f.set_dl(mem.read8(BDA_HDD_COUNT));
        status::SUCCESS
    }

    /// AH=15: AH=03 (fixed disk) and CX:DX = sectors reachable through CHS
    /// (the diagnostic cylinder excluded, as AH=08 reports).
    fn disk_type(&mut self, f: &mut Frame) -> u8 {
        let g = self.chs;
        let n = g.cylinders.saturating_sub(1) * g.heads * g.sectors;
        f.set_cx((n >> 16) as u16);
        f.set_dx(n as u16);
        status::SUCCESS
    }

    /// AH=41: BX=55AA in, AA55 out; AH=30h (EDD 3.0); CX = features.
    fn edd_check(&mut self, f: &mut Frame) -> u8 {
        if f.bx() != 0x55aa {
            return status::INVALID;
        }
        f.set_bx(0xaa55);
        f.set_cx(EDD_FEATURES);
        status::SUCCESS
    }

    /// AH=42/43/44/47 with the disk address packet at DS:SI.
    ///
    /// DAP: size(1) rsvd(1) count(1) rsvd(1) buffer seg:off(4) LBA(8)
    /// [64-bit flat buffer(8)] [long count(4) rsvd(4)]. The flat buffer is
    /// used when the segment:offset is FFFF:FFFF or the count is FFh; a
    /// count of FFh means "use the long count".
    fn ext_access<M: PhysMem>(&mut self, f: &mut Frame, mem: &mut M, op: Op) -> u8 {
        let dap = linear(f.ds, f.si());
        let size = mem.read8(dap) as u32;
        if size < 16 {
            return status::INVALID;
        }
        let mut count = mem.read8(dap + 2) as u32;
        let seg_off = mem.read32(dap + 4);
        let lba = mem.read64(dap + 8);
        let mut buf = linear((seg_off >> 16) as u16, seg_off as u16);
        if count == 0xff || seg_off == 0xffff_ffff {
            if size < 24 {
                return status::INVALID;
            }
            let flat = mem.read64(dap + 16);
            if flat > u32::MAX as u64 {
                return status::INVALID; // we run without PAE: 4 GiB is the limit
            }
            buf = flat as u32;
            if count == 0xff {
                if size < 28 {
                    return status::INVALID;
                }
                count = mem.read32(dap + 24);
            }
        } else if count > 0x7f {
            return status::INVALID; // EDD caps a transfer at 127 sectors
        }
        if lba >= self.dev.sectors() {
            return status::INVALID;
        }
        if count == 0 {
            return status::SUCCESS;
        }
        let st = self.transfer(mem, &op, lba, count, buf);
        if st != status::SUCCESS {
            // Nothing was transferred: report so in the DAP.
            Self::set_dap_count(mem, dap, 0);
        }
        st
    }

    fn set_dap_count<M: PhysMem>(mem: &mut M, dap: u32, n: u32) {
        if mem.read8(dap + 2) == 0xff {
            mem.write(dap + 24, &n.to_le_bytes());
        } else {
            mem.write8(dap + 2, n as u8);
        }
    }

    /// AH=48: result buffer at DS:SI, its size word says how much we fill.
    fn ext_parameters<M: PhysMem>(&mut self, f: &mut Frame, mem: &mut M) -> u8 {
        let at = linear(f.ds, f.si());
        let size = mem.read16(at);
        let mut out = [0u8; 74];
        let sectors = self.dev.sectors();
        match edd::fill(
            size,
            &self.chs,
            sectors,
            self.dev.sector_size(),
            &self.dev.identity(),
            &mut out,
        ) {
            Some(len) => {
                mem.write(at, &out[..len]);
                status::SUCCESS
            }
            None => status::INVALID,
        }
    }

    /// Moves `count` sectors at `lba` after checking the range.
    fn transfer<M: PhysMem>(&mut self, mem: &mut M, op: &Op, lba: u64, count: u32, buf: u32) -> u8 {
        let end = lba.checked_add(count as u64);
        if end.is_none_or(|e| e > self.dev.sectors()) {
            return status::BAD_TRACK;
        }
        let r = match op {
            Op::Read => self.dev.read(mem, lba, count, buf),
            Op::Write if self.dev.read_only() => Err(IoError::WriteProtected),
            Op::Write => self.dev.write(mem, lba, count, buf),
            Op::Verify | Op::Seek => Ok(()),
        };
        match r {
            Ok(()) => status::SUCCESS,
            Err(e) => io_status(e, op),
        }
    }
}

#[cfg(test)]
mod tests;
