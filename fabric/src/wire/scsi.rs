//! SCSI as an SRP boot path needs it: the CDBs a boot initiator sends and a
//! small target answers, the data those commands return, sense data, and LUNs
//! (SPC/SBC; fabric-wire.md §4.10).
//!
//! - [`Lun`]: the 8-byte SAM LUN carried in SRP_CMD, with single-level
//!   peripheral and flat addressing helpers.
//! - [`Cdb`]: TEST UNIT READY, REQUEST SENSE, INQUIRY, MODE SENSE(6/10), READ
//!   CAPACITY(10/16), READ/WRITE(10/16), SYNCHRONIZE CACHE(10/16) and REPORT
//!   LUNS. [`Cdb::parse`] is for a target and tells an unsupported opcode apart
//!   from a bad field ([`CdbError::sense`] gives the sense to return);
//!   [`Cdb::emit`] and the [`Cdb::read`]/[`Cdb::write`] constructors are for an
//!   initiator.
//! - Returned data: [`InquiryData`] (standard), [`VpdPage`] with
//!   [`Designator`]s (pages 0x00/0x80/0x83), [`ReadCapacity10`],
//!   [`ReadCapacity16`], [`ReportLuns`], [`ModeHeader`].
//! - [`Sense`]: fixed (0x70/0x71) and descriptor (0x72/0x73) sense decoded to
//!   key/ASC/ASCQ, printed as text, and emitted by a target.
//!
//! CDB and parameter data fields are big-endian. Data returned to an
//! initiator is routinely cut short by the allocation length, so the data
//! parsers read what is there and say how much was declared; they never index
//! past the buffer.

use core::fmt;

use super::bytes::{
    enum_with_unknown, read_array, read_u16, read_u32, read_u64, write_u16, write_u32, write_u64,
};
use super::{Error, Result};

// ---------------------------------------------------------------------------
// LUN
// ---------------------------------------------------------------------------

/// An 8-byte SAM logical unit number, as carried in SRP_CMD and REPORT LUNS.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lun(pub [u8; 8]);

impl Lun {
    /// LUN 0 (all zero), the one LIO always has when any LUN is mapped.
    pub const ZERO: Lun = Lun([0; 8]);

    /// Single-level LUN for `n`: peripheral device addressing (`00 nn`) for
    /// n < 256, as in the golden capture, else flat space addressing
    /// (`01xxxxxx nn`) for n < 16384. `None` above that.
    ///
    /// Note: Linux (and so LIO) turns LUN bytes into a number by plain
    /// byte-pair packing (`scsilun_to_int`), which reads the flat form of 256
    /// as 0x4100. Use [`Lun::from_linux_int`] to address LIO LUNs ≥ 256.
    pub const fn from_index(n: u16) -> Option<Lun> {
        if n < 0x100 {
            Some(Lun([0, n as u8, 0, 0, 0, 0, 0, 0]))
        } else if n < 0x4000 {
            Some(Lun([0x40 | (n >> 8) as u8, n as u8, 0, 0, 0, 0, 0, 0]))
        } else {
            None
        }
    }

    /// The number of a single-level LUN in peripheral (bus 0) or flat
    /// addressing; `None` for any other form.
    pub fn index(&self) -> Option<u16> {
        if self.0[2..].iter().any(|&b| b != 0) {
            return None;
        }
        match self.0[0] >> 6 {
            0b00 if self.0[0] == 0 => Some(u16::from(self.0[1])),
            0b01 => Some(u16::from(self.0[0] & 0x3F) << 8 | u16::from(self.0[1])),
            _ => None,
        }
    }

    /// Linux `int_to_scsilun`: the number's 16-bit groups, low group first,
    /// each stored big-endian.
    pub const fn from_linux_int(n: u64) -> Lun {
        let mut b = [0u8; 8];
        let mut i = 0;
        while i < 4 {
            let g = (n >> (16 * i)) as u16;
            b[2 * i] = (g >> 8) as u8;
            b[2 * i + 1] = g as u8;
            i += 1;
        }
        Lun(b)
    }

    /// Linux `scsilun_to_int`, the inverse of [`Lun::from_linux_int`].
    pub fn to_linux_int(&self) -> u64 {
        (0..4).fold(0u64, |acc, i| {
            acc | u64::from(u16::from_be_bytes([self.0[2 * i], self.0[2 * i + 1]])) << (16 * i)
        })
    }
}

impl fmt::Debug for Lun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lun({self})")
    }
}

impl fmt::Display for Lun {
    /// The decimal number for single-level LUNs, else the 16 hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index() {
            Some(n) => write!(f, "{n}"),
            None => self.0.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

// ---------------------------------------------------------------------------
// Status, opcodes, directions
// ---------------------------------------------------------------------------

enum_with_unknown! {
    /// SCSI status byte (SAM), as in SRP_RSP.
    pub enum Status(u8) {
        /// GOOD.
        Good = 0x00,
        /// CHECK CONDITION: sense data follows.
        CheckCondition = 0x02,
        /// CONDITION MET.
        ConditionMet = 0x04,
        /// BUSY: retry later.
        Busy = 0x08,
        /// RESERVATION CONFLICT.
        ReservationConflict = 0x18,
        /// TASK SET FULL: retry later.
        TaskSetFull = 0x28,
        /// ACA ACTIVE.
        AcaActive = 0x30,
        /// TASK ABORTED.
        TaskAborted = 0x40,
    }
}

enum_with_unknown! {
    /// Operation codes this module knows by name (others stay `Unknown`).
    pub enum Opcode(u8) {
        /// TEST UNIT READY (6).
        TestUnitReady = 0x00,
        /// REQUEST SENSE (6).
        RequestSense = 0x03,
        /// INQUIRY (6).
        Inquiry = 0x12,
        /// MODE SENSE(6).
        ModeSense6 = 0x1A,
        /// READ CAPACITY(10).
        ReadCapacity10 = 0x25,
        /// READ(10).
        Read10 = 0x28,
        /// WRITE(10).
        Write10 = 0x2A,
        /// SYNCHRONIZE CACHE(10).
        SynchronizeCache10 = 0x35,
        /// MODE SENSE(10).
        ModeSense10 = 0x5A,
        /// READ(16).
        Read16 = 0x88,
        /// WRITE(16).
        Write16 = 0x8A,
        /// SYNCHRONIZE CACHE(16).
        SynchronizeCache16 = 0x91,
        /// SERVICE ACTION IN(16); service action 0x10 is READ CAPACITY(16).
        ServiceActionIn16 = 0x9E,
        /// REPORT LUNS (12).
        ReportLuns = 0xA0,
        /// MAINTENANCE IN (12); Linux sends REPORT SUPPORTED OPCODES with it.
        MaintenanceIn = 0xA3,
    }
}

/// SERVICE ACTION IN(16) service action for READ CAPACITY(16).
pub const SA_READ_CAPACITY_16: u8 = 0x10;

/// Which way the data of a command flows, seen from the initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDirection {
    /// No data phase.
    None,
    /// Target → initiator (data-in, RDMA WRITE in SRP).
    In,
    /// Initiator → target (data-out, RDMA READ or immediate data in SRP).
    Out,
}

// ---------------------------------------------------------------------------
// CDBs
// ---------------------------------------------------------------------------

/// A parsed or to-be-built CDB.
///
/// Fields the boot path has no use for (group numbers, DPO, obsolete LBA
/// fields of READ CAPACITY, the control byte) are written as zero and ignored
/// on parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cdb {
    /// TEST UNIT READY.
    TestUnitReady,
    /// REQUEST SENSE: `desc` asks for descriptor-format sense.
    RequestSense {
        /// DESC bit.
        desc: bool,
        /// Allocation length.
        alloc_len: u8,
    },
    /// INQUIRY: standard data when `evpd` is false (then `page_code` is 0),
    /// else the VPD page `page_code`.
    Inquiry {
        /// EVPD bit.
        evpd: bool,
        /// VPD page code.
        page_code: u8,
        /// Allocation length.
        alloc_len: u16,
    },
    /// MODE SENSE(6).
    ModeSense6 {
        /// DBD: no block descriptors.
        dbd: bool,
        /// Page control (0 current, 1 changeable, 2 default, 3 saved).
        page_control: u8,
        /// Page code (0x3F all pages).
        page_code: u8,
        /// Subpage code.
        subpage: u8,
        /// Allocation length.
        alloc_len: u8,
    },
    /// MODE SENSE(10).
    ModeSense10 {
        /// LLBAA: long LBA block descriptors accepted.
        llbaa: bool,
        /// DBD: no block descriptors.
        dbd: bool,
        /// Page control.
        page_control: u8,
        /// Page code.
        page_code: u8,
        /// Subpage code.
        subpage: u8,
        /// Allocation length.
        alloc_len: u16,
    },
    /// READ CAPACITY(10): 8 bytes of [`ReadCapacity10`] data.
    ReadCapacity10,
    /// READ CAPACITY(16) (SERVICE ACTION IN(16) / 0x10): [`ReadCapacity16`].
    ReadCapacity16 {
        /// Allocation length (32 for the full data).
        alloc_len: u32,
    },
    /// READ(10).
    Read10 {
        /// First block.
        lba: u32,
        /// Number of blocks (0 transfers nothing).
        blocks: u16,
        /// Force unit access.
        fua: bool,
    },
    /// WRITE(10).
    Write10 {
        /// First block.
        lba: u32,
        /// Number of blocks.
        blocks: u16,
        /// Force unit access.
        fua: bool,
    },
    /// READ(16).
    Read16 {
        /// First block.
        lba: u64,
        /// Number of blocks.
        blocks: u32,
        /// Force unit access.
        fua: bool,
    },
    /// WRITE(16).
    Write16 {
        /// First block.
        lba: u64,
        /// Number of blocks.
        blocks: u32,
        /// Force unit access.
        fua: bool,
    },
    /// SYNCHRONIZE CACHE(10). `blocks` 0 means "to the end of the medium".
    SynchronizeCache10 {
        /// First block.
        lba: u32,
        /// Number of blocks.
        blocks: u16,
        /// Return before the flush completes.
        immed: bool,
    },
    /// SYNCHRONIZE CACHE(16).
    SynchronizeCache16 {
        /// First block.
        lba: u64,
        /// Number of blocks.
        blocks: u32,
        /// Return before the flush completes.
        immed: bool,
    },
    /// REPORT LUNS: a [`ReportLuns`] list.
    ReportLuns {
        /// SELECT REPORT (0: all addressable LUNs).
        select_report: u8,
        /// Allocation length (≥ 16).
        alloc_len: u32,
    },
}

