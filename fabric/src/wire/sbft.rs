//! sBFT, the SRP Boot Firmware Table: how the boot ROM tells the OS driver
//! which SRP target, over which path, it booted from (fabric-wire.md §5).
//!
//! The table keeps iPXE's layout byte for byte (an ACPI-style header with
//! little-endian numbers and a checksum, then SCSI, SRP and IB subtables whose
//! identifiers are in network order) and adds one subtable for RoCE, found
//! through a 16-bit offset in a header byte range iPXE leaves reserved. An iPXE
//! table therefore parses here with no RoCE subtable, and a reader that only
//! knows iPXE's layout skips ours.
//!
//! # Layout
//!
//! | off | size | field | byte order |
//! |---|---|---|---|
//! | 0 | 4 | signature `"sBFT"` | |
//! | 4 | 4 | length of the whole table | LE |
//! | 8 | 1 | revision (1) | |
//! | 9 | 1 | checksum: all `length` bytes sum to 0 (mod 256) | |
//! | 10 | 6 | OEM ID | |
//! | 16 | 8 | OEM table ID | |
//! | 24 | 4 | OEM revision | LE |
//! | 28 | 4 | creator ID | |
//! | 32 | 4 | creator revision | LE |
//! | 36 | 2 | SCSI subtable offset (required) | LE |
//! | 38 | 2 | SRP subtable offset (required) | LE |
//! | 40 | 2 | IB subtable offset, 0 = none | LE |
//! | 42 | 2 | **srpboot:** RoCE subtable offset, 0 = none (reserved, zero, in iPXE) | LE |
//! | 44 | 4 | reserved | |
//!
//! SCSI subtable (8 bytes): the boot LUN (8-byte SAM LUN).
//!
//! SRP subtable (32 bytes): initiator port ID (16), target port ID (16).
//!
//! IB subtable (48 bytes): source GID (16), destination GID (16), service ID
//! (8, network order), P_Key (2, LE), 6 reserved. Over RoCEv2 the GIDs are
//! the IPv4-mapped addresses of both ends, the service ID is rdma_cm's
//! `0x0106 << 16 | port`, the P_Key 0xFFFF ([`IbSubtable::for_roce`]).
//!
//! **RoCE subtable (srpboot extension, 48 bytes)**, for what the IB subtable
//! cannot say. Addresses and identifiers in network order, like the IB
//! subtable; its own length little-endian, like the header:
//!
//! | off | size | field | byte order |
//! |---|---|---|---|
//! | 0 | 2 | length of this subtable (≥ 48; later versions may append) | LE |
//! | 2 | 1 | version (1) | |
//! | 3 | 1 | flags: 0x01 target GUID came from the boot URI (else EUI-64 of the target MAC); 0x02 immediate data was negotiated | |
//! | 4 | 6 | initiator MAC | |
//! | 10 | 6 | target MAC (as ARP resolved it) | |
//! | 16 | 4 | initiator IPv4 | BE |
//! | 20 | 4 | target IPv4 | BE |
//! | 24 | 2 | target rdma_cm port | BE |
//! | 26 | 1 | path MTU used (IB enum: 3 = 1024) | |
//! | 27 | 1 | initiator prefix length (version ≥ 2; 0 = not given) | |
//! | 28 | 8 | initiator node GUID (EUI-64 of the initiator MAC) | BE |
//! | 36 | 8 | target GUID (`srpt_service_guid`) | BE |
//! | 44 | 4 | QPN hint: the RC QPN the ROM used (low 24 bits); the OS driver must log in from another QPN (and a new CM comm ID), or the target's CM rejects it as stale | BE |
//! | 48 | 4 | gateway IPv4 (version ≥ 2, length ≥ 52; 0.0.0.0 = none): a routed target is reachable from the table alone | BE |
//!
//! [`SbftRepr::emit`] lays the table out as header (48), SCSI (48), SRP (56),
//! then IB (88) and RoCE (136, or 88 without IB): 188 bytes with both.
//! Version 1 RoCE subtables (48 bytes, no prefix or gateway) still parse.
//!
//! # Parsing
//!
//! Nothing in the table is trusted: the length must cover the header and lie
//! within the buffer, the checksum must be right (except under
//! `cfg(fuzzing)`), every subtable must lie inside the table after the header
//! without overlapping another, and the RoCE subtable's own length and
//! version are checked. Any violation is an [`Error`].

use super::bytes::{
    read_array, read_u16, read_u32, read_u64, write_u16, write_u32, write_u64, FUZZING,
};
use super::cm::{rdma_cm_service_id, Gid};
use super::eth::Address as MacAddress;
use super::ipv4::Address as Ipv4Address;
use super::scsi::Lun;
use super::srp::PortId;
use super::{Error, Result};

/// The table signature.
pub const SIGNATURE: [u8; 4] = *b"sBFT";

