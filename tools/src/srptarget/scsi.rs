//! SCSI block-device semantics over [`Lun`]s (SPC-4/SBC-3, the subset LIO
//! answers for a disk): INQUIRY (standard, VPD 0x00/0x80/0x83), TEST UNIT
//! READY, REQUEST SENSE, READ CAPACITY(10/16), READ/WRITE(10/16),
//! SYNCHRONIZE CACHE(10/16) (fdatasync), REPORT LUNS, MODE SENSE(6/10)
//! (caching and control pages); CHECK CONDITION with fixed-format sense for
//! everything else. No transport here: a write returns
//! [`Exec::NeedData`] and is finished by [`finish_write`] once the data-out
//! has arrived.

use fabric::wire::scsi::{
    vpd, Cdb, Designator, InquiryData, Lun as ScsiLun, ModeHeader, ReadCapacity10, ReadCapacity16,
    ReportLuns, Sense, Status, VpdPage,
};
use fabric::wire::srp::PortId;

use super::lun::Lun;

/// Largest data transfer of one command (bytes). Larger requests are
/// refused with INVALID FIELD IN CDB (ib_srpt's rdma_rw limit is 16 MiB).
pub const MAX_TRANSFER: u64 = 16 << 20;

/// Sense values this target uses beyond `fabric`'s ready-made ones.
pub mod sense {
    use fabric::wire::scsi::{Sense, SenseKey};
    /// ILLEGAL REQUEST / INVALID FIELD IN COMMAND INFORMATION UNIT (LIO's
    /// answer to a write whose data-out length does not match the CDB).
    pub const INVALID_FIELD_IN_IU: Sense = Sense::new(SenseKey::IllegalRequest, 0x0E, 0x03);
    /// MEDIUM ERROR / UNRECOVERED READ ERROR.
    pub const READ_ERROR: Sense = Sense::new(SenseKey::MediumError, 0x11, 0x00);
    /// MEDIUM ERROR / WRITE ERROR.
    pub const WRITE_ERROR: Sense = Sense::new(SenseKey::MediumError, 0x0C, 0x00);
    /// ILLEGAL REQUEST / SAVING PARAMETERS NOT SUPPORTED.
    pub const SAVING_NOT_SUPPORTED: Sense = Sense::new(SenseKey::IllegalRequest, 0x39, 0x00);
    /// NO SENSE.
    pub const NO_SENSE: Sense = Sense::new(SenseKey::NoSense, 0, 0);
}

/// Who the target says it is in INQUIRY.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    /// T10 vendor identification.
    pub vendor: [u8; 8],
    /// Product identification.
    pub product: [u8; 16],
    /// Product revision.
    pub revision: [u8; 4],
    /// 24-bit company ID in the NAA designator (the target MAC's OUI).
    pub oui: u32,
}

impl Identity {
    /// `SRPBOOT  srp-target`.
    pub fn new(oui: u32) -> Identity {
        Identity {
            vendor: *b"SRPBOOT ",
            product: *b"srp-target      ",
            revision: *b"0001",
            oui,
        }
    }
}

/// A finished command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// SCSI status.
    pub status: Status,
    /// Sense data for CHECK CONDITION.
    pub sense: Option<Sense>,
    /// Data-in bytes to transfer (already cut to the buffer).
    pub data: Vec<u8>,
    /// Bytes the command would have returned with an unlimited buffer
    /// (for the residual count).
    pub full_len: u64,
}

impl Reply {
    /// GOOD without data.
    pub fn good() -> Reply {
        Reply {
            status: Status::Good,
            sense: None,
            data: Vec::new(),
            full_len: 0,
        }
    }
    /// CHECK CONDITION with `sense`.
    pub fn check(sense: Sense) -> Reply {
        Reply {
            status: Status::CheckCondition,
            sense: Some(sense),
            data: Vec::new(),
            full_len: 0,
        }
    }
    /// GOOD with parameter data, cut to the allocation length and buffer.
    fn data(mut data: Vec<u8>, alloc_len: u64, cap: u64) -> Reply {
        let full = (data.len() as u64).min(alloc_len);
        data.truncate(full.min(cap) as usize);
        Reply {
            status: Status::Good,
            sense: None,
            data,
            full_len: full,
        }
    }
}

/// What a command needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exec {
    /// Done.
    Done(Reply),
    /// A write: fetch exactly `len` bytes of data-out, then call
    /// [`finish_write`].
    NeedData(WriteReq),
}

/// A write waiting for its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteReq {
    /// LUN index.
    pub lun: usize,
    /// Byte offset.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// Force unit access: sync before answering.
    pub fua: bool,
}