/// Why a target cannot execute a CDB; [`CdbError::sense`] is what to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdbError {
    /// Fewer bytes than the opcode's CDB length (or none at all).
    Truncated,
    /// An opcode (or service action) this module does not implement.
    UnsupportedOpcode(u8),
    /// A field the target cannot honour; `byte` is its offset in the CDB.
    InvalidField {
        /// Offset of the offending byte.
        byte: u8,
    },
}

impl CdbError {
    /// The sense data a target returns with CHECK CONDITION for this error.
    pub const fn sense(&self) -> Sense {
        match self {
            CdbError::UnsupportedOpcode(_) => Sense::INVALID_OPCODE,
            CdbError::Truncated | CdbError::InvalidField { .. } => Sense::INVALID_FIELD_IN_CDB,
        }
    }
}

impl fmt::Display for CdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CdbError::Truncated => f.write_str("CDB too short"),
            CdbError::UnsupportedOpcode(op) => write!(f, "unsupported opcode 0x{op:02x}"),
            CdbError::InvalidField { byte } => write!(f, "invalid field in CDB byte {byte}"),
        }
    }
}

/// Named byte offsets inside the CDBs (each CDB names its own).
mod cdb_field {
    use core::ops::Range;

    pub const OPCODE: usize = 0;
    pub const FLAGS: usize = 1;

    // 6-byte CDBs.
    pub const C6_PAGE: usize = 2;
    pub const C6_SUBPAGE: usize = 3;
    pub const C6_ALLOC8: usize = 4;
    pub const C6_ALLOC16: Range<usize> = 3..5;

    // 10-byte CDBs.
    pub const C10_LBA: Range<usize> = 2..6;
    pub const C10_LEN: Range<usize> = 7..9;

    // 12-byte REPORT LUNS.
    pub const C12_SELECT: usize = 2;
    pub const C12_ALLOC: Range<usize> = 6..10;

    // 16-byte CDBs.
    pub const C16_LBA: Range<usize> = 2..10;
    pub const C16_LEN: Range<usize> = 10..14;
}

/// READ/WRITE byte 1: RDPROTECT/WRPROTECT (7:5) and FUA (3).
const RW_PROTECT_MASK: u8 = 0xE0;
const RW_FUA: u8 = 0x08;
/// SYNCHRONIZE CACHE byte 1: IMMED.
const SYNC_IMMED: u8 = 0x02;
/// INQUIRY byte 1: EVPD (0) and the obsolete CMDDT (1).
const INQ_EVPD: u8 = 0x01;
const INQ_CMDDT: u8 = 0x02;
/// MODE SENSE byte 1: DBD (3) and LLBAA (4, 10-byte form only).
const MS_DBD: u8 = 0x08;
const MS_LLBAA: u8 = 0x10;
/// REQUEST SENSE byte 1: DESC.
const RS_DESC: u8 = 0x01;

impl Cdb {
    /// Parses a CDB for a target. `cdb` may be longer than the command (SRP
    /// carries CDBs zero-padded to 16 bytes).
    ///
    /// # Errors
    /// [`CdbError::Truncated`] when `cdb` is shorter than the opcode's CDB,
    /// [`CdbError::UnsupportedOpcode`] for anything not listed in [`Cdb`],
    /// [`CdbError::InvalidField`] for: INQUIRY with CMDDT set or with a page
    /// code but no EVPD, READ/WRITE with RDPROTECT/WRPROTECT set (no
    /// protection information here), REPORT LUNS with an allocation length
    /// below 16.
    pub fn parse(cdb: &[u8]) -> core::result::Result<Cdb, CdbError> {
        use cdb_field::*;
        let op = *cdb.first().ok_or(CdbError::Truncated)?;
        let need = match cdb_len(op) {
            Some(n) => n,
            None => return Err(CdbError::UnsupportedOpcode(op)),
        };
        if cdb.len() < need {
            return Err(CdbError::Truncated);
        }
        let flags = cdb[FLAGS];
        let invalid = |byte: usize| Err(CdbError::InvalidField { byte: byte as u8 });
        let rw_flags = || -> core::result::Result<bool, CdbError> {
            if flags & RW_PROTECT_MASK != 0 {
                Err(CdbError::InvalidField { byte: FLAGS as u8 })
            } else {
                Ok(flags & RW_FUA != 0)
            }
        };
        Ok(match Opcode::from(op) {
            Opcode::TestUnitReady => Cdb::TestUnitReady,
            Opcode::RequestSense => Cdb::RequestSense {
                desc: flags & RS_DESC != 0,
                alloc_len: cdb[C6_ALLOC8],
            },
            Opcode::Inquiry => {
                let evpd = flags & INQ_EVPD != 0;
                let page_code = cdb[C6_PAGE];
                if flags & INQ_CMDDT != 0 {
                    return invalid(FLAGS);
                }
                if !evpd && page_code != 0 {
                    return invalid(C6_PAGE);
                }
                Cdb::Inquiry {
                    evpd,
                    page_code,
                    alloc_len: read_u16(&cdb[C6_ALLOC16]),
                }
            }
            Opcode::ModeSense6 => Cdb::ModeSense6 {
                dbd: flags & MS_DBD != 0,
                page_control: cdb[C6_PAGE] >> 6,
                page_code: cdb[C6_PAGE] & 0x3F,
                subpage: cdb[C6_SUBPAGE],
                alloc_len: cdb[C6_ALLOC8],
            },
            Opcode::ModeSense10 => Cdb::ModeSense10 {
                llbaa: flags & MS_LLBAA != 0,
                dbd: flags & MS_DBD != 0,
                page_control: cdb[C6_PAGE] >> 6,
                page_code: cdb[C6_PAGE] & 0x3F,
                subpage: cdb[C6_SUBPAGE],
                alloc_len: read_u16(&cdb[C10_LEN]),
            },
            Opcode::ReadCapacity10 => Cdb::ReadCapacity10,
            Opcode::ServiceActionIn16 => {
                if flags & 0x1F != SA_READ_CAPACITY_16 {
                    return invalid(FLAGS);
                }
                Cdb::ReadCapacity16 {
                    alloc_len: read_u32(&cdb[C16_LEN]),
                }
            }
            Opcode::Read10 => Cdb::Read10 {
                lba: read_u32(&cdb[C10_LBA]),
                blocks: read_u16(&cdb[C10_LEN]),
                fua: rw_flags()?,
            },
            Opcode::Write10 => Cdb::Write10 {
                lba: read_u32(&cdb[C10_LBA]),
                blocks: read_u16(&cdb[C10_LEN]),
                fua: rw_flags()?,
            },
            Opcode::Read16 => Cdb::Read16 {
                lba: read_u64(&cdb[C16_LBA]),
                blocks: read_u32(&cdb[C16_LEN]),
                fua: rw_flags()?,
            },
            Opcode::Write16 => Cdb::Write16 {
                lba: read_u64(&cdb[C16_LBA]),
                blocks: read_u32(&cdb[C16_LEN]),
                fua: rw_flags()?,
            },
            Opcode::SynchronizeCache10 => Cdb::SynchronizeCache10 {
                lba: read_u32(&cdb[C10_LBA]),
                blocks: read_u16(&cdb[C10_LEN]),
                immed: flags & SYNC_IMMED != 0,
            },
            Opcode::SynchronizeCache16 => Cdb::SynchronizeCache16 {
                lba: read_u64(&cdb[C16_LBA]),
                blocks: read_u32(&cdb[C16_LEN]),
                immed: flags & SYNC_IMMED != 0,
            },
            Opcode::ReportLuns => {
                let alloc_len = read_u32(&cdb[C12_ALLOC]);
                if alloc_len < 16 {
                    return invalid(C12_ALLOC.start);
                }
                Cdb::ReportLuns {
                    select_report: cdb[C12_SELECT],
                    alloc_len,
                }
            }
            Opcode::MaintenanceIn | Opcode::Unknown(_) => {
                return Err(CdbError::UnsupportedOpcode(op))
            }
        })
    }

    /// A READ of `blocks` blocks at `lba`: READ(10) when both fit its fields,
    /// else READ(16).
    pub fn read(lba: u64, blocks: u32) -> Cdb {
        match (u32::try_from(lba), u16::try_from(blocks)) {
            (Ok(lba), Ok(blocks)) => Cdb::Read10 {
                lba,
                blocks,
                fua: false,
            },
            _ => Cdb::Read16 {
                lba,
                blocks,
                fua: false,
            },
        }
    }

    /// A WRITE of `blocks` blocks at `lba`: WRITE(10) when both fit, else
    /// WRITE(16).
    pub fn write(lba: u64, blocks: u32) -> Cdb {
        match (u32::try_from(lba), u16::try_from(blocks)) {
            (Ok(lba), Ok(blocks)) => Cdb::Write10 {
                lba,
                blocks,
                fua: false,
            },
            _ => Cdb::Write16 {
                lba,
                blocks,
                fua: false,
            },
        }
    }

    /// Standard INQUIRY asking for `alloc_len` bytes.
    pub const fn inquiry(alloc_len: u16) -> Cdb {
        Cdb::Inquiry {
            evpd: false,
            page_code: 0,
            alloc_len,
        }
    }

    /// INQUIRY for VPD page `page_code`.
    pub const fn inquiry_vpd(page_code: u8, alloc_len: u16) -> Cdb {
        Cdb::Inquiry {
            evpd: true,
            page_code,
            alloc_len,
        }
    }

    /// The operation code.
    pub fn opcode(&self) -> Opcode {
        match self {
            Cdb::TestUnitReady => Opcode::TestUnitReady,
            Cdb::RequestSense { .. } => Opcode::RequestSense,
            Cdb::Inquiry { .. } => Opcode::Inquiry,
            Cdb::ModeSense6 { .. } => Opcode::ModeSense6,
            Cdb::ModeSense10 { .. } => Opcode::ModeSense10,
            Cdb::ReadCapacity10 => Opcode::ReadCapacity10,
            Cdb::ReadCapacity16 { .. } => Opcode::ServiceActionIn16,
            Cdb::Read10 { .. } => Opcode::Read10,
            Cdb::Write10 { .. } => Opcode::Write10,
            Cdb::Read16 { .. } => Opcode::Read16,
            Cdb::Write16 { .. } => Opcode::Write16,
            Cdb::SynchronizeCache10 { .. } => Opcode::SynchronizeCache10,
            Cdb::SynchronizeCache16 { .. } => Opcode::SynchronizeCache16,
            Cdb::ReportLuns { .. } => Opcode::ReportLuns,
        }
    }

    /// The CDB length in bytes (6, 10, 12 or 16).
    pub fn buffer_len(&self) -> usize {
        // Every opcode a `Cdb` can hold has a length.
        cdb_len(self.opcode().into()).unwrap_or(16)
    }