mod field {
    use core::ops::Range;
    pub const SIGNATURE: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..8;
    pub const REVISION: usize = 8;
    pub const CHECKSUM: usize = 9;
    pub const OEM_ID: Range<usize> = 10..16;
    pub const OEM_TABLE_ID: Range<usize> = 16..24;
    pub const OEM_REVISION: Range<usize> = 24..28;
    pub const CREATOR_ID: Range<usize> = 28..32;
    pub const CREATOR_REVISION: Range<usize> = 32..36;
    pub const SCSI_OFFSET: Range<usize> = 36..38;
    pub const SRP_OFFSET: Range<usize> = 38..40;
    pub const IB_OFFSET: Range<usize> = 40..42;
    pub const ROCE_OFFSET: Range<usize> = 42..44;
    pub const RESERVED: Range<usize> = 44..48;
    pub const HEADER_LEN: usize = 48;

    pub mod scsi {
        use core::ops::Range;
        pub const LUN: Range<usize> = 0..8;
        pub const LEN: usize = 8;
    }

    pub mod srp {
        use core::ops::Range;
        pub const INITIATOR: Range<usize> = 0..16;
        pub const TARGET: Range<usize> = 16..32;
        pub const LEN: usize = 32;
    }

    pub mod ib {
        use core::ops::Range;
        pub const SGID: Range<usize> = 0..16;
        pub const DGID: Range<usize> = 16..32;
        pub const SERVICE_ID: Range<usize> = 32..40;
        pub const PKEY: Range<usize> = 40..42;
        pub const LEN: usize = 48;
    }

    pub mod roce {
        use core::ops::Range;
        pub const LENGTH: Range<usize> = 0..2;
        pub const VERSION: usize = 2;
        pub const FLAGS: usize = 3;
        pub const INITIATOR_MAC: Range<usize> = 4..10;
        pub const TARGET_MAC: Range<usize> = 10..16;
        pub const INITIATOR_IP: Range<usize> = 16..20;
        pub const TARGET_IP: Range<usize> = 20..24;
        pub const PORT: Range<usize> = 24..26;
        pub const PATH_MTU: usize = 26;
        pub const INITIATOR_GUID: Range<usize> = 28..36;
        pub const TARGET_GUID: Range<usize> = 36..44;
        pub const QPN_HINT: Range<usize> = 44..48;
        pub const PREFIX_LEN: usize = 27;
        pub const GATEWAY: Range<usize> = 48..52;
        /// Version 1 (no prefix, no gateway).
        pub const LEN_V1: usize = 48;
        pub const LEN: usize = 52;
    }
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A view of an sBFT in a buffer. `check_len` validates the header, the
/// length and the subtable placement (not the checksum: see
/// [`Packet::verify_checksum`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without looking at it (for output buffers).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` after [`Packet::check_len`].
    ///
    /// # Errors
    /// Whatever `check_len` reports.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Checks that the signature is `sBFT`, the length covers the 48-byte
    /// header and fits the buffer, the SCSI and SRP subtables are present,
    /// and each present subtable (RoCE: with its own declared length, at
    /// least 48) lies between the header and the table end without overlapping
    /// another.
    ///
    /// # Errors
    /// Any of those rules broken.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < field::HEADER_LEN || b[field::SIGNATURE] != SIGNATURE {
            return Err(Error);
        }
        let len = self.length() as usize;
        if len < field::HEADER_LEN || len > b.len() {
            return Err(Error);
        }
        if self.scsi_offset() == 0 || self.srp_offset() == 0 {
            return Err(Error);
        }
        // Place the fixed-size subtables first; the RoCE length is read only
        // once its length field is known to be inside the table.
        let mut spans: [(usize, usize); 4] = [(0, 0); 4];
        let fixed = [
            (self.scsi_offset(), field::scsi::LEN),
            (self.srp_offset(), field::srp::LEN),
            (self.ib_offset(), field::ib::LEN),
        ];
        for (i, &(off, size)) in fixed.iter().enumerate() {
            spans[i] = place(off, size, len)?;
        }
        let roce = self.roce_offset();
        if roce != 0 {
            place(roce, 2, len)?;
            let size = le16(&b[usize::from(roce)..]) as usize;
            if size < field::roce::LEN_V1 {
                return Err(Error);
            }
            spans[3] = place(roce, size, len)?;
        }
        for i in 0..spans.len() {
            for j in i + 1..spans.len() {
                let (a, b) = (spans[i], spans[j]);
                if a.0 < a.1 && b.0 < b.1 && a.0 < b.1 && b.0 < a.1 {
                    return Err(Error);
                }
            }
        }
        Ok(())
    }

    /// Whether the `length` bytes sum to zero. Always true under
    /// `cfg(fuzzing)`.
    ///
    /// # Panics
    /// If `check_len` would fail.
    pub fn verify_checksum(&self) -> bool {
        FUZZING || checksum(&self.buffer.as_ref()[..self.length() as usize]) == 0
    }

    /// Signature bytes.
    pub fn signature(&self) -> [u8; 4] {
        read_array(&self.buffer.as_ref()[field::SIGNATURE])
    }
    /// Table length (LE).
    pub fn length(&self) -> u32 {
        le32(&self.buffer.as_ref()[field::LENGTH])
    }
    /// Revision.
    pub fn revision(&self) -> u8 {
        self.buffer.as_ref()[field::REVISION]
    }
    /// Checksum byte.
    pub fn checksum(&self) -> u8 {
        self.buffer.as_ref()[field::CHECKSUM]
    }
    /// OEM ID.
    pub fn oem_id(&self) -> [u8; 6] {
        read_array(&self.buffer.as_ref()[field::OEM_ID])
    }
    /// OEM table ID.
    pub fn oem_table_id(&self) -> [u8; 8] {
        read_array(&self.buffer.as_ref()[field::OEM_TABLE_ID])
    }
    /// OEM revision (LE).
    pub fn oem_revision(&self) -> u32 {
        le32(&self.buffer.as_ref()[field::OEM_REVISION])
    }
    /// Creator ID.
    pub fn creator_id(&self) -> [u8; 4] {
        read_array(&self.buffer.as_ref()[field::CREATOR_ID])
    }
    /// Creator revision (LE).
    pub fn creator_revision(&self) -> u32 {
        le32(&self.buffer.as_ref()[field::CREATOR_REVISION])
    }
    /// SCSI subtable offset (LE).
    pub fn scsi_offset(&self) -> u16 {
        le16(&self.buffer.as_ref()[field::SCSI_OFFSET])
    }
    /// SRP subtable offset (LE).
    pub fn srp_offset(&self) -> u16 {
        le16(&self.buffer.as_ref()[field::SRP_OFFSET])
    }
    /// IB subtable offset (LE), 0 when absent.
    pub fn ib_offset(&self) -> u16 {
        le16(&self.buffer.as_ref()[field::IB_OFFSET])
    }
    /// RoCE subtable offset (LE), 0 when absent.
    pub fn roce_offset(&self) -> u16 {
        le16(&self.buffer.as_ref()[field::ROCE_OFFSET])
    }

    /// The bytes of a subtable at `off` (assumes `check_len` passed).
    fn sub(&self, off: u16, len: usize) -> &[u8] {
        let o = usize::from(off);
        &self.buffer.as_ref()[o..o + len]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the checksum byte so the `length` bytes sum to zero.
    ///
    /// # Panics
    /// If the buffer is shorter than `length`.
    pub fn fill_checksum(&mut self) {
        let len = self.length() as usize;
        let b = self.buffer.as_mut();
        b[field::CHECKSUM] = 0;
        b[field::CHECKSUM] = checksum(&b[..len]).wrapping_neg();
    }
}