/// Kind of a command, for counters and traces.
pub fn describe(cdb: &[u8]) -> String {
    match Cdb::parse(cdb) {
        Ok(c) => match c.block_range() {
            Some((lba, n)) => format!("{:?} lba={lba} blocks={n}", c.opcode()),
            None => format!("{:?}", c.opcode()),
        },
        Err(e) => format!("opcode 0x{:02x} ({e})", cdb.first().copied().unwrap_or(0)),
    }
}

/// Runs the CDB `cdb` on `lun` for initiator `who`. `data_in_cap` is the
/// size of the initiator's data-in buffer, `data_out_len` of its data-out
/// buffer.
pub fn execute(
    luns: &mut [Lun],
    id: &Identity,
    who: &PortId,
    lun: ScsiLun,
    cdb: &[u8],
    data_in_cap: u64,
    data_out_len: u64,
) -> Exec {
    let c = match Cdb::parse(cdb) {
        Ok(c) => c,
        Err(e) => return Exec::Done(Reply::check(e.sense())),
    };
    let index = lun.index().map(usize::from).filter(|&i| i < luns.len());
    // Commands that work without a LUN.
    match c {
        Cdb::ReportLuns {
            select_report,
            alloc_len,
        } => {
            if !matches!(select_report, 0 | 2) {
                return Exec::Done(Reply::check(Sense::INVALID_FIELD_IN_CDB));
            }
            let list: Vec<ScsiLun> = (0..luns.len())
                .filter_map(|i| ScsiLun::from_index(i as u16))
                .collect();
            let mut buf = vec![0u8; ReportLuns::buffer_len(list.len())];
            ReportLuns::emit(&list, &mut buf);
            return Exec::Done(Reply::data(buf, alloc_len.into(), data_in_cap));
        }
        Cdb::Inquiry {
            evpd: false,
            alloc_len,
            ..
        } if index.is_none() => {
            // Peripheral qualifier 3: no logical unit here.
            let mut d = InquiryData::disk(id.vendor, id.product, id.revision);
            d.qualifier = 3;
            d.device_type = 0x1F;
            let mut buf = vec![0u8; InquiryData::LEN];
            d.emit(&mut buf);
            return Exec::Done(Reply::data(buf, alloc_len.into(), data_in_cap));
        }
        Cdb::RequestSense { desc, alloc_len } => {
            let s = if index.is_none() {
                Sense::LUN_NOT_SUPPORTED
            } else {
                sense::NO_SENSE
            };
            return Exec::Done(Reply::data(
                sense_bytes(s, desc),
                alloc_len.into(),
                data_in_cap,
            ));
        }
        _ => {}
    }
    let Some(index) = index else {
        return Exec::Done(Reply::check(Sense::LUN_NOT_SUPPORTED));
    };
    let l = &mut luns[index];
    let bs = u64::from(l.block_size());
    let blocks = l.blocks();
    let done = |r: Reply| Exec::Done(r);
    match c {
        Cdb::TestUnitReady => done(Reply::good()),
        Cdb::Inquiry {
            evpd: false,
            alloc_len,
            ..
        } => {
            let mut buf = vec![0u8; InquiryData::LEN];
            InquiryData::disk(id.vendor, id.product, id.revision).emit(&mut buf);
            done(Reply::data(buf, alloc_len.into(), data_in_cap))
        }
        Cdb::Inquiry {
            evpd: true,
            page_code,
            alloc_len,
        } => match vpd_page(l, id, page_code) {
            Some(buf) => done(Reply::data(buf, alloc_len.into(), data_in_cap)),
            None => done(Reply::check(Sense::INVALID_FIELD_IN_CDB)),
        },
        Cdb::ReadCapacity10 => {
            let mut buf = vec![0u8; ReadCapacity10::LEN];
            ReadCapacity10::for_disk(blocks, bs as u32).emit(&mut buf);
            done(Reply::data(buf, ReadCapacity10::LEN as u64, data_in_cap))
        }
        Cdb::ReadCapacity16 { alloc_len } => {
            let mut buf = vec![0u8; ReadCapacity16::LEN];
            ReadCapacity16::for_disk(blocks, bs as u32).emit(&mut buf);
            done(Reply::data(buf, alloc_len.into(), data_in_cap))
        }
        Cdb::ModeSense6 {
            dbd,
            page_control,
            page_code,
            subpage,
            alloc_len,
        } => done(mode_sense(
            l,
            false,
            dbd,
            false,
            page_control,
            page_code,
            subpage,
            alloc_len.into(),
            data_in_cap,
        )),
        Cdb::ModeSense10 {
            llbaa,
            dbd,
            page_control,
            page_code,
            subpage,
            alloc_len,
        } => done(mode_sense(
            l,
            true,
            dbd,
            llbaa,
            page_control,
            page_code,
            subpage,
            alloc_len.into(),
            data_in_cap,
        )),
        Cdb::Read10 { .. } | Cdb::Read16 { .. } => {
            let (lba, n) = c.block_range().unwrap_or((0, 0));
            if !in_range(lba, n, blocks) {
                return done(Reply::check(Sense::LBA_OUT_OF_RANGE));
            }
            let full = u64::from(n) * bs;
            if full > MAX_TRANSFER {
                return done(Reply::check(Sense::INVALID_FIELD_IN_CDB));
            }
            let len = full.min(data_in_cap);
            let mut data = vec![0u8; len as usize];
            match l.read(who, lba * bs, &mut data) {
                Ok(()) => done(Reply {
                    status: Status::Good,
                    sense: None,
                    data,
                    full_len: full,
                }),
                Err(_) => done(Reply::check(sense::READ_ERROR)),
            }
        }
        Cdb::Write10 { fua, .. } | Cdb::Write16 { fua, .. } => {
            let (lba, n) = c.block_range().unwrap_or((0, 0));
            if !in_range(lba, n, blocks) {
                return done(Reply::check(Sense::LBA_OUT_OF_RANGE));
            }
            if l.read_only() {
                return done(Reply::check(Sense::WRITE_PROTECTED));
            }
            let len = u64::from(n) * bs;
            if len > MAX_TRANSFER {
                return done(Reply::check(Sense::INVALID_FIELD_IN_CDB));
            }
            if len != data_out_len {
                // LIO: "Rejecting underflow/overflow for WRITE data CDB".
                return done(Reply::check(sense::INVALID_FIELD_IN_IU));
            }
            if len == 0 {
                return done(Reply::good());
            }
            Exec::NeedData(WriteReq {
                lun: index,
                offset: lba * bs,
                len,
                fua,
            })
        }
        Cdb::SynchronizeCache10 { .. } | Cdb::SynchronizeCache16 { .. } => {
            let (lba, n) = c.block_range().unwrap_or((0, 0));
            if !in_range(lba, n, blocks) {
                return done(Reply::check(Sense::LBA_OUT_OF_RANGE));
            }
            match l.sync(who) {
                Ok(()) => done(Reply::good()),
                Err(_) => done(Reply::check(sense::WRITE_ERROR)),
            }
        }
        Cdb::ReportLuns { .. } | Cdb::RequestSense { .. } => unreachable!("handled above"),
    }
}