    /// Direction of the data phase.
    pub fn data_direction(&self) -> DataDirection {
        match self {
            Cdb::TestUnitReady
            | Cdb::SynchronizeCache10 { .. }
            | Cdb::SynchronizeCache16 { .. } => DataDirection::None,
            Cdb::Write10 { .. } | Cdb::Write16 { .. } => DataDirection::Out,
            _ => DataDirection::In,
        }
    }

    /// The allocation length of a command that returns parameter data.
    pub fn alloc_len(&self) -> Option<u32> {
        Some(match *self {
            Cdb::RequestSense { alloc_len, .. } => alloc_len.into(),
            Cdb::Inquiry { alloc_len, .. } => alloc_len.into(),
            Cdb::ModeSense6 { alloc_len, .. } => alloc_len.into(),
            Cdb::ModeSense10 { alloc_len, .. } => alloc_len.into(),
            Cdb::ReadCapacity10 => ReadCapacity10::LEN as u32,
            Cdb::ReadCapacity16 { alloc_len } => alloc_len,
            Cdb::ReportLuns { alloc_len, .. } => alloc_len,
            _ => return None,
        })
    }

    /// `(lba, blocks)` of a READ, WRITE or SYNCHRONIZE CACHE.
    pub fn block_range(&self) -> Option<(u64, u32)> {
        Some(match *self {
            Cdb::Read10 { lba, blocks, .. }
            | Cdb::Write10 { lba, blocks, .. }
            | Cdb::SynchronizeCache10 { lba, blocks, .. } => (lba.into(), blocks.into()),
            Cdb::Read16 { lba, blocks, .. }
            | Cdb::Write16 { lba, blocks, .. }
            | Cdb::SynchronizeCache16 { lba, blocks, .. } => (lba, blocks),
            _ => return None,
        })
    }

    /// Writes the CDB into the first [`Cdb::buffer_len`] bytes of `buf`,
    /// every byte of it (reserved and control bytes become zero).
    ///
    /// # Panics
    /// If `buf` is shorter than [`Cdb::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) {
        use cdb_field::*;
        let b = &mut buf[..self.buffer_len()];
        b.fill(0);
        b[OPCODE] = self.opcode().into();
        let fua = |f: bool| if f { RW_FUA } else { 0 };
        match *self {
            Cdb::TestUnitReady | Cdb::ReadCapacity10 => {}
            Cdb::RequestSense { desc, alloc_len } => {
                b[FLAGS] = if desc { RS_DESC } else { 0 };
                b[C6_ALLOC8] = alloc_len;
            }
            Cdb::Inquiry {
                evpd,
                page_code,
                alloc_len,
            } => {
                b[FLAGS] = if evpd { INQ_EVPD } else { 0 };
                b[C6_PAGE] = page_code;
                write_u16(&mut b[C6_ALLOC16], alloc_len);
            }
            Cdb::ModeSense6 {
                dbd,
                page_control,
                page_code,
                subpage,
                alloc_len,
            } => {
                b[FLAGS] = if dbd { MS_DBD } else { 0 };
                b[C6_PAGE] = (page_control << 6) | (page_code & 0x3F);
                b[C6_SUBPAGE] = subpage;
                b[C6_ALLOC8] = alloc_len;
            }
            Cdb::ModeSense10 {
                llbaa,
                dbd,
                page_control,
                page_code,
                subpage,
                alloc_len,
            } => {
                b[FLAGS] = if dbd { MS_DBD } else { 0 } | if llbaa { MS_LLBAA } else { 0 };
                b[C6_PAGE] = (page_control << 6) | (page_code & 0x3F);
                b[C6_SUBPAGE] = subpage;
                write_u16(&mut b[C10_LEN], alloc_len);
            }
            Cdb::ReadCapacity16 { alloc_len } => {
                b[FLAGS] = SA_READ_CAPACITY_16;
                write_u32(&mut b[C16_LEN], alloc_len);
            }
            Cdb::Read10 {
                lba,
                blocks,
                fua: f,
            }
            | Cdb::Write10 {
                lba,
                blocks,
                fua: f,
            } => {
                b[FLAGS] = fua(f);
                write_u32(&mut b[C10_LBA], lba);
                write_u16(&mut b[C10_LEN], blocks);
            }
            Cdb::Read16 {
                lba,
                blocks,
                fua: f,
            }
            | Cdb::Write16 {
                lba,
                blocks,
                fua: f,
            } => {
                b[FLAGS] = fua(f);
                write_u64(&mut b[C16_LBA], lba);
                write_u32(&mut b[C16_LEN], blocks);
            }
            Cdb::SynchronizeCache10 { lba, blocks, immed } => {
                b[FLAGS] = if immed { SYNC_IMMED } else { 0 };
                write_u32(&mut b[C10_LBA], lba);
                write_u16(&mut b[C10_LEN], blocks);
            }
            Cdb::SynchronizeCache16 { lba, blocks, immed } => {
                b[FLAGS] = if immed { SYNC_IMMED } else { 0 };
                write_u64(&mut b[C16_LBA], lba);
                write_u32(&mut b[C16_LEN], blocks);
            }
            Cdb::ReportLuns {
                select_report,
                alloc_len,
            } => {
                b[C12_SELECT] = select_report;
                write_u32(&mut b[C12_ALLOC], alloc_len);
            }
        }
    }

    /// The CDB zero-padded to 16 bytes, as the SRP_CMD CDB field holds it.
    pub fn to_padded(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.emit(&mut b);
        b
    }
}

/// CDB length of the opcodes [`Cdb::parse`] accepts.
fn cdb_len(op: u8) -> Option<usize> {
    Some(match Opcode::from(op) {
        Opcode::TestUnitReady | Opcode::RequestSense | Opcode::Inquiry | Opcode::ModeSense6 => 6,
        Opcode::ReadCapacity10
        | Opcode::Read10
        | Opcode::Write10
        | Opcode::SynchronizeCache10
        | Opcode::ModeSense10 => 10,
        Opcode::ReportLuns => 12,
        Opcode::Read16
        | Opcode::Write16
        | Opcode::SynchronizeCache16
        | Opcode::ServiceActionIn16 => 16,
        Opcode::MaintenanceIn | Opcode::Unknown(_) => return None,
    })
}

// ---------------------------------------------------------------------------
// Standard INQUIRY data
// ---------------------------------------------------------------------------

/// Standard INQUIRY data (the first 36 bytes, SPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InquiryData {
    /// Peripheral qualifier (byte 0 bits 7:5; 0 = connected, 3 = no LU).
    pub qualifier: u8,
    /// Peripheral device type (byte 0 bits 4:0; 0 = direct-access disk).
    pub device_type: u8,
    /// RMB: removable medium.
    pub removable: bool,
    /// VERSION (6 = SPC-4).
    pub version: u8,
    /// Byte 3: NORMACA (0x20), HISUP (0x10), response data format (3:0, = 2).
    pub byte3: u8,
    /// Bytes 5–7 as received: SCCS/ACC/TPGS/3PC/PROTECT, ENCSERV/MULTIP,
    /// CMDQUE (byte 7 bit 1).
    pub flags: [u8; 3],
    /// T10 vendor identification, space padded ASCII.
    pub vendor: [u8; 8],
    /// Product identification, space padded ASCII.
    pub product: [u8; 16],
    /// Product revision level, space padded ASCII.
    pub revision: [u8; 4],
}

mod inq_field {
    use core::ops::Range;
    pub const PERIPHERAL: usize = 0;
    pub const RMB: usize = 1;
    pub const VERSION: usize = 2;
    pub const FORMAT: usize = 3;
    pub const ADDITIONAL_LEN: usize = 4;
    pub const FLAGS: Range<usize> = 5..8;
    pub const VENDOR: Range<usize> = 8..16;
    pub const PRODUCT: Range<usize> = 16..32;
    pub const REVISION: Range<usize> = 32..36;
}

impl InquiryData {
    /// Length of the standard data this type covers (and emits).
    pub const LEN: usize = 36;

    /// A direct-access disk answer (SPC-4, response format 2, HISUP, CMDQUE).
    pub const fn disk(vendor: [u8; 8], product: [u8; 16], revision: [u8; 4]) -> InquiryData {
        InquiryData {
            qualifier: 0,
            device_type: 0,
            removable: false,
            version: 6,
            byte3: 0x12,
            flags: [0, 0, 0x02],
            vendor,
            product,
            revision,
        }
    }

    /// Parses standard INQUIRY data.
    ///
    /// # Errors
    /// If `data` is shorter than 36 bytes, or the response data format (byte
    /// 3 bits 3:0) is not 2.
    pub fn parse(data: &[u8]) -> Result<InquiryData> {
        use inq_field::*;
        if data.len() < Self::LEN || data[FORMAT] & 0x0F != 2 {
            return Err(Error);
        }
        Ok(InquiryData {
            qualifier: data[PERIPHERAL] >> 5,
            device_type: data[PERIPHERAL] & 0x1F,
            removable: data[RMB] & 0x80 != 0,
            version: data[VERSION],
            byte3: data[FORMAT],
            flags: read_array(&data[FLAGS]),
            vendor: read_array(&data[VENDOR]),
            product: read_array(&data[PRODUCT]),
            revision: read_array(&data[REVISION]),
        })
    }

    /// Writes 36 bytes with ADDITIONAL LENGTH = 31.
    ///
    /// # Panics
    /// If `buf` is shorter than [`InquiryData::LEN`].
    pub fn emit(&self, buf: &mut [u8]) {
        use inq_field::*;
        let b = &mut buf[..Self::LEN];
        b[PERIPHERAL] = (self.qualifier << 5) | (self.device_type & 0x1F);
        b[RMB] = if self.removable { 0x80 } else { 0 };
        b[VERSION] = self.version;
        b[FORMAT] = self.byte3;
        b[ADDITIONAL_LEN] = (Self::LEN - 5) as u8;
        b[FLAGS].copy_from_slice(&self.flags);
        b[VENDOR].copy_from_slice(&self.vendor);
        b[PRODUCT].copy_from_slice(&self.product);
        b[REVISION].copy_from_slice(&self.revision);
    }

    /// Vendor, without trailing spaces (empty if not ASCII).
    pub fn vendor_str(&self) -> &str {
        ascii_trimmed(&self.vendor)
    }

    /// Product, without trailing spaces (empty if not ASCII).
    pub fn product_str(&self) -> &str {
        ascii_trimmed(&self.product)
    }

    /// Revision, without trailing spaces (empty if not ASCII).
    pub fn revision_str(&self) -> &str {
        ascii_trimmed(&self.revision)
    }
}