/// `(off, off + size)` if that range lies inside `[48, table_len)`; `(0, 0)`
/// for an absent (offset 0) subtable.
fn place(off: u16, size: usize, table_len: usize) -> Result<(usize, usize)> {
    if off == 0 {
        return Ok((0, 0));
    }
    let start = usize::from(off);
    let end = start + size;
    if start < field::HEADER_LEN || end > table_len {
        return Err(Error);
    }
    Ok((start, end))
}

/// Byte sum modulo 256.
fn checksum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |a, &x| a.wrapping_add(x))
}

/// The IB subtable (iPXE's), which over RoCEv2 carries IPv4-mapped GIDs and
/// the rdma_cm service ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IbSubtable {
    /// Source (initiator) GID.
    pub sgid: Gid,
    /// Destination (target) GID.
    pub dgid: Gid,
    /// Service ID of the CM REQ.
    pub service_id: u64,
    /// Partition key.
    pub pkey: u16,
}

impl IbSubtable {
    /// The values a RoCEv2 rdma_cm login uses: `::ffff:` GIDs, service ID
    /// `0x0106 << 16 | port`, P_Key 0xFFFF.
    pub const fn for_roce(initiator: Ipv4Address, target: Ipv4Address, port: u16) -> IbSubtable {
        IbSubtable {
            sgid: Gid::from_ipv4(initiator),
            dgid: Gid::from_ipv4(target),
            service_id: rdma_cm_service_id(port),
            pkey: 0xFFFF,
        }
    }
}

/// RoCE subtable flag: the target GUID came from the boot URI.
pub const ROCE_FLAG_GUID_FROM_URI: u8 = 0x01;
/// RoCE subtable flag: SRP immediate data was negotiated.
pub const ROCE_FLAG_IMMEDIATE_DATA: u8 = 0x02;