/// Writes the data of a [`WriteReq`].
pub fn finish_write(luns: &mut [Lun], who: &PortId, w: &WriteReq, data: &[u8]) -> Reply {
    let Some(l) = luns.get_mut(w.lun) else {
        return Reply::check(Sense::LUN_NOT_SUPPORTED);
    };
    if data.len() as u64 != w.len {
        return Reply::check(sense::INVALID_FIELD_IN_IU);
    }
    if l.write(who, w.offset, data).is_err() {
        return Reply::check(sense::WRITE_ERROR);
    }
    if w.fua && l.sync(who).is_err() {
        return Reply::check(sense::WRITE_ERROR);
    }
    Reply::good()
}

fn in_range(lba: u64, n: u32, blocks: u64) -> bool {
    lba.checked_add(u64::from(n))
        .is_some_and(|end| end <= blocks)
        && lba <= blocks
}

/// Fixed (or descriptor) sense bytes.
pub fn sense_bytes(s: Sense, desc: bool) -> Vec<u8> {
    if desc {
        let mut b = vec![0u8; Sense::DESCRIPTOR_LEN];
        s.emit_descriptor(&mut b);
        b
    } else {
        let mut b = vec![0u8; Sense::FIXED_LEN];
        s.emit_fixed(&mut b);
        b
    }
}

const SUPPORTED_VPD: [u8; 3] = [vpd::SUPPORTED_PAGES, vpd::UNIT_SERIAL, vpd::DEVICE_ID];