fn ascii_trimmed(b: &[u8]) -> &str {
    if !b.is_ascii() {
        return "";
    }
    core::str::from_utf8(b)
        .map(|s| s.trim_end_matches([' ', '\0']))
        .unwrap_or("")
}

// ---------------------------------------------------------------------------
// VPD pages
// ---------------------------------------------------------------------------

/// VPD page codes a boot target serves.
pub mod vpd {
    /// Supported VPD pages: a list of page codes.
    pub const SUPPORTED_PAGES: u8 = 0x00;
    /// Unit serial number: ASCII.
    pub const UNIT_SERIAL: u8 = 0x80;
    /// Device identification: a list of designators.
    pub const DEVICE_ID: u8 = 0x83;
}

/// A VPD page as returned by INQUIRY with EVPD: 4-byte header, then data.
///
/// The data is cut to what the buffer holds: an initiator that asked for the
/// header only (allocation length 4, as Linux does first) gets an empty
/// `data` and the full length in `page_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpdPage<'a> {
    /// Byte 0: peripheral qualifier and device type.
    pub peripheral: u8,
    /// Page code.
    pub page_code: u8,
    /// PAGE LENGTH as declared (bytes after the header).
    pub page_len: u16,
    /// The page bytes present in the buffer, at most `page_len`.
    pub data: &'a [u8],
}

impl<'a> VpdPage<'a> {
    /// Header length.
    pub const HEADER_LEN: usize = 4;

    /// Parses a VPD page.
    ///
    /// # Errors
    /// If `buf` is shorter than the 4-byte header.
    pub fn parse(buf: &'a [u8]) -> Result<VpdPage<'a>> {
        if buf.len() < Self::HEADER_LEN {
            return Err(Error);
        }
        let page_len = read_u16(&buf[2..4]);
        let end = Self::HEADER_LEN + usize::from(page_len).min(buf.len() - Self::HEADER_LEN);
        Ok(VpdPage {
            peripheral: buf[0],
            page_code: buf[1],
            page_len,
            data: &buf[Self::HEADER_LEN..end],
        })
    }

    /// Whether the buffer held less than the declared page.
    pub fn is_truncated(&self) -> bool {
        self.data.len() < usize::from(self.page_len)
    }

    /// Bytes [`VpdPage::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        Self::HEADER_LEN + self.data.len()
    }

    /// Writes the header (page length = `data.len()`) and the data.
    ///
    /// # Panics
    /// If `buf` is shorter than [`VpdPage::buffer_len`] or `data` is longer
    /// than 65535 bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = u16::try_from(self.data.len()).expect("VPD page over 64 KiB");
        buf[0] = self.peripheral;
        buf[1] = self.page_code;
        write_u16(&mut buf[2..4], len);
        buf[Self::HEADER_LEN..self.buffer_len()].copy_from_slice(self.data);
    }

    /// The designators of a device identification page (0x83). The iterator
    /// stops at the first designator that does not fit.
    pub fn designators(&self) -> Designators<'a> {
        Designators { rest: self.data }
    }

    /// The serial number of a unit serial number page (0x80), without
    /// padding; empty if not ASCII.
    pub fn serial(&self) -> &'a str {
        ascii_trimmed(self.data).trim_start()
    }
}

/// One designator of the device identification VPD page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Designator<'a> {
    /// Protocol identifier (byte 0 bits 7:4; 4 = SRP), meaningful with `piv`.
    pub protocol_id: u8,
    /// Code set (1 binary, 2 ASCII, 3 UTF-8).
    pub code_set: u8,
    /// PIV: `protocol_id` is valid.
    pub piv: bool,
    /// Association (0 logical unit, 1 target port, 2 target device).
    pub association: u8,
    /// Designator type (1 T10 vendor ID, 2 EUI-64, 3 NAA, 4 relative target
    /// port, 5 target port group, 6 LU group, 8 SCSI name string).
    pub designator_type: u8,
    /// The designator bytes.
    pub data: &'a [u8],
}

impl Designator<'_> {
    /// Header length.
    pub const HEADER_LEN: usize = 4;

    /// Bytes [`Designator::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        Self::HEADER_LEN + self.data.len()
    }

    /// Writes the designator.
    ///
    /// # Panics
    /// If `buf` is shorter than [`Designator::buffer_len`] or `data` is longer
    /// than 255 bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = u8::try_from(self.data.len()).expect("designator over 255 bytes");
        buf[0] = (self.protocol_id << 4) | (self.code_set & 0x0F);
        buf[1] = if self.piv { 0x80 } else { 0 }
            | ((self.association & 0x03) << 4)
            | (self.designator_type & 0x0F);
        buf[2] = 0;
        buf[3] = len;
        buf[Self::HEADER_LEN..self.buffer_len()].copy_from_slice(self.data);
    }
}

/// Iterator over the designators of a device identification page.
#[derive(Debug, Clone)]
pub struct Designators<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Designators<'a> {
    type Item = Designator<'a>;
    fn next(&mut self) -> Option<Designator<'a>> {
        if self.rest.len() < Designator::HEADER_LEN {
            return None;
        }
        let len = usize::from(self.rest[3]);
        let end = Designator::HEADER_LEN + len;
        if self.rest.len() < end {
            self.rest = &[];
            return None;
        }
        let (b, rest) = (self.rest[..end].as_ref(), &self.rest[end..]);
        self.rest = rest;
        Some(Designator {
            protocol_id: b[0] >> 4,
            code_set: b[0] & 0x0F,
            piv: b[1] & 0x80 != 0,
            association: (b[1] >> 4) & 0x03,
            designator_type: b[1] & 0x0F,
            data: &b[Designator::HEADER_LEN..],
        })
    }
}

// ---------------------------------------------------------------------------
// READ CAPACITY data
// ---------------------------------------------------------------------------

/// READ CAPACITY(10) data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCapacity10 {
    /// Last LBA; 0xFFFF_FFFF means "too large, use READ CAPACITY(16)".
    pub last_lba: u32,
    /// Logical block length in bytes.
    pub block_len: u32,
}

impl ReadCapacity10 {
    /// Data length.
    pub const LEN: usize = 8;

    /// Parses the 8 bytes.
    ///
    /// # Errors
    /// If `data` is shorter than 8 bytes.
    pub fn parse(data: &[u8]) -> Result<ReadCapacity10> {
        if data.len() < Self::LEN {
            return Err(Error);
        }
        Ok(ReadCapacity10 {
            last_lba: read_u32(&data[0..4]),
            block_len: read_u32(&data[4..8]),
        })
    }

    /// The answer for a disk of `blocks` blocks: the last LBA, saturated to
    /// 0xFFFF_FFFF when it does not fit.
    pub fn for_disk(blocks: u64, block_len: u32) -> ReadCapacity10 {
        let last = blocks.saturating_sub(1);
        ReadCapacity10 {
            last_lba: u32::try_from(last).unwrap_or(u32::MAX),
            block_len,
        }
    }

    /// Writes 8 bytes.
    ///
    /// # Panics
    /// If `buf` is shorter than 8 bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        write_u32(&mut buf[0..4], self.last_lba);
        write_u32(&mut buf[4..8], self.block_len);
    }
}

/// READ CAPACITY(16) data (the fields a boot path uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCapacity16 {
    /// Last LBA.
    pub last_lba: u64,
    /// Logical block length in bytes.
    pub block_len: u32,
    /// Byte 12: P_TYPE (3:1) and PROT_EN (0).
    pub protection: u8,
    /// Logical blocks per physical block exponent (byte 13 bits 3:0).
    pub lbppbe: u8,
    /// LBPME (thin provisioning enabled).
    pub lbpme: bool,
    /// LBPRZ (unmapped blocks read as zero).
    pub lbprz: bool,
    /// Lowest aligned LBA (14 bits).
    pub lowest_aligned_lba: u16,
}

impl ReadCapacity16 {
    /// Full data length (bytes 16–31 are reserved).
    pub const LEN: usize = 32;
    /// The shortest answer still worth parsing (last LBA + block length).
    pub const MIN_LEN: usize = 12;

    /// Parses the data; bytes 12–15 count as zero when the buffer stops
    /// before them.
    ///
    /// # Errors
    /// If `data` is shorter than 12 bytes.
    pub fn parse(data: &[u8]) -> Result<ReadCapacity16> {
        if data.len() < Self::MIN_LEN {
            return Err(Error);
        }
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        Ok(ReadCapacity16 {
            last_lba: read_u64(&data[0..8]),
            block_len: read_u32(&data[8..12]),
            protection: byte(12),
            lbppbe: byte(13) & 0x0F,
            lbpme: byte(14) & 0x80 != 0,
            lbprz: byte(14) & 0x40 != 0,
            lowest_aligned_lba: u16::from_be_bytes([byte(14) & 0x3F, byte(15)]),
        })
    }

    /// The plain answer for a disk of `blocks` blocks of `block_len` bytes.
    pub fn for_disk(blocks: u64, block_len: u32) -> ReadCapacity16 {
        ReadCapacity16 {
            last_lba: blocks.saturating_sub(1),
            block_len,
            protection: 0,
            lbppbe: 0,
            lbpme: false,
            lbprz: false,
            lowest_aligned_lba: 0,
        }
    }

    /// Number of blocks (`last_lba + 1`, saturating).
    pub fn blocks(&self) -> u64 {
        self.last_lba.saturating_add(1)
    }

    /// Writes all 32 bytes.
    ///
    /// # Panics
    /// If `buf` is shorter than 32 bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let b = &mut buf[..Self::LEN];
        b.fill(0);
        write_u64(&mut b[0..8], self.last_lba);
        write_u32(&mut b[8..12], self.block_len);
        b[12] = self.protection;
        b[13] = self.lbppbe & 0x0F;
        let la = self.lowest_aligned_lba & 0x3FFF;
        b[14] =
            if self.lbpme { 0x80 } else { 0 } | if self.lbprz { 0x40 } else { 0 } | (la >> 8) as u8;
        b[15] = la as u8;
    }
}

// ---------------------------------------------------------------------------
// REPORT LUNS
// ---------------------------------------------------------------------------

/// REPORT LUNS parameter data: 8-byte header (list length), then LUNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportLuns<'a> {
    /// LUN LIST LENGTH as declared, in bytes.
    pub list_len: u32,
    /// The whole 8-byte LUN entries present in the buffer (at most
    /// `list_len` bytes).
    entries: &'a [u8],
}

impl<'a> ReportLuns<'a> {
    /// Header length.
    pub const HEADER_LEN: usize = 8;