/// The srpboot RoCE subtable (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoceSubtable {
    /// Version (1).
    pub version: u8,
    /// `ROCE_FLAG_*` bits (unknown bits kept).
    pub flags: u8,
    /// Initiator (our NIC) MAC.
    pub initiator_mac: MacAddress,
    /// Target MAC as ARP resolved it.
    pub target_mac: MacAddress,
    /// Initiator IPv4.
    pub initiator_ip: Ipv4Address,
    /// Target IPv4.
    pub target_ip: Ipv4Address,
    /// rdma_cm port of the target.
    pub rdma_cm_port: u16,
    /// Path MTU enum used (3 = 1024).
    pub path_mtu: u8,
    /// Initiator node GUID.
    pub initiator_guid: u64,
    /// Target (service) GUID.
    pub target_guid: u64,
    /// RC QPN the ROM used (24 bits).
    pub qpn_hint: u32,
    /// Initiator prefix length (0: not given, as in version 1).
    pub prefix_len: u8,
    /// Gateway towards the target (None: same subnet, or version 1).
    pub gateway: Option<Ipv4Address>,
}

/// The sBFT contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SbftRepr {
    /// Header revision (1).
    pub revision: u8,
    /// OEM ID.
    pub oem_id: [u8; 6],
    /// OEM table ID.
    pub oem_table_id: [u8; 8],
    /// OEM revision.
    pub oem_revision: u32,
    /// Creator ID.
    pub creator_id: [u8; 4],
    /// Creator revision.
    pub creator_revision: u32,
    /// Boot LUN.
    pub lun: Lun,
    /// Initiator port ID used at login.
    pub initiator_port_id: PortId,
    /// Target port ID used at login.
    pub target_port_id: PortId,
    /// IB subtable, if any.
    pub ib: Option<IbSubtable>,
    /// RoCE subtable, if any.
    pub roce: Option<RoceSubtable>,
}

impl SbftRepr {
    /// Header length (ACPI header plus offsets).
    pub const HEADER_LEN: usize = field::HEADER_LEN;
    /// Length of the table iPXE writes (SCSI + SRP + IB).
    pub const IPXE_LEN: usize = 136;