fn vpd_page(l: &Lun, id: &Identity, page: u8) -> Option<Vec<u8>> {
    let body: Vec<u8> = match page {
        vpd::SUPPORTED_PAGES => SUPPORTED_VPD.to_vec(),
        vpd::UNIT_SERIAL => l.serial().as_bytes().to_vec(),
        vpd::DEVICE_ID => {
            let mut out = Vec::new();
            // NAA 6 (IEEE registered extended): company ID, then 100 bits
            // from the LUN's stable identifier.
            let ident = l.ident();
            let hi: u64 = (0x6u64 << 60) | (u64::from(id.oui & 0xFF_FFFF) << 36) | (ident >> 28);
            let lo: u64 = (ident << 36) | (l.index() as u64 & 0xF_FFFF_FFFF);
            let mut naa = [0u8; 16];
            naa[..8].copy_from_slice(&hi.to_be_bytes());
            naa[8..].copy_from_slice(&lo.to_be_bytes());
            push_designator(&mut out, 0, 1, false, 0, 3, &naa);
            // T10 vendor ID: vendor then the serial.
            let mut t10 = id.vendor.to_vec();
            t10.extend_from_slice(l.serial().as_bytes());
            push_designator(&mut out, 0, 2, false, 0, 1, &t10);
            // Relative target port 1 (association: target port, SRP).
            push_designator(&mut out, 4, 1, true, 1, 4, &[0, 0, 0, 1]);
            out
        }
        _ => return None,
    };
    let p = VpdPage {
        peripheral: 0,
        page_code: page,
        page_len: body.len() as u16,
        data: &body,
    };
    let mut buf = vec![0u8; p.buffer_len()];
    p.emit(&mut buf);
    Some(buf)
}

fn push_designator(
    out: &mut Vec<u8>,
    proto: u8,
    code_set: u8,
    piv: bool,
    assoc: u8,
    ty: u8,
    data: &[u8],
) {
    let d = Designator {
        protocol_id: proto,
        code_set,
        piv,
        association: assoc,
        designator_type: ty,
        data,
    };
    let at = out.len();
    out.resize(at + d.buffer_len(), 0);
    d.emit(&mut out[at..]);
}

const PAGE_CACHING: u8 = 0x08;
const PAGE_CONTROL: u8 = 0x0A;
const PAGE_ALL: u8 = 0x3F;

fn mode_page(code: u8, changeable: bool) -> Vec<u8> {
    match code {
        PAGE_CACHING => {
            let mut p = vec![0u8; 20];
            p[0] = PAGE_CACHING;
            p[1] = 18;
            if !changeable {
                p[2] = 0x04; // WCE: writes are cached until SYNCHRONIZE CACHE
            }
            p
        }
        _ => {
            let mut p = vec![0u8; 12];
            p[0] = PAGE_CONTROL;
            p[1] = 10;
            if !changeable {
                p[3] = 0x10; // unrestricted reordering allowed
                p[8] = 0xFF; // busy timeout period: unlimited
                p[9] = 0xFF;
            }
            p
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn mode_sense(
    l: &Lun,
    ten: bool,
    dbd: bool,
    llbaa: bool,
    page_control: u8,
    page_code: u8,
    subpage: u8,
    alloc_len: u64,
    cap: u64,
) -> Reply {
    if page_control == 3 {
        return Reply::check(sense::SAVING_NOT_SUPPORTED);
    }
    let changeable = page_control == 1;
    let pages: Vec<u8> = match (page_code, subpage) {
        (PAGE_ALL, 0 | 0xFF) => {
            let mut v = mode_page(PAGE_CACHING, changeable);
            v.extend(mode_page(PAGE_CONTROL, changeable));
            v
        }
        (PAGE_CACHING | PAGE_CONTROL, 0) => mode_page(page_code, changeable),
        _ => return Reply::check(Sense::INVALID_FIELD_IN_CDB),
    };
    let bs = l.block_size();
    let blocks = l.blocks();
    let desc: Vec<u8> = if dbd {
        Vec::new()
    } else if ten && llbaa {
        let mut d = vec![0u8; 16];
        d[..8].copy_from_slice(&blocks.to_be_bytes());
        d[12..].copy_from_slice(&bs.to_be_bytes());
        d
    } else {
        let mut d = vec![0u8; 8];
        d[..4].copy_from_slice(&u32::try_from(blocks).unwrap_or(u32::MAX).to_be_bytes());
        d[5..8].copy_from_slice(&bs.to_be_bytes()[1..]);
        d
    };
    let dev = if l.read_only() { ModeHeader::WP } else { 0 } | ModeHeader::DPOFUA;
    let hlen = if ten {
        ModeHeader::LEN10
    } else {
        ModeHeader::LEN6
    };
    let total = hlen + desc.len() + pages.len();
    let h = ModeHeader {
        mode_data_len: (total - if ten { 2 } else { 1 }) as u16,
        medium_type: 0,
        device_specific: dev,
        long_lba: ten && llbaa && !dbd,
        block_desc_len: desc.len() as u16,
    };
    let mut buf = vec![0u8; hlen];
    if ten {
        h.emit10(&mut buf);
    } else {
        h.emit6(&mut buf);
    }
    buf.extend(desc);
    buf.extend(pages);
    Reply::data(buf, alloc_len, cap)
}