    /// Parses the list; entries beyond the buffer (allocation length) are
    /// dropped, a trailing partial entry too.
    ///
    /// # Errors
    /// If `data` is shorter than the 8-byte header.
    pub fn parse(data: &'a [u8]) -> Result<ReportLuns<'a>> {
        if data.len() < Self::HEADER_LEN {
            return Err(Error);
        }
        let list_len = read_u32(&data[0..4]);
        let avail = data.len() - Self::HEADER_LEN;
        let n = (list_len as usize).min(avail) / 8;
        Ok(ReportLuns {
            list_len,
            entries: &data[Self::HEADER_LEN..Self::HEADER_LEN + n * 8],
        })
    }

    /// Number of LUNs present.
    pub fn len(&self) -> usize {
        self.entries.len() / 8
    }

    /// Whether no LUN is present.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the target had more LUNs than the buffer holds.
    pub fn is_truncated(&self) -> bool {
        (self.entries.len() as u64) < u64::from(self.list_len)
    }

    /// The LUNs present.
    pub fn iter(&self) -> impl Iterator<Item = Lun> + 'a {
        self.entries.chunks_exact(8).map(|c| Lun(read_array(c)))
    }

    /// Bytes needed for a list of `n` LUNs.
    pub const fn buffer_len(n: usize) -> usize {
        Self::HEADER_LEN + 8 * n
    }

    /// Writes the header and `luns`, returns the bytes written.
    ///
    /// # Panics
    /// If `buf` is shorter than `buffer_len(luns.len())`.
    pub fn emit(luns: &[Lun], buf: &mut [u8]) -> usize {
        let len = Self::buffer_len(luns.len());
        let b = &mut buf[..len];
        write_u32(&mut b[0..4], (8 * luns.len()) as u32);
        b[4..8].fill(0);
        for (chunk, lun) in b[8..].chunks_exact_mut(8).zip(luns) {
            chunk.copy_from_slice(&lun.0);
        }
        len
    }
}

// ---------------------------------------------------------------------------
// MODE SENSE header
// ---------------------------------------------------------------------------

/// The mode parameter header of MODE SENSE(6) or (10) (SPC/SBC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeHeader {
    /// MODE DATA LENGTH: bytes that follow the length field itself.
    pub mode_data_len: u16,
    /// Medium type (0 for disks).
    pub medium_type: u8,
    /// Device-specific parameter: WP (bit 7), DPOFUA (bit 4) for disks.
    pub device_specific: u8,
    /// LONGLBA (10-byte form only).
    pub long_lba: bool,
    /// Length of the block descriptors that follow.
    pub block_desc_len: u16,
}

impl ModeHeader {
    /// Length of the MODE SENSE(6) header.
    pub const LEN6: usize = 4;
    /// Length of the MODE SENSE(10) header.
    pub const LEN10: usize = 8;
    /// Write protect bit of `device_specific`.
    pub const WP: u8 = 0x80;
    /// DPOFUA bit of `device_specific`.
    pub const DPOFUA: u8 = 0x10;

    /// Whether the medium is write protected.
    pub fn write_protected(&self) -> bool {
        self.device_specific & Self::WP != 0
    }

    /// Parses a MODE SENSE(6) header.
    ///
    /// # Errors
    /// If `data` is shorter than 4 bytes.
    pub fn parse6(data: &[u8]) -> Result<ModeHeader> {
        if data.len() < Self::LEN6 {
            return Err(Error);
        }
        Ok(ModeHeader {
            mode_data_len: data[0].into(),
            medium_type: data[1],
            device_specific: data[2],
            long_lba: false,
            block_desc_len: data[3].into(),
        })
    }

    /// Parses a MODE SENSE(10) header.
    ///
    /// # Errors
    /// If `data` is shorter than 8 bytes.
    pub fn parse10(data: &[u8]) -> Result<ModeHeader> {
        if data.len() < Self::LEN10 {
            return Err(Error);
        }
        Ok(ModeHeader {
            mode_data_len: read_u16(&data[0..2]),
            medium_type: data[2],
            device_specific: data[3],
            long_lba: data[4] & 0x01 != 0,
            block_desc_len: read_u16(&data[6..8]),
        })
    }

    /// Writes a 4-byte MODE SENSE(6) header (lengths truncated to 8 bits).
    ///
    /// # Panics
    /// If `buf` is shorter than 4 bytes.
    pub fn emit6(&self, buf: &mut [u8]) {
        buf[0] = self.mode_data_len as u8;
        buf[1] = self.medium_type;
        buf[2] = self.device_specific;
        buf[3] = self.block_desc_len as u8;
    }

    /// Writes an 8-byte MODE SENSE(10) header.
    ///
    /// # Panics
    /// If `buf` is shorter than 8 bytes.
    pub fn emit10(&self, buf: &mut [u8]) {
        write_u16(&mut buf[0..2], self.mode_data_len);
        buf[2] = self.medium_type;
        buf[3] = self.device_specific;
        buf[4] = u8::from(self.long_lba);
        buf[5] = 0;
        write_u16(&mut buf[6..8], self.block_desc_len);
    }
}

// ---------------------------------------------------------------------------
// Sense data
// ---------------------------------------------------------------------------

enum_with_unknown! {
    /// SENSE KEY (4 bits).
    pub enum SenseKey(u8) {
        /// NO SENSE.
        NoSense = 0x0,
        /// RECOVERED ERROR.
        RecoveredError = 0x1,
        /// NOT READY.
        NotReady = 0x2,
        /// MEDIUM ERROR.
        MediumError = 0x3,
        /// HARDWARE ERROR.
        HardwareError = 0x4,
        /// ILLEGAL REQUEST.
        IllegalRequest = 0x5,
        /// UNIT ATTENTION (expect it once after login; retry).
        UnitAttention = 0x6,
        /// DATA PROTECT.
        DataProtect = 0x7,
        /// BLANK CHECK.
        BlankCheck = 0x8,
        /// VENDOR SPECIFIC.
        VendorSpecific = 0x9,
        /// COPY ABORTED.
        CopyAborted = 0xA,
        /// ABORTED COMMAND.
        AbortedCommand = 0xB,
        /// VOLUME OVERFLOW.
        VolumeOverflow = 0xD,
        /// MISCOMPARE.
        Miscompare = 0xE,
        /// COMPLETED.
        Completed = 0xF,
    }
}

impl fmt::Display for SenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            SenseKey::NoSense => "NO SENSE",
            SenseKey::RecoveredError => "RECOVERED ERROR",
            SenseKey::NotReady => "NOT READY",
            SenseKey::MediumError => "MEDIUM ERROR",
            SenseKey::HardwareError => "HARDWARE ERROR",
            SenseKey::IllegalRequest => "ILLEGAL REQUEST",
            SenseKey::UnitAttention => "UNIT ATTENTION",
            SenseKey::DataProtect => "DATA PROTECT",
            SenseKey::BlankCheck => "BLANK CHECK",
            SenseKey::VendorSpecific => "VENDOR SPECIFIC",
            SenseKey::CopyAborted => "COPY ABORTED",
            SenseKey::AbortedCommand => "ABORTED COMMAND",
            SenseKey::VolumeOverflow => "VOLUME OVERFLOW",
            SenseKey::Miscompare => "MISCOMPARE",
            SenseKey::Completed => "COMPLETED",
            SenseKey::Unknown(k) => return write!(f, "SENSE KEY 0x{k:x}"),
        };
        f.write_str(s)
    }
}

/// Decoded sense data: what went wrong, in the three numbers that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sense {
    /// Sense key.
    pub key: SenseKey,
    /// Additional sense code.
    pub asc: u8,
    /// Additional sense code qualifier.
    pub ascq: u8,
}

/// ASC/ASCQ texts (SPC) for the conditions a boot path meets.
const ASC_TEXT: &[(u8, u8, &str)] = &[
    (0x00, 0x00, "NO ADDITIONAL SENSE INFORMATION"),
    (0x04, 0x00, "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE"),
    (0x04, 0x01, "LOGICAL UNIT IS IN PROCESS OF BECOMING READY"),
    (
        0x04,
        0x02,
        "LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED",
    ),
    (
        0x04,
        0x03,
        "LOGICAL UNIT NOT READY, MANUAL INTERVENTION REQUIRED",
    ),
    (
        0x04,
        0x0A,
        "LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION",
    ),
    (
        0x04,
        0x0B,
        "LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE",
    ),
    (
        0x04,
        0x0C,
        "LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE STATE",
    ),
    (0x08, 0x00, "LOGICAL UNIT COMMUNICATION FAILURE"),
    (0x0C, 0x00, "WRITE ERROR"),
    (0x11, 0x00, "UNRECOVERED READ ERROR"),
    (0x1A, 0x00, "PARAMETER LIST LENGTH ERROR"),
    (0x20, 0x00, "INVALID COMMAND OPERATION CODE"),
    (0x21, 0x00, "LOGICAL BLOCK ADDRESS OUT OF RANGE"),
    (0x24, 0x00, "INVALID FIELD IN CDB"),
    (0x25, 0x00, "LOGICAL UNIT NOT SUPPORTED"),
    (0x26, 0x00, "INVALID FIELD IN PARAMETER LIST"),
    (0x27, 0x00, "WRITE PROTECTED"),
    (
        0x28,
        0x00,
        "NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED",
    ),
    (0x29, 0x00, "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED"),
    (0x29, 0x01, "POWER ON OCCURRED"),
    (0x29, 0x02, "SCSI BUS RESET OCCURRED"),
    (0x29, 0x03, "BUS DEVICE RESET FUNCTION OCCURRED"),
    (0x29, 0x04, "DEVICE INTERNAL RESET"),
    (0x29, 0x07, "I_T NEXUS LOSS OCCURRED"),
    (0x2A, 0x01, "MODE PARAMETERS CHANGED"),
    (0x2A, 0x09, "CAPACITY DATA HAS CHANGED"),
    (0x2F, 0x00, "COMMANDS CLEARED BY ANOTHER INITIATOR"),
    (0x3A, 0x00, "MEDIUM NOT PRESENT"),
    (0x3F, 0x0E, "REPORTED LUNS DATA HAS CHANGED"),
    (0x44, 0x00, "INTERNAL TARGET FAILURE"),
    (0x4B, 0x00, "DATA PHASE ERROR"),
    (0x55, 0x03, "INSUFFICIENT RESOURCES"),
];

mod sense_field {
    pub const RESPONSE_CODE: usize = 0;
    // Fixed format.
    pub const FIXED_KEY: usize = 2;
    pub const FIXED_ADDITIONAL_LEN: usize = 7;
    pub const FIXED_ASC: usize = 12;
    pub const FIXED_ASCQ: usize = 13;
    // Descriptor format.
    pub const DESC_KEY: usize = 1;
    pub const DESC_ASC: usize = 2;
    pub const DESC_ASCQ: usize = 3;
    pub const DESC_ADDITIONAL_LEN: usize = 7;
}