    /// Parses and validates a table.
    ///
    /// # Errors
    /// Anything [`Packet::check_len`] rejects, or a bad checksum.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<SbftRepr> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(Error);
        }
        let scsi = p.sub(p.scsi_offset(), field::scsi::LEN);
        let srp = p.sub(p.srp_offset(), field::srp::LEN);
        let ib = (p.ib_offset() != 0).then(|| {
            let b = p.sub(p.ib_offset(), field::ib::LEN);
            IbSubtable {
                sgid: Gid(read_array(&b[field::ib::SGID])),
                dgid: Gid(read_array(&b[field::ib::DGID])),
                service_id: read_u64(&b[field::ib::SERVICE_ID]),
                pkey: le16(&b[field::ib::PKEY]),
            }
        });
        let roce = if p.roce_offset() != 0 {
            use field::roce::*;
            // check_len placed the subtable with its own length (≥ LEN_V1).
            let size = usize::from(le16(p.sub(p.roce_offset(), 2)));
            let b = p.sub(p.roce_offset(), size);
            if b[VERSION] == 0 {
                return Err(Error);
            }
            let v2 = b[VERSION] >= 2 && size >= LEN;
            Some(RoceSubtable {
                version: b[VERSION],
                flags: b[FLAGS],
                initiator_mac: MacAddress(read_array(&b[INITIATOR_MAC])),
                target_mac: MacAddress(read_array(&b[TARGET_MAC])),
                initiator_ip: Ipv4Address(read_array(&b[INITIATOR_IP])),
                target_ip: Ipv4Address(read_array(&b[TARGET_IP])),
                rdma_cm_port: read_u16(&b[PORT]),
                path_mtu: b[PATH_MTU],
                initiator_guid: read_u64(&b[INITIATOR_GUID]),
                target_guid: read_u64(&b[TARGET_GUID]),
                qpn_hint: read_u32(&b[QPN_HINT]) & 0x00FF_FFFF,
                prefix_len: if v2 { b[PREFIX_LEN].min(32) } else { 0 },
                gateway: v2
                    .then(|| Ipv4Address(read_array(&b[GATEWAY])))
                    .filter(|g| g.0 != [0; 4]),
            })
        } else {
            None
        };
        Ok(SbftRepr {
            revision: p.revision(),
            oem_id: p.oem_id(),
            oem_table_id: p.oem_table_id(),
            oem_revision: p.oem_revision(),
            creator_id: p.creator_id(),
            creator_revision: p.creator_revision(),
            lun: Lun(read_array(&scsi[field::scsi::LUN])),
            initiator_port_id: PortId(read_array(&srp[field::srp::INITIATOR])),
            target_port_id: PortId(read_array(&srp[field::srp::TARGET])),
            ib,
            roce,
        })
    }

    /// Offsets of the optional IB and RoCE subtables (0 when absent) and the
    /// table length, in our layout.
    fn offsets(&self) -> (usize, usize, usize) {
        let after_srp = field::HEADER_LEN + field::scsi::LEN + field::srp::LEN;
        let ib = if self.ib.is_some() { after_srp } else { 0 };
        let after_ib = after_srp + if self.ib.is_some() { field::ib::LEN } else { 0 };
        let roce = if self.roce.is_some() { after_ib } else { 0 };
        let end = after_ib
            + if self.roce.is_some() {
                field::roce::LEN
            } else {
                0
            };
        (ib, roce, end)
    }

    /// Bytes [`SbftRepr::emit`] writes (136 for iPXE's three subtables, 188
    /// with the RoCE one).
    pub fn buffer_len(&self) -> usize {
        self.offsets().2
    }

    /// Writes the whole table, checksum last.
    ///
    /// # Panics
    /// If the buffer is shorter than [`SbftRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        let (ib_off, roce_off, len) = self.offsets();
        let scsi_off = field::HEADER_LEN;
        let srp_off = scsi_off + field::scsi::LEN;
        {
            let b = &mut p.buffer.as_mut()[..len];
            b.fill(0);
            b[field::SIGNATURE].copy_from_slice(&SIGNATURE);
            b[field::LENGTH].copy_from_slice(&(len as u32).to_le_bytes());
            b[field::REVISION] = self.revision;
            b[field::OEM_ID].copy_from_slice(&self.oem_id);
            b[field::OEM_TABLE_ID].copy_from_slice(&self.oem_table_id);
            b[field::OEM_REVISION].copy_from_slice(&self.oem_revision.to_le_bytes());
            b[field::CREATOR_ID].copy_from_slice(&self.creator_id);
            b[field::CREATOR_REVISION].copy_from_slice(&self.creator_revision.to_le_bytes());
            b[field::SCSI_OFFSET].copy_from_slice(&(scsi_off as u16).to_le_bytes());
            b[field::SRP_OFFSET].copy_from_slice(&(srp_off as u16).to_le_bytes());
            b[field::IB_OFFSET].copy_from_slice(&(ib_off as u16).to_le_bytes());
            b[field::ROCE_OFFSET].copy_from_slice(&(roce_off as u16).to_le_bytes());
            b[field::RESERVED].fill(0);

            let s = &mut b[scsi_off..scsi_off + field::scsi::LEN];
            s[field::scsi::LUN].copy_from_slice(&self.lun.0);
            let s = &mut b[srp_off..srp_off + field::srp::LEN];
            s[field::srp::INITIATOR].copy_from_slice(&self.initiator_port_id.0);
            s[field::srp::TARGET].copy_from_slice(&self.target_port_id.0);
            if let Some(ib) = &self.ib {
                let s = &mut b[ib_off..ib_off + field::ib::LEN];
                s[field::ib::SGID].copy_from_slice(&ib.sgid.0);
                s[field::ib::DGID].copy_from_slice(&ib.dgid.0);
                write_u64(&mut s[field::ib::SERVICE_ID], ib.service_id);
                s[field::ib::PKEY].copy_from_slice(&ib.pkey.to_le_bytes());
            }
            if let Some(r) = &self.roce {
                use field::roce::*;
                let s = &mut b[roce_off..roce_off + LEN];
                s[LENGTH].copy_from_slice(&(LEN as u16).to_le_bytes());
                s[VERSION] = r.version;
                s[FLAGS] = r.flags;
                s[INITIATOR_MAC].copy_from_slice(&r.initiator_mac.0);
                s[TARGET_MAC].copy_from_slice(&r.target_mac.0);
                s[INITIATOR_IP].copy_from_slice(&r.initiator_ip.0);
                s[TARGET_IP].copy_from_slice(&r.target_ip.0);
                write_u16(&mut s[PORT], r.rdma_cm_port);
                s[PATH_MTU] = r.path_mtu;
                write_u64(&mut s[INITIATOR_GUID], r.initiator_guid);
                write_u64(&mut s[TARGET_GUID], r.target_guid);
                write_u32(&mut s[QPN_HINT], r.qpn_hint & 0x00FF_FFFF);
                s[PREFIX_LEN] = r.prefix_len;
                s[GATEWAY].copy_from_slice(&r.gateway.map_or([0; 4], |g| g.0));
            }
        }
        p.fill_checksum();
    }
}