impl Sense {
    /// ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE.
    pub const INVALID_OPCODE: Sense = Sense::new(SenseKey::IllegalRequest, 0x20, 0x00);
    /// ILLEGAL REQUEST / LOGICAL BLOCK ADDRESS OUT OF RANGE.
    pub const LBA_OUT_OF_RANGE: Sense = Sense::new(SenseKey::IllegalRequest, 0x21, 0x00);
    /// ILLEGAL REQUEST / INVALID FIELD IN CDB.
    pub const INVALID_FIELD_IN_CDB: Sense = Sense::new(SenseKey::IllegalRequest, 0x24, 0x00);
    /// ILLEGAL REQUEST / LOGICAL UNIT NOT SUPPORTED.
    pub const LUN_NOT_SUPPORTED: Sense = Sense::new(SenseKey::IllegalRequest, 0x25, 0x00);
    /// DATA PROTECT / WRITE PROTECTED.
    pub const WRITE_PROTECTED: Sense = Sense::new(SenseKey::DataProtect, 0x27, 0x00);
    /// NOT READY / MEDIUM NOT PRESENT.
    pub const MEDIUM_NOT_PRESENT: Sense = Sense::new(SenseKey::NotReady, 0x3A, 0x00);
    /// UNIT ATTENTION / POWER ON, RESET, OR BUS DEVICE RESET OCCURRED.
    pub const POWER_ON_RESET: Sense = Sense::new(SenseKey::UnitAttention, 0x29, 0x00);

    /// Length of the fixed-format sense [`Sense::emit_fixed`] writes.
    pub const FIXED_LEN: usize = 18;
    /// Length of the descriptor-format sense [`Sense::emit_descriptor`] writes.
    pub const DESCRIPTOR_LEN: usize = 8;

    /// Builds a sense triple.
    pub const fn new(key: SenseKey, asc: u8, ascq: u8) -> Sense {
        Sense { key, asc, ascq }
    }

    /// Decodes fixed (0x70/0x71) or descriptor (0x72/0x73) sense data.
    ///
    /// Fixed format needs its 8-byte header; ASC and ASCQ count as 0 when
    /// the additional sense length or the buffer stops before them (as
    /// Linux's `scsi_normalize_sense` does). Descriptor format needs its
    /// 8-byte header.
    ///
    /// # Errors
    /// Too short for the header, or a response code that is not one of the
    /// four above.
    pub fn parse(data: &[u8]) -> Result<Sense> {
        use sense_field::*;
        if data.len() < 8 {
            return Err(Error);
        }
        match data[RESPONSE_CODE] & 0x7F {
            0x70 | 0x71 => {
                let end = data.len().min(8 + usize::from(data[FIXED_ADDITIONAL_LEN]));
                let byte = |i: usize| if i < end { data[i] } else { 0 };
                Ok(Sense {
                    key: SenseKey::from(data[FIXED_KEY] & 0x0F),
                    asc: byte(FIXED_ASC),
                    ascq: byte(FIXED_ASCQ),
                })
            }
            0x72 | 0x73 => Ok(Sense {
                key: SenseKey::from(data[DESC_KEY] & 0x0F),
                asc: data[DESC_ASC],
                ascq: data[DESC_ASCQ],
            }),
            _ => Err(Error),
        }
    }

    /// The SPC text for this ASC/ASCQ, if it is one the table knows.
    pub fn description(&self) -> Option<&'static str> {
        ASC_TEXT
            .iter()
            .find(|&&(asc, ascq, _)| asc == self.asc && ascq == self.ascq)
            .map(|&(_, _, t)| t)
    }

    /// UNIT ATTENTION: a retryable event report, not a failure.
    pub fn is_unit_attention(&self) -> bool {
        self.key == SenseKey::UnitAttention
    }

    /// Writes current, fixed-format sense (response code 0x70, 18 bytes).
    ///
    /// # Panics
    /// If `buf` is shorter than [`Sense::FIXED_LEN`].
    pub fn emit_fixed(&self, buf: &mut [u8]) {
        use sense_field::*;
        let b = &mut buf[..Self::FIXED_LEN];
        b.fill(0);
        b[RESPONSE_CODE] = 0x70;
        b[FIXED_KEY] = u8::from(self.key) & 0x0F;
        b[FIXED_ADDITIONAL_LEN] = (Self::FIXED_LEN - 8) as u8;
        b[FIXED_ASC] = self.asc;
        b[FIXED_ASCQ] = self.ascq;
    }

    /// Writes current, descriptor-format sense with no descriptors (0x72,
    /// 8 bytes).
    ///
    /// # Panics
    /// If `buf` is shorter than [`Sense::DESCRIPTOR_LEN`].
    pub fn emit_descriptor(&self, buf: &mut [u8]) {
        use sense_field::*;
        let b = &mut buf[..Self::DESCRIPTOR_LEN];
        b.fill(0);
        b[RESPONSE_CODE] = 0x72;
        b[DESC_KEY] = u8::from(self.key) & 0x0F;
        b[DESC_ASC] = self.asc;
        b[DESC_ASCQ] = self.ascq;
        b[DESC_ADDITIONAL_LEN] = 0;
    }
}

impl fmt::Display for Sense {
    /// `ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE`, or the raw
    /// numbers when the ASC/ASCQ pair is not in the table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.description() {
            Some(t) => write!(f, "{}: {}", self.key, t),
            None => write!(
                f,
                "{}: ASC 0x{:02x} ASCQ 0x{:02x}",
                self.key, self.asc, self.ascq
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;
    use std::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // --- golden CDBs (SRP_CMD CDB fields from srp-session.pcap) ---

    /// Frame 10: INQUIRY alloc 36.
    const CDB_INQUIRY_36: [u8; 16] = [0x12, 0, 0, 0, 0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    /// Frame 76: INQUIRY EVPD page 0x83 alloc 164.
    const CDB_INQUIRY_VPD83: [u8; 16] = [0x12, 1, 0x83, 0, 0xa4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    /// Frame 149: READ CAPACITY(16) alloc 32.
    const CDB_READ_CAP16: [u8; 16] = [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0];
    /// Frame 238: READ(10) LBA 0, 1 block.
    const CDB_READ10: [u8; 16] = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    /// Frame 344: WRITE(10) LBA 128, 96 blocks.
    const CDB_WRITE10: [u8; 16] = [0x2a, 0, 0, 0, 0, 0x80, 0, 0, 0x60, 0, 0, 0, 0, 0, 0, 0];
    /// Frame 136: REPORT LUNS alloc 4096.
    const CDB_REPORT_LUNS: [u8; 16] = [0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0];
    /// Frame 155: MODE SENSE(6) page 0x3f alloc 4.
    const CDB_MODE_SENSE6: [u8; 16] = [0x1a, 0, 0x3f, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    /// Frame 173: MAINTENANCE IN / REPORT SUPPORTED OPCODES (unsupported here).
    const CDB_MAINT_IN: [u8; 16] = [
        0xa3, 0x0c, 0x01, 0x12, 0, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn golden_cdbs_parse_and_emit() {
        let cases: &[(&[u8; 16], Cdb)] = &[
            (&CDB_INQUIRY_36, Cdb::inquiry(36)),
            (&CDB_INQUIRY_VPD83, Cdb::inquiry_vpd(0x83, 164)),
            (&CDB_READ_CAP16, Cdb::ReadCapacity16 { alloc_len: 32 }),
            (
                &CDB_READ10,
                Cdb::Read10 {
                    lba: 0,
                    blocks: 1,
                    fua: false,
                },
            ),
            (
                &CDB_WRITE10,
                Cdb::Write10 {
                    lba: 128,
                    blocks: 96,
                    fua: false,
                },
            ),
            (
                &CDB_REPORT_LUNS,
                Cdb::ReportLuns {
                    select_report: 0,
                    alloc_len: 4096,
                },
            ),
            (
                &CDB_MODE_SENSE6,
                Cdb::ModeSense6 {
                    dbd: false,
                    page_control: 0,
                    page_code: 0x3f,
                    subpage: 0,
                    alloc_len: 4,
                },
            ),
            (&[0u8; 16], Cdb::TestUnitReady),
        ];
        for (bytes, cdb) in cases {
            assert_eq!(Cdb::parse(&bytes[..]), Ok(*cdb), "{bytes:02x?}");
            assert_eq!(&cdb.to_padded(), *bytes);
            // Only the CDB's own length is needed.
            assert_eq!(Cdb::parse(&bytes[..cdb.buffer_len()]), Ok(*cdb));
        }
        assert_eq!(
            Cdb::parse(&CDB_MAINT_IN),
            Err(CdbError::UnsupportedOpcode(0xa3))
        );
    }

    #[test]
    fn every_cdb_round_trips_from_a_dirty_buffer() {
        let all = [
            Cdb::TestUnitReady,
            Cdb::RequestSense {
                desc: true,
                alloc_len: 252,
            },
            Cdb::inquiry(96),
            Cdb::inquiry_vpd(0x80, 255),
            Cdb::ModeSense6 {
                dbd: true,
                page_control: 2,
                page_code: 0x08,
                subpage: 0,
                alloc_len: 32,
            },
            Cdb::ModeSense10 {
                llbaa: true,
                dbd: false,
                page_control: 1,
                page_code: 0x3f,
                subpage: 0xff,
                alloc_len: 512,
            },
            Cdb::ReadCapacity10,
            Cdb::ReadCapacity16 { alloc_len: 32 },
            Cdb::Read10 {
                lba: 0xDEAD_BEEF,
                blocks: 0xFFFF,
                fua: true,
            },
            Cdb::Write10 {
                lba: 1,
                blocks: 2,
                fua: false,
            },
            Cdb::Read16 {
                lba: 0x0123_4567_89AB_CDEF,
                blocks: 0x10000,
                fua: false,
            },
            Cdb::Write16 {
                lba: u64::MAX,
                blocks: u32::MAX,
                fua: true,
            },
            Cdb::SynchronizeCache10 {
                lba: 7,
                blocks: 0,
                immed: true,
            },
            Cdb::SynchronizeCache16 {
                lba: 1 << 40,
                blocks: 9,
                immed: false,
            },
            Cdb::ReportLuns {
                select_report: 2,
                alloc_len: 16,
            },
        ];
        let lens = [6, 6, 6, 6, 6, 10, 10, 16, 10, 10, 16, 16, 10, 16, 12];
        for (cdb, len) in all.iter().zip(lens) {
            let mut b = [0xA5u8; 20];
            cdb.emit(&mut b);
            assert_eq!(cdb.buffer_len(), len);
            assert!(
                b[len..].iter().all(|&x| x == 0xA5),
                "{cdb:?} wrote past its length"
            );
            assert_eq!(Cdb::parse(&b[..len]), Ok(*cdb));
            assert_eq!(Cdb::parse(&b[..len - 1]), Err(CdbError::Truncated));
        }
    }

    #[test]
    fn read_write_pick_the_smallest_cdb() {
        assert_eq!(
            Cdb::read(0, 1),
            Cdb::Read10 {
                lba: 0,
                blocks: 1,
                fua: false
            }
        );
        assert_eq!(Cdb::read(u32::MAX.into(), 65535).opcode(), Opcode::Read10);
        assert_eq!(Cdb::read(1 << 32, 1).opcode(), Opcode::Read16);
        assert_eq!(Cdb::read(0, 65536).opcode(), Opcode::Read16);
        assert_eq!(
            Cdb::write(16, 8),
            Cdb::Write10 {
                lba: 16,
                blocks: 8,
                fua: false
            }
        );
        assert_eq!(Cdb::write(1 << 33, 8).opcode(), Opcode::Write16);
        assert_eq!(Cdb::read(5, 6).block_range(), Some((5, 6)));
        assert_eq!(Cdb::write(5, 6).data_direction(), DataDirection::Out);
        assert_eq!(Cdb::read(5, 6).data_direction(), DataDirection::In);
        assert_eq!(Cdb::TestUnitReady.data_direction(), DataDirection::None);
        assert_eq!(Cdb::inquiry(36).alloc_len(), Some(36));
        assert_eq!(Cdb::ReadCapacity10.alloc_len(), Some(8));
        assert_eq!(Cdb::TestUnitReady.alloc_len(), None);
    }

    #[test]
    fn cdb_rejections() {
        assert_eq!(Cdb::parse(&[]), Err(CdbError::Truncated));
        assert_eq!(
            Cdb::parse(&[0x28, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(CdbError::Truncated)
        );
        assert_eq!(
            Cdb::parse(&[0xff; 16]),
            Err(CdbError::UnsupportedOpcode(0xff))
        );
        // SERVICE ACTION IN(16) with another service action.
        let mut c = CDB_READ_CAP16;
        c[1] = 0x12;
        assert_eq!(Cdb::parse(&c), Err(CdbError::InvalidField { byte: 1 }));
        // INQUIRY page code without EVPD, and CMDDT.
        assert_eq!(
            Cdb::parse(&[0x12, 0, 0x80, 0, 36, 0]),
            Err(CdbError::InvalidField { byte: 2 })
        );
        assert_eq!(
            Cdb::parse(&[0x12, 2, 0, 0, 36, 0]),
            Err(CdbError::InvalidField { byte: 1 })
        );
        // RDPROTECT / WRPROTECT.
        let mut c = CDB_READ10;
        c[1] = 0x20;
        assert_eq!(Cdb::parse(&c), Err(CdbError::InvalidField { byte: 1 }));
        let mut c = [0u8; 16];
        c[0] = 0x8a;
        c[1] = 0x80;
        assert_eq!(Cdb::parse(&c), Err(CdbError::InvalidField { byte: 1 }));
        // REPORT LUNS allocation length below 16.
        let mut c = CDB_REPORT_LUNS;
        c[8] = 0;
        c[9] = 15;
        assert_eq!(Cdb::parse(&c), Err(CdbError::InvalidField { byte: 6 }));
        // What a target answers.
        assert_eq!(
            CdbError::UnsupportedOpcode(0xa3).sense(),
            Sense::INVALID_OPCODE
        );
        assert_eq!(
            CdbError::InvalidField { byte: 1 }.sense(),
            Sense::INVALID_FIELD_IN_CDB
        );
        assert_eq!(
            CdbError::InvalidField { byte: 6 }.to_string(),
            "invalid field in CDB byte 6"
        );
    }

    // --- data-in payloads from the RDMA WRITEs of the capture ---

    /// Frame 12: standard INQUIRY data (36 bytes).
    const INQUIRY_DATA: &str =
        "000006025bb810024c494f2d4f52472046494c45494f20202020202020202020342e3020";
    /// Frame 78: VPD page 0x83 (164 bytes).
    const VPD83: &str = "008300a0010300106001405d000000000000000000000000020100184c494f2d4f52472046494c45494f3a7372706469736b30004194000400000001419500040000000001060004000000004398002c307866653830303030303030303030303030353035343030666666653737303030312c742c3078303030310043a80024307866653830303030303030303030303030353035343030666666653737303030310000";
    /// Frame 60: VPD page 0x80 (13 bytes of 13).
    const VPD80: &str = "008000097372706469736b3000";
    /// Frame 30: VPD page 0x00 (12 bytes).
    const VPD00: &str = "0000000800808386b0b1b2b3";
    /// Frame 151: READ CAPACITY(16) data.
    const READ_CAP16: &str = "00000000000007ff000002000000000000000000000000000000000000000000";
    /// Frame 169: MODE SENSE(6) page 0x08, 32 bytes.
    const MODE_SENSE6_08: &str = "1f000008000007ff000002000812000000000000000000002000000000000000";
    /// Frame 175: the 96 sense bytes of the SRP_RSP (INVALID COMMAND OPERATION CODE).
    const SENSE_FIXED_96: &str = "700005000000000a00000000200000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn golden_inquiry_data() {
        let b = hex(INQUIRY_DATA);
        let d = InquiryData::parse(&b).unwrap();
        assert_eq!(d.qualifier, 0);
        assert_eq!(d.device_type, 0);
        assert!(!d.removable);
        assert_eq!(d.version, 6);
        assert_eq!(d.byte3 & 0x0F, 2);
        assert_eq!(d.vendor_str(), "LIO-ORG");
        assert_eq!(d.product_str(), "FILEIO");
        assert_eq!(d.revision_str(), "4.0");
        let mut out = [0x5Au8; 40];
        d.emit(&mut out);
        // Everything but ADDITIONAL LENGTH (LIO declares its 96-byte page).
        assert_eq!(out[..4], b[..4]);
        assert_eq!(out[4], 31);
        assert_eq!(out[5..36], b[5..36]);
        assert_eq!(out[36..], [0x5A; 4]);
        assert_eq!(InquiryData::parse(&out[..36]), Ok(d));
        assert_eq!(InquiryData::parse(&b[..35]), Err(Error));
        let mut bad = b.clone();
        bad[3] = 0x01;
        assert_eq!(InquiryData::parse(&bad), Err(Error));
        let disk = InquiryData::disk(*b"SRPBOOT ", *b"RAMDISK         ", *b"0001");
        disk.emit(&mut out);
        assert_eq!(InquiryData::parse(&out[..36]), Ok(disk));
    }

    #[test]
    fn golden_vpd_pages() {
        let b = hex(VPD00);
        let p = VpdPage::parse(&b).unwrap();
        assert_eq!(p.page_code, vpd::SUPPORTED_PAGES);
        assert_eq!(p.data, &[0x00, 0x80, 0x83, 0x86, 0xb0, 0xb1, 0xb2, 0xb3]);
        assert!(!p.is_truncated());
        // Frame 24: the same page asked with allocation length 4.
        let p = VpdPage::parse(&b[..4]).unwrap();
        assert_eq!((p.page_len, p.data.len(), p.is_truncated()), (8, 0, true));

        let b = hex(VPD80);
        let p = VpdPage::parse(&b).unwrap();
        assert_eq!(p.page_code, vpd::UNIT_SERIAL);
        assert_eq!(p.serial(), "srpdisk0");

        let b = hex(VPD83);
        let p = VpdPage::parse(&b).unwrap();
        assert_eq!((p.page_code, p.page_len, p.data.len()), (0x83, 160, 160));
        let d: Vec<Designator> = p.designators().collect();
        assert_eq!(d.len(), 7);
        assert_eq!(
            (d[0].code_set, d[0].designator_type, d[0].data.len()),
            (1, 3, 16)
        );
        assert_eq!(d[0].data[0] >> 4, 6, "NAA 6");
        assert_eq!((d[1].code_set, d[1].designator_type), (2, 1));
        assert_eq!(d[1].data, b"LIO-ORG FILEIO:srpdisk0\0");
        // Relative target port 1, with PIV and protocol 4 (SRP).
        assert_eq!(
            (
                d[2].protocol_id,
                d[2].piv,
                d[2].association,
                d[2].designator_type
            ),
            (4, true, 1, 4)
        );
        assert_eq!(d[2].data, &[0, 0, 0, 1]);
        assert_eq!(d[5].designator_type, 8);
        assert_eq!(d[5].data, b"0xfe80000000000000505400fffe770001,t,0x0001\0");
        assert_eq!(d[6].association, 2);
        // Re-emit every designator and the page: identical bytes.
        let mut body = Vec::new();
        for x in &d {
            let mut tmp = [0xEEu8; 64];
            x.emit(&mut tmp);
            body.extend_from_slice(&tmp[..x.buffer_len()]);
        }
        assert_eq!(body, p.data);
        let mut out = [0xEEu8; 200];
        let page = VpdPage {
            peripheral: 0,
            page_code: 0x83,
            page_len: 0,
            data: &body,
        };
        page.emit(&mut out);
        assert_eq!(&out[..page.buffer_len()], &b[..]);
        // A designator cut short ends the iteration instead of panicking.
        let p = VpdPage::parse(&b[..30]).unwrap();
        assert_eq!(p.designators().count(), 1);
        assert_eq!(VpdPage::parse(&b[..3]), Err(Error));
    }

    #[test]
    fn golden_read_capacity() {
        let b = hex(READ_CAP16);
        let rc = ReadCapacity16::parse(&b).unwrap();
        assert_eq!(rc, ReadCapacity16::for_disk(2048, 512));
        assert_eq!(rc.blocks(), 2048);
        let mut out = [0x33u8; 32];
        rc.emit(&mut out);
        assert_eq!(&out[..], &b[..]);
        assert_eq!(ReadCapacity16::parse(&b[..12]), Ok(rc));
        assert_eq!(ReadCapacity16::parse(&b[..11]), Err(Error));
        let odd = ReadCapacity16 {
            last_lba: 1 << 40,
            block_len: 4096,
            protection: 0x03,
            lbppbe: 3,
            lbpme: true,
            lbprz: true,
            lowest_aligned_lba: 0x1234,
        };
        odd.emit(&mut out);
        assert_eq!(ReadCapacity16::parse(&out), Ok(odd));

        let rc10 = ReadCapacity10::for_disk(2048, 512);
        let mut out = [0x33u8; 8];
        rc10.emit(&mut out);
        assert_eq!(out, [0, 0, 0x07, 0xff, 0, 0, 2, 0]);
        assert_eq!(ReadCapacity10::parse(&out), Ok(rc10));
        assert_eq!(ReadCapacity10::parse(&out[..7]), Err(Error));
        assert_eq!(ReadCapacity10::for_disk(1 << 33, 512).last_lba, u32::MAX);
    }

    #[test]
    fn golden_report_luns() {
        // Frame 138: list length 8, LUN 0, rest of the 4096-byte buffer zero.
        let mut b = std::vec![0u8; 4096];
        b[3] = 8;
        let r = ReportLuns::parse(&b).unwrap();
        assert_eq!(r.list_len, 8);
        assert_eq!(r.iter().collect::<Vec<_>>(), [Lun::ZERO]);
        assert!(!r.is_truncated());
        let mut out = [0x77u8; 40];
        let n = ReportLuns::emit(&[Lun::ZERO], &mut out);
        assert_eq!(&out[..n], &b[..16]);
        let luns = [
            Lun::ZERO,
            Lun::from_index(1).unwrap(),
            Lun::from_index(300).unwrap(),
        ];
        let n = ReportLuns::emit(&luns, &mut out[..]);
        assert_eq!(n, 32);
        let r = ReportLuns::parse(&out[..n]).unwrap();
        assert_eq!(r.iter().collect::<Vec<_>>(), luns);
        // Allocation length 16: one LUN of three, list length intact.
        let r = ReportLuns::parse(&out[..16]).unwrap();
        assert_eq!((r.len(), r.list_len, r.is_truncated()), (1, 24, true));
        // Partial entry dropped; header too short rejected.
        assert_eq!(ReportLuns::parse(&out[..20]).unwrap().len(), 1);
        assert_eq!(ReportLuns::parse(&out[..7]), Err(Error));
    }

    #[test]
    fn golden_mode_sense() {
        let b = hex(MODE_SENSE6_08);
        let h = ModeHeader::parse6(&b).unwrap();
        assert_eq!(
            (h.mode_data_len, h.block_desc_len, h.write_protected()),
            (0x1f, 8, false)
        );
        let mut out = [0x99u8; 4];
        h.emit6(&mut out);
        assert_eq!(out, b[..4]);
        // Frame 157: `43 00 00 08`.
        assert_eq!(
            ModeHeader::parse6(&[0x43, 0, 0, 8]).unwrap().mode_data_len,
            0x43
        );
        let wp = ModeHeader {
            mode_data_len: 0x106,
            medium_type: 0,
            device_specific: ModeHeader::WP | ModeHeader::DPOFUA,
            long_lba: true,
            block_desc_len: 16,
        };
        let mut out = [0x99u8; 8];
        wp.emit10(&mut out);
        assert_eq!(ModeHeader::parse10(&out), Ok(wp));
        assert!(wp.write_protected());
        assert_eq!(ModeHeader::parse6(&out[..3]), Err(Error));
        assert_eq!(ModeHeader::parse10(&out[..7]), Err(Error));
    }

    #[test]
    fn golden_sense_fixed() {
        let b = hex(SENSE_FIXED_96);
        assert_eq!(b.len(), 96);
        let s = Sense::parse(&b).unwrap();
        assert_eq!(s, Sense::INVALID_OPCODE);
        assert_eq!(
            s.to_string(),
            "ILLEGAL REQUEST: INVALID COMMAND OPERATION CODE"
        );
        let mut out = [0x11u8; 20];
        s.emit_fixed(&mut out);
        assert_eq!(out[..18], b[..18]);
        assert_eq!(out[18..], [0x11, 0x11]);
    }

    #[test]
    fn sense_formats_and_texts() {
        let all = [
            Sense::INVALID_OPCODE,
            Sense::LBA_OUT_OF_RANGE,
            Sense::INVALID_FIELD_IN_CDB,
            Sense::LUN_NOT_SUPPORTED,
            Sense::WRITE_PROTECTED,
            Sense::MEDIUM_NOT_PRESENT,
            Sense::POWER_ON_RESET,
            Sense::new(SenseKey::Unknown(0xC), 0x99, 0x01),
        ];
        for s in all {
            let mut b = [0xFFu8; 18];
            s.emit_fixed(&mut b);
            assert_eq!(Sense::parse(&b), Ok(s));
            let mut d = [0xFFu8; 8];
            s.emit_descriptor(&mut d);
            assert_eq!(d[0], 0x72);
            assert_eq!(Sense::parse(&d), Ok(s));
        }
        assert_eq!(
            Sense::LBA_OUT_OF_RANGE.to_string(),
            "ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE"
        );
        assert_eq!(
            Sense::WRITE_PROTECTED.to_string(),
            "DATA PROTECT: WRITE PROTECTED"
        );
        assert_eq!(
            Sense::MEDIUM_NOT_PRESENT.to_string(),
            "NOT READY: MEDIUM NOT PRESENT"
        );
        assert_eq!(
            Sense::POWER_ON_RESET.to_string(),
            "UNIT ATTENTION: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED"
        );
        assert!(Sense::POWER_ON_RESET.is_unit_attention());
        assert_eq!(
            Sense::new(SenseKey::MediumError, 0x11, 0x05).to_string(),
            "MEDIUM ERROR: ASC 0x11 ASCQ 0x05"
        );
        assert_eq!(
            Sense::new(SenseKey::from(0xC), 0, 0).to_string(),
            "SENSE KEY 0xc: NO ADDITIONAL SENSE INFORMATION"
        );
        // Deferred forms (0x71/0x73) and the VALID bit in byte 0.
        let mut b = [0u8; 18];
        Sense::LBA_OUT_OF_RANGE.emit_fixed(&mut b);
        b[0] = 0xF1;
        assert_eq!(Sense::parse(&b), Ok(Sense::LBA_OUT_OF_RANGE));
        // Additional length short of ASC: ASC/ASCQ read as 0.
        b[7] = 4;
        assert_eq!(
            Sense::parse(&b),
            Ok(Sense::new(SenseKey::IllegalRequest, 0, 0))
        );
        // Rejections: short header, unknown response codes.
        assert_eq!(Sense::parse(&b[..7]), Err(Error));
        for rc in [0x00, 0x6F, 0x74, 0x7F] {
            b[0] = rc;
            assert_eq!(Sense::parse(&b), Err(Error), "{rc:#x}");
        }
    }

    #[test]
    fn luns() {
        assert_eq!(Lun::from_index(0), Some(Lun::ZERO));
        assert_eq!(Lun::from_index(5).unwrap().0, [0, 5, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Lun::from_index(256).unwrap().0, [0x41, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            Lun::from_index(0x3FFF).unwrap().0,
            [0x7F, 0xFF, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Lun::from_index(0x4000), None);
        for n in [0u16, 1, 255, 256, 1000, 0x3FFF] {
            assert_eq!(Lun::from_index(n).unwrap().index(), Some(n));
        }
        // Peripheral with a bus number, or anything multi-level: no index.
        assert_eq!(Lun([0x01, 0, 0, 0, 0, 0, 0, 0]).index(), None);
        assert_eq!(Lun([0, 1, 0, 2, 0, 0, 0, 0]).index(), None);
        assert_eq!(Lun([0x80, 1, 0, 0, 0, 0, 0, 0]).index(), None);
        // Linux packing.
        assert_eq!(Lun::from_linux_int(256).0, [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Lun::from_linux_int(0x0001_0002).0, [0, 2, 0, 1, 0, 0, 0, 0]);
        assert_eq!(Lun([0x41, 0, 0, 0, 0, 0, 0, 0]).to_linux_int(), 0x4100);
        for n in [0u64, 7, 0x1234_5678_9abc_def0] {
            assert_eq!(Lun::from_linux_int(n).to_linux_int(), n);
        }
        assert_eq!(Lun::from_index(42).unwrap().to_string(), "42");
        assert_eq!(
            Lun([0x80, 1, 0, 0, 0, 0, 0, 2]).to_string(),
            "8001000000000002"
        );
    }

    #[test]
    fn status_keeps_unknown_values() {
        assert_eq!(Status::from(0x02), Status::CheckCondition);
        assert_eq!(Status::from(0x22), Status::Unknown(0x22));
        assert_eq!(u8::from(Status::TaskSetFull), 0x28);
    }

    /// xorshift64: deterministic, no dependencies.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn fill(&mut self, b: &mut [u8]) {
            for x in b {
                *x = self.next() as u8;
            }
        }
    }

    fn exercise(b: &[u8]) {
        if let Ok(c) = Cdb::parse(b) {
            // Whatever parses re-emits to something that parses the same.
            let mut out = [0u8; 16];
            c.emit(&mut out);
            assert_eq!(Cdb::parse(&out), Ok(c));
        }
        let _ = Sense::parse(b).map(|s| s.to_string());
        let _ = InquiryData::parse(b);
        if let Ok(p) = VpdPage::parse(b) {
            for d in p.designators() {
                assert!(d.data.len() <= b.len());
            }
            let _ = p.serial();
        }
        let _ = ReadCapacity10::parse(b);
        let _ = ReadCapacity16::parse(b);
        if let Ok(r) = ReportLuns::parse(b) {
            assert_eq!(r.iter().count(), r.len());
        }
        let _ = ModeHeader::parse6(b);
        let _ = ModeHeader::parse10(b);
    }

    #[test]
    fn random_truncated_and_bitflipped_inputs_never_panic() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let goldens: Vec<Vec<u8>> = [
            INQUIRY_DATA,
            VPD83,
            VPD80,
            READ_CAP16,
            MODE_SENSE6_08,
            SENSE_FIXED_96,
        ]
        .iter()
        .map(|h| hex(h))
        .chain(
            [
                &CDB_INQUIRY_36[..],
                &CDB_READ_CAP16,
                &CDB_READ10,
                &CDB_WRITE10,
                &CDB_REPORT_LUNS,
            ]
            .iter()
            .map(|c| c.to_vec()),
        )
        .collect();
        for g in &goldens {
            for n in 0..=g.len() {
                exercise(&g[..n]);
            }
            for _ in 0..2000 {
                let mut b = g.clone();
                let flips = 1 + rng.next() % 4;
                for _ in 0..flips {
                    let bit = (rng.next() % (b.len() as u64 * 8)) as usize;
                    b[bit / 8] ^= 1 << (bit % 8);
                }
                let n = (rng.next() as usize) % (b.len() + 1);
                exercise(&b);
                exercise(&b[..n]);
            }
        }
        let mut buf = [0u8; 256];
        for _ in 0..20_000 {
            let n = (rng.next() % 256) as usize;
            rng.fill(&mut buf[..n]);
            exercise(&buf[..n]);
        }
    }
}