/// Finds an sBFT in a memory image the way an OS scans low memory: at each
/// 16-byte boundary of `mem`, a signature followed by a table that parses.
/// Returns the offset and the table.
pub fn scan(mem: &[u8]) -> Option<(usize, SbftRepr)> {
    (0..mem.len()).step_by(16).find_map(|off| {
        let b = &mem[off..];
        if b.len() < 4 || b[..4] != SIGNATURE {
            return None;
        }
        SbftRepr::parse(&Packet::new_unchecked(b))
            .ok()
            .map(|r| (off, r))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    /// The identities of the golden capture (SEQUENCE.md): initiator
    /// 52:54:00:77:00:02 / 192.168.77.2, target 52:54:00:77:00:01 /
    /// 192.168.77.1 on rdma_cm port 5000, QPN 0x11.
    fn golden_repr(roce: bool) -> SbftRepr {
        let ip_i = Ipv4Address::new(192, 168, 77, 2);
        let ip_t = Ipv4Address::new(192, 168, 77, 1);
        SbftRepr {
            revision: 1,
            oem_id: *b"SRPBT ",
            oem_table_id: *b"srpboot ",
            oem_revision: 1,
            creator_id: *b"SRPB",
            creator_revision: 0x0001_0000,
            lun: Lun::ZERO,
            initiator_port_id: PortId::new(0, 0x5054_00ff_fe77_0002),
            target_port_id: PortId::new(0x5054_00ff_fe77_0001, 0x5054_00ff_fe77_0001),
            ib: Some(IbSubtable::for_roce(ip_i, ip_t, 5000)),
            roce: roce.then_some(RoceSubtable {
                version: 1,
                flags: ROCE_FLAG_IMMEDIATE_DATA,
                initiator_mac: MacAddress([0x52, 0x54, 0, 0x77, 0, 2]),
                target_mac: MacAddress([0x52, 0x54, 0, 0x77, 0, 1]),
                initiator_ip: ip_i,
                target_ip: ip_t,
                rdma_cm_port: 5000,
                path_mtu: 3,
                initiator_guid: 0x5054_00ff_fe77_0002,
                target_guid: 0x5054_00ff_fe77_0001,
                qpn_hint: 0x11,
                prefix_len: 0,
                gateway: None,
            }),
        }
    }

    /// An iPXE-style table (136 bytes, offsets 48/56/88, byte 42..48 zero),
    /// written out by hand from iPXE's layout.
    fn ipxe_table() -> Vec<u8> {
        let mut t = vec![0u8; 136];
        t[0..4].copy_from_slice(b"sBFT");
        t[4..8].copy_from_slice(&136u32.to_le_bytes());
        t[8] = 1;
        t[10..16].copy_from_slice(b"FENSYS");
        t[16..24].copy_from_slice(b"iPXE\0\0\0\0");
        t[36..38].copy_from_slice(&48u16.to_le_bytes());
        t[38..40].copy_from_slice(&56u16.to_le_bytes());
        t[40..42].copy_from_slice(&88u16.to_le_bytes());
        t[49] = 2; // LUN 2
        t[56..64].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        t[64..72].copy_from_slice(&0x0002_c903_0000_0001u64.to_be_bytes());
        t[72..80].copy_from_slice(&0x0002_c903_0000_0002u64.to_be_bytes());
        t[80..88].copy_from_slice(&0x0002_c903_0000_0002u64.to_be_bytes());
        t[88..96].copy_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
        t[96..104].copy_from_slice(&0x0002_c903_0000_0001u64.to_be_bytes());
        t[104..112].copy_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
        t[112..120].copy_from_slice(&0x0002_c903_0000_0009u64.to_be_bytes());
        t[120..128].copy_from_slice(&0x0002_c903_0000_0002u64.to_be_bytes());
        t[128..130].copy_from_slice(&0xFFFFu16.to_le_bytes());
        let sum = t.iter().fold(0u8, |a, &x| a.wrapping_add(x));
        t[9] = sum.wrapping_neg();
        t
    }

    #[test]
    fn ipxe_layout_parses() {
        let t = ipxe_table();
        let r = SbftRepr::parse(&Packet::new_checked(&t[..]).unwrap()).unwrap();
        assert_eq!(&r.oem_id, b"FENSYS");
        assert_eq!(r.lun, Lun::from_index(2).unwrap());
        assert_eq!(r.initiator_port_id.id_ext(), 0x1122_3344_5566_7788);
        assert_eq!(r.target_port_id.guid(), 0x0002_c903_0000_0002);
        let ib = r.ib.unwrap();
        assert_eq!(ib.sgid.interface_id(), 0x0002_c903_0000_0001);
        assert_eq!(ib.service_id, 0x0002_c903_0000_0002);
        assert_eq!(ib.pkey, 0xFFFF);
        assert_eq!(r.roce, None);
        // Our emitter reproduces iPXE's bytes exactly.
        assert_eq!(r.buffer_len(), SbftRepr::IPXE_LEN);
        let mut out = [0xA5u8; 140];
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(&out[..136], &t[..]);
        assert_eq!(&out[136..], &[0xA5; 4]);
    }

    #[test]
    fn roce_table_round_trips() {
        let r = golden_repr(true);
        assert_eq!(r.buffer_len(), 188);
        let mut out = [0x5Au8; 194];
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(&out[188..], &[0x5A; 6]);
        let p = Packet::new_checked(&out[..188]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(
            (
                p.scsi_offset(),
                p.srp_offset(),
                p.ib_offset(),
                p.roce_offset()
            ),
            (48, 56, 88, 136)
        );
        assert_eq!(SbftRepr::parse(&p), Ok(r));
        // Byte-level spot checks of the documented layout.
        assert_eq!(&out[0..4], b"sBFT");
        assert_eq!(&out[4..8], &[188, 0, 0, 0]);
        assert_eq!(out.iter().take(188).fold(0u8, |a, &x| a.wrapping_add(x)), 0);
        let ib = &out[88..136];
        assert_eq!(
            &ib[0..16],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 77, 2]
        );
        assert_eq!(&ib[32..40], &0x0000_0000_0106_1388u64.to_be_bytes());
        assert_eq!(&ib[40..42], &[0xff, 0xff]);
        let roce = &out[136..188];
        assert_eq!(&roce[0..4], &[52, 0, 1, ROCE_FLAG_IMMEDIATE_DATA]);
        assert_eq!(&roce[4..10], &[0x52, 0x54, 0, 0x77, 0, 2]);
        assert_eq!(
            &roce[16..26],
            &[192, 168, 77, 2, 192, 168, 77, 1, 0x13, 0x88]
        );
        assert_eq!(roce[26], 3);
        assert_eq!(
            &roce[28..36],
            &[0x50, 0x54, 0x00, 0xff, 0xfe, 0x77, 0x00, 0x02]
        );
        assert_eq!(&roce[44..48], &[0, 0, 0, 0x11]);
        assert_eq!(roce[27], 0, "no prefix given");
        assert_eq!(&roce[48..52], &[0; 4], "no gateway");
        // Without the IB subtable the RoCE one moves up to 88.
        let no_ib = SbftRepr { ib: None, ..r };
        let mut out = [0u8; 140];
        no_ib.emit(&mut Packet::new_unchecked(&mut out[..]));
        let p = Packet::new_checked(&out[..]).unwrap();
        assert_eq!((p.ib_offset(), p.roce_offset(), p.length()), (0, 88, 140));
        assert_eq!(SbftRepr::parse(&p), Ok(no_ib));
        // A longer (future) RoCE subtable is accepted.
        let mut big = [0u8; 200];
        r.emit(&mut Packet::new_unchecked(&mut big[..]));
        big[4..8].copy_from_slice(&200u32.to_le_bytes());
        big[136..138].copy_from_slice(&64u16.to_le_bytes());
        Packet::new_unchecked(&mut big[..]).fill_checksum();
        assert_eq!(SbftRepr::parse(&Packet::new_unchecked(&big[..])), Ok(r));
    }

    /// Version 2 carries the prefix and the gateway (a routed target); a
    /// version 1 subtable (48 bytes) still parses, without them.
    #[test]
    fn roce_v2_prefix_and_gateway_and_v1_compatibility() {
        let mut r = golden_repr(true);
        let mut roce = r.roce.unwrap();
        roce.version = 2;
        roce.prefix_len = 24;
        roce.gateway = Some(Ipv4Address([192, 168, 77, 254]));
        r.roce = Some(roce);
        let mut out = [0u8; 188];
        r.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out[136 + 27], 24);
        assert_eq!(&out[136 + 48..188], &[192, 168, 77, 254]);
        assert_eq!(SbftRepr::parse(&Packet::new_unchecked(&out[..])), Ok(r));
        // The same bytes labelled version 1: prefix and gateway ignored.
        let mut v1 = out;
        v1[136 + 2] = 1;
        Packet::new_unchecked(&mut v1[..]).fill_checksum();
        let p = SbftRepr::parse(&Packet::new_unchecked(&v1[..])).unwrap();
        let got = p.roce.unwrap();
        assert_eq!((got.prefix_len, got.gateway), (0, None));
        // A version 1 table as session 1's ROM wrote it: 184 bytes, a
        // 48-byte RoCE subtable.
        let mut old = [0u8; 184];
        old.copy_from_slice(&v1[..184]);
        old[4..8].copy_from_slice(&184u32.to_le_bytes());
        old[136..138].copy_from_slice(&48u16.to_le_bytes());
        Packet::new_unchecked(&mut old[..]).fill_checksum();
        let p = SbftRepr::parse(&Packet::new_unchecked(&old[..])).unwrap();
        assert_eq!(p.roce.unwrap().initiator_ip, Ipv4Address([192, 168, 77, 2]));
        assert_eq!(p.roce.unwrap().gateway, None);
        // A prefix over 32 is clamped, never trusted as a shift.
        let mut bad = out;
        bad[136 + 27] = 200;
        Packet::new_unchecked(&mut bad[..]).fill_checksum();
        let p = SbftRepr::parse(&Packet::new_unchecked(&bad[..])).unwrap();
        assert_eq!(p.roce.unwrap().prefix_len, 32);
    }

    fn fixed(mut t: Vec<u8>) -> Vec<u8> {
        let len = (le32(&t[4..8]) as usize).min(t.len());
        t[9] = 0;
        let s = checksum(&t[..len]);
        t[9] = s.wrapping_neg();
        t
    }

    fn parse(t: &[u8]) -> Result<SbftRepr> {
        SbftRepr::parse(&Packet::new_unchecked(t))
    }

    #[test]
    fn rejections() {
        let mut good = vec![0u8; 188];
        golden_repr(true).emit(&mut Packet::new_unchecked(&mut good[..]));
        assert!(parse(&good).is_ok());
        let edit = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut t = good.clone();
            f(&mut t);
            fixed(t)
        };
        // Too short for the header; buffer shorter than the length.
        assert_eq!(parse(&good[..47]), Err(Error));
        assert_eq!(parse(&good[..187]), Err(Error));
        // Bad signature.
        assert_eq!(parse(&edit(&|t| t[0] = b'i')), Err(Error));
        // Bad checksum.
        let mut t = good.clone();
        t[100] ^= 1;
        assert_eq!(parse(&t), Err(Error));
        // Length below the header, or huge.
        assert_eq!(
            parse(&edit(&|t| t[4..8].copy_from_slice(&40u32.to_le_bytes()))),
            Err(Error)
        );
        assert_eq!(
            parse(&edit(&|t| t[4..8].copy_from_slice(&u32::MAX.to_le_bytes()))),
            Err(Error)
        );
        // Missing SCSI or SRP subtable.
        assert_eq!(parse(&edit(&|t| t[36..38].fill(0))), Err(Error));
        assert_eq!(parse(&edit(&|t| t[38..40].fill(0))), Err(Error));
        // A subtable inside the header, past the end, or overlapping another.
        assert_eq!(
            parse(&edit(&|t| t[36..38].copy_from_slice(&8u16.to_le_bytes()))),
            Err(Error)
        );
        assert_eq!(
            parse(&edit(&|t| t[40..42].copy_from_slice(&180u16.to_le_bytes()))),
            Err(Error)
        );
        assert_eq!(
            parse(&edit(
                &|t| t[42..44].copy_from_slice(&u16::MAX.to_le_bytes())
            )),
            Err(Error)
        );
        assert_eq!(
            parse(&edit(&|t| t[38..40].copy_from_slice(&52u16.to_le_bytes()))),
            Err(Error)
        );
        assert_eq!(
            parse(&edit(&|t| t[42..44].copy_from_slice(&100u16.to_le_bytes()))),
            Err(Error)
        );
        // RoCE subtable: length below 48, beyond the table, version 0.
        assert_eq!(
            parse(&edit(&|t| t[136..138].copy_from_slice(&47u16.to_le_bytes()))),
            Err(Error)
        );
        assert_eq!(
            parse(&edit(&|t| t[136..138].copy_from_slice(&53u16.to_le_bytes()))),
            Err(Error)
        );
        assert_eq!(parse(&edit(&|t| t[138] = 0)), Err(Error));
        // RoCE offset whose length field itself is outside the table.
        assert_eq!(
            parse(&edit(&|t| t[42..44].copy_from_slice(&187u16.to_le_bytes()))),
            Err(Error)
        );
    }

    #[test]
    fn scan_finds_the_table_on_a_paragraph() {
        let mut mem = vec![0u8; 4096];
        // A decoy signature with garbage behind it, then the real table.
        mem[0x100..0x104].copy_from_slice(b"sBFT");
        mem[0x108] = 0xFF;
        let r = golden_repr(true);
        r.emit(&mut Packet::new_unchecked(&mut mem[0x230..]));
        // Not on a 16-byte boundary: not found.
        let mut odd = vec![0u8; 4096];
        r.emit(&mut Packet::new_unchecked(&mut odd[0x238..]));
        assert_eq!(scan(&odd), None);
        assert_eq!(scan(&mem), Some((0x230, r)));
        // Cut through the table: not found.
        assert_eq!(scan(&mem[..0x230 + 100]), None);
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
    }

    #[test]
    fn random_truncated_and_bitflipped_tables_never_panic() {
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let mut goldens = vec![ipxe_table()];
        for roce in [false, true] {
            let r = golden_repr(roce);
            let mut t = vec![0u8; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut t[..]));
            goldens.push(t);
        }
        for g in &goldens {
            for n in 0..=g.len() {
                let _ = parse(&g[..n]);
            }
            for _ in 0..5000 {
                let mut t = g.clone();
                for _ in 0..1 + rng.next() % 3 {
                    // Flip a bit in the header half the time.
                    let bytes = if rng.next().is_multiple_of(2) {
                        48
                    } else {
                        t.len()
                    };
                    let bit = (rng.next() % (bytes as u64 * 8)) as usize;
                    t[bit / 8] ^= 1 << (bit % 8);
                }
                // Fix the checksum now and then so the later checks run too.
                let t = if rng.next().is_multiple_of(2) {
                    fixed(t)
                } else {
                    t
                };
                if let Ok(r) = parse(&t) {
                    // Whatever parses re-emits to a table that parses the same.
                    let mut out = vec![0u8; r.buffer_len()];
                    r.emit(&mut Packet::new_unchecked(&mut out[..]));
                    assert_eq!(parse(&out), Ok(r));
                }
                let n = (rng.next() as usize) % (t.len() + 1);
                let _ = parse(&t[..n]);
                let _ = scan(&t);
            }
        }
    }
}
