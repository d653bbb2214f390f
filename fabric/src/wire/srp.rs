//! SRP information units (T10 SRP / SRP-2 as Linux `include/scsi/srp.h`
//! lays them out; fabric-wire.md §4).
//!
//! One `…Packet<T>` view and one `…Repr` per IU layout:
//!
//! | IU | code | view | repr |
//! |---|---|---|---|
//! | SRP_LOGIN_REQ, classic 64 bytes (IB CM) | 0x00 | [`LoginReqPacket`] | [`LoginReqRepr`] |
//! | SRP_LOGIN_REQ, rdma_cm 56 bytes | (0x00 at byte 11) | [`LoginReqRdmaPacket`] | [`LoginReqRepr`] |
//! | SRP_LOGIN_RSP | 0xC0 | [`LoginRspPacket`] | [`LoginRspRepr`] |
//! | SRP_LOGIN_REJ | 0xC2 | [`LoginRejPacket`] | [`LoginRejRepr`] |
//! | SRP_TSK_MGMT | 0x01 | [`TskMgmtPacket`] | [`TskMgmtRepr`] |
//! | SRP_CMD | 0x02 | [`CmdPacket`] | [`CmdRepr`] |
//! | SRP_RSP | 0xC1 | [`RspPacket`] | [`RspRepr`] |
//! | SRP_AER_REQ | 0x82 | [`AerReqPacket`] | [`AerReqRepr`] |
//! | SRP_I_LOGOUT, SRP_T_LOGOUT, SRP_CRED_REQ, SRP_CRED_RSP, SRP_AER_RSP (16 bytes) | 0x03 0x80 0x81 0x41 0x42 | [`ShortPacket`] | [`ILogoutRepr`] [`TLogoutRepr`] [`CredReqRepr`] [`CredRspRepr`] [`AerRspRepr`] |
//!
//! [`IuRepr::parse`] dispatches on the type byte for a receive path.
//!
//! Contract, as in the rest of `wire`: `new_checked` (or `Repr::parse`) on
//! input, `new_unchecked` on output buffers; `check_len` proves every
//! accessor of that view stays inside the buffer. Lengths inside an IU
//! (additional CDB length, descriptor counts, response and sense lengths,
//! immediate data length) are checked against the buffer before any slice is
//! taken. `emit` writes every byte of the IU, reserved ones as zero.
//!
//! All numbers are big-endian. Tags are 8 opaque bytes echoed verbatim. Over
//! rdma_cm the login request uses the 56-byte `srp_login_req_rdma` layout
//! after the 36-byte rdma_cm header of the CM REQ private data; the login
//! response and rejection sit at offset 0 of the REP/REJ private data, padded
//! with zeros (parsers accept trailing bytes).

use core::fmt;

use bitflags::bitflags;

use super::bytes::{
    enum_with_unknown, read_array, read_u16, read_u32, read_u64, write_u16, write_u32, write_u64,
};
use super::scsi::{Lun, Sense, Status};
use super::{Error, Result};

// ---------------------------------------------------------------------------
// Codes and small types
// ---------------------------------------------------------------------------

enum_with_unknown! {
    /// IU type code, byte 0 of every IU (fabric-wire.md §4.1).
    pub enum IuType(u8) {
        /// I→T, in the CM REQ private data.
        LoginReq = 0x00,
        /// I→T task management.
        TskMgmt = 0x01,
        /// I→T SCSI command.
        Cmd = 0x02,
        /// I→T logout (ib_srpt ignores it; a CM DREQ ends the channel).
        ILogout = 0x03,
        /// I→T answer to SRP_CRED_REQ.
        CredRsp = 0x41,
        /// I→T answer to SRP_AER_REQ.
        AerRsp = 0x42,
        /// T→I logout.
        TLogout = 0x80,
        /// T→I credit grant.
        CredReq = 0x81,
        /// T→I asynchronous event.
        AerReq = 0x82,
        /// T→I, in the CM REP private data.
        LoginRsp = 0xC0,
        /// T→I SCSI response.
        Rsp = 0xC1,
        /// T→I, in the CM REJ private data.
        LoginRej = 0xC2,
    }
}

/// The type code of the IU in `buf`.
///
/// # Errors
/// If `buf` is empty.
pub fn iu_type(buf: &[u8]) -> Result<IuType> {
    buf.first().map(|&b| IuType::from(b)).ok_or(Error)
}

/// An 8-byte task tag: opaque, echoed verbatim by the target.
///
/// Linux ib_srp stores a small host-endian integer (`08 00 00 00 00 00 00
/// 00` is tag 8); iPXE puts "iPXE" in the high half. Printed as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tag(pub [u8; 8]);

impl Tag {
    /// A tag holding `v` big-endian.
    pub const fn from_u64(v: u64) -> Tag {
        Tag(v.to_be_bytes())
    }

    /// The tag read as a big-endian number.
    pub const fn to_u64(&self) -> u64 {
        u64::from_be_bytes(self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// A 16-byte SRP port identifier: identifier extension (8) then GUID (8),
/// the SRP rev 16a order (fabric-wire.md §4.2).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PortId(pub [u8; 16]);

impl PortId {
    /// `id_ext || guid`.
    pub const fn new(id_ext: u64, guid: u64) -> PortId {
        let e = id_ext.to_be_bytes();
        let g = guid.to_be_bytes();
        PortId([
            e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], g[0], g[1], g[2], g[3], g[4], g[5],
            g[6], g[7],
        ])
    }

    /// The identifier extension (first 8 bytes).
    pub fn id_ext(&self) -> u64 {
        read_u64(&self.0[..8])
    }

    /// The GUID (last 8 bytes).
    pub fn guid(&self) -> u64 {
        read_u64(&self.0[8..])
    }
}

impl fmt::Debug for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortId({self})")
    }
}

impl fmt::Display for PortId {
    /// 32 hex digits, the form srpt ACL names use after `0x`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

bitflags! {
    /// Buffer descriptor formats a login request requires or a login
    /// response supports. Unknown bits are kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct BufferFormats: u16 {
        /// Direct data buffer descriptors.
        const DIRECT = 0x0002;
        /// Indirect data buffer descriptors.
        const INDIRECT = 0x0004;
    }
}

enum_with_unknown! {
    /// Multi-channel action of a login request (flags bits 1:0).
    pub enum MultiChannelAction(u8) {
        /// Terminate the other channels of this I_T nexus (ib_srpt then
        /// answers [`MultiChannelResult::Terminated`]).
        Single = 0,
        /// Keep them.
        Multi = 1,
    }
}

bitflags! {
    /// Login request flags other than the multi-channel action.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct LoginReqFlags: u8 {
        /// LOSOLNT: solicited notification for SRP_T_LOGOUT.
        const LOSOLNT = 0x10;
        /// CRSOLNT: solicited notification for SRP_CRED_REQ.
        const CRSOLNT = 0x20;
        /// AESOLNT: solicited notification for SRP_AER_REQ.
        const AESOLNT = 0x40;
        /// SRP-2 immediate data requested (then `imm_data_offset` counts).
        const IMMED_REQUESTED = 0x80;
    }
}

enum_with_unknown! {
    /// What the target did with existing channels (login response flags
    /// bits 1:0).
    pub enum MultiChannelResult(u8) {
        /// There were none.
        NoExisting = 0,
        /// They were terminated.
        Terminated = 1,
        /// They were kept.
        Maintained = 2,
    }
}

bitflags! {
    /// Login response flags other than the multi-channel result.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct LoginRspFlags: u8 {
        /// SOLNTSUP: solicited notifications supported.
        const SOLNTSUP = 0x10;
        /// SRP-2 immediate data accepted.
        const IMMED_SUPP = 0x80;
    }
}

enum_with_unknown! {
    /// SRP_LOGIN_REJ reason.
    pub enum LoginRejReason(u32) {
        /// Unable to establish the RDMA channel, no reason given.
        NoReason = 0x0001_0000,
        /// Insufficient RDMA channel resources.
        InsufficientResources = 0x0001_0001,
        /// Requested maximum initiator-to-target IU length too large.
        ItIuLenTooLarge = 0x0001_0002,
        /// Unable to associate the RDMA channel with the I_T nexus.
        UnableToAssociate = 0x0001_0003,
        /// Requested buffer descriptor format not supported.
        UnsupportedDescriptorFormat = 0x0001_0004,
        /// Multiple RDMA channels not supported.
        MultiChannelUnsupported = 0x0001_0005,
        /// No more RDMA channels can be opened.
        ChannelLimitReached = 0x0001_0006,
    }
}

impl fmt::Display for LoginRejReason {
    /// What the reason means, and what it usually means with ib_srpt.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            LoginRejReason::NoReason => "unable to establish RDMA channel (no reason given)",
            LoginRejReason::InsufficientResources => {
                "insufficient RDMA channel resources (ib_srpt: target port not enabled, or out of memory)"
            }
            LoginRejReason::ItIuLenTooLarge => {
                "requested maximum initiator-to-target IU length too large (ib_srpt: req_it_iu_len must be 64..=srp_max_req_size)"
            }
            LoginRejReason::UnableToAssociate => {
                "unable to associate RDMA channel with I_T nexus (ib_srpt: target port ID must be srpt_service_guid twice)"
            }
            LoginRejReason::UnsupportedDescriptorFormat => {
                "requested buffer descriptor format not supported"
            }
            LoginRejReason::MultiChannelUnsupported => "multiple RDMA channels not supported",
            LoginRejReason::ChannelLimitReached => {
                "RDMA channel limit reached (ib_srpt: no ACL admits this initiator port ID)"
            }
            LoginRejReason::Unknown(r) => return write!(f, "unknown login rejection reason 0x{r:08x}"),
        };
        f.write_str(s)
    }
}

enum_with_unknown! {
    /// SRP_T_LOGOUT reason (SRP r16a; ib_srpt never sends T_LOGOUT).
    pub enum TLogoutReason(u32) {
        /// No reason specified.
        NoReason = 0,
        /// Inactive RDMA channel.
        InactiveChannel = 1,
        /// Invalid IU type code received by the target.
        InvalidIuType = 2,
        /// Response IU received with no matching request.
        UnexpectedResponse = 3,
        /// Another login's multi-channel action terminated this channel.
        MultiChannelAction = 4,
        /// Unsupported data-out buffer descriptor format.
        UnsupportedDataOutFormat = 6,
        /// Unsupported data-in buffer descriptor format.
        UnsupportedDataInFormat = 7,
        /// Invalid data-out descriptor count.
        InvalidDataOutCount = 8,
        /// Invalid data-in descriptor count.
        InvalidDataInCount = 9,
    }
}

impl fmt::Display for TLogoutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            TLogoutReason::NoReason => "no reason specified",
            TLogoutReason::InactiveChannel => "inactive RDMA channel",
            TLogoutReason::InvalidIuType => "invalid IU type received by the target",
            TLogoutReason::UnexpectedResponse => "response IU with no matching request",
            TLogoutReason::MultiChannelAction => {
                "terminated by another login's multi-channel action"
            }
            TLogoutReason::UnsupportedDataOutFormat => "unsupported data-out descriptor format",
            TLogoutReason::UnsupportedDataInFormat => "unsupported data-in descriptor format",
            TLogoutReason::InvalidDataOutCount => "invalid data-out descriptor count",
            TLogoutReason::InvalidDataInCount => "invalid data-in descriptor count",
            TLogoutReason::Unknown(r) => return write!(f, "unknown logout reason 0x{r:08x}"),
        };
        f.write_str(s)
    }
}

bitflags! {
    /// Solicited-notification bits of SRP_CMD and SRP_TSK_MGMT (byte 1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct CmdSolNot: u8 {
        /// SCSOLNT: solicited notification on successful completion.
        const SCSOLNT = 0x02;
        /// UCSOLNT: solicited notification on unsuccessful completion.
        const UCSOLNT = 0x04;
    }
}

/// SOLNT bit of the target-to-initiator IUs (byte 1).
const SOLNT: u8 = 0x01;

enum_with_unknown! {
    /// SRP_CMD task attribute.
    pub enum TaskAttr(u8) {
        /// SIMPLE.
        Simple = 0,
        /// HEAD OF QUEUE.
        HeadOfQueue = 1,
        /// ORDERED.
        Ordered = 2,
        /// ACA.
        Aca = 4,
    }
}

enum_with_unknown! {
    /// SRP_TSK_MGMT function.
    pub enum TaskMgmtFunction(u8) {
        /// ABORT TASK (the one named by the task tag).
        AbortTask = 0x01,
        /// ABORT TASK SET.
        AbortTaskSet = 0x02,
        /// CLEAR TASK SET.
        ClearTaskSet = 0x04,
        /// LOGICAL UNIT RESET.
        LogicalUnitReset = 0x08,
        /// CLEAR ACA.
        ClearAca = 0x40,
    }
}

enum_with_unknown! {
    /// Task management response code (byte 3 of the 4-byte SRP_RSP response
    /// data).
    pub enum TaskMgmtResponse(u8) {
        /// Function complete.
        Complete = 0x00,
        /// Invalid fields in the IU.
        InvalidFields = 0x02,
        /// Function not supported.
        NotSupported = 0x04,
        /// Function failed.
        Failed = 0x05,
    }
}

enum_with_unknown! {
    /// Data buffer descriptor format (a nibble of SRP_CMD byte 5).
    pub enum DescriptorFormat(u8) {
        /// No data in this direction.
        None = 0,
        /// One direct descriptor.
        Direct = 1,
        /// Indirect table.
        Indirect = 2,
        /// SRP-2 immediate data (data-out only).
        Immediate = 3,
    }
}

/// A direct data buffer descriptor: where the target RDMA-reads or -writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DirectDesc {
    /// Virtual address in the initiator's memory region.
    pub va: u64,
    /// Remote key of the region.
    pub rkey: u32,
    /// Length in bytes.
    pub len: u32,
}

impl DirectDesc {
    /// Wire size.
    pub const LEN: usize = 16;

    /// Reads a descriptor from the first 16 bytes of `b`.
    ///
    /// # Panics
    /// If `b` is shorter than 16 bytes.
    pub fn read(b: &[u8]) -> DirectDesc {
        DirectDesc {
            va: read_u64(&b[0..8]),
            rkey: read_u32(&b[8..12]),
            len: read_u32(&b[12..16]),
        }
    }

    /// Writes the descriptor into the first 16 bytes of `b`.
    ///
    /// # Panics
    /// If `b` is shorter than 16 bytes.
    pub fn write(&self, b: &mut [u8]) {
        write_u64(&mut b[0..8], self.va);
        write_u32(&mut b[8..12], self.rkey);
        write_u32(&mut b[12..16], self.len);
    }
}

/// The inline direct descriptors of an indirect table: as received (wire
/// bytes, a multiple of 16) or as supplied for emitting.
#[derive(Debug, Clone, Copy)]
pub enum DescList<'a> {
    /// Descriptors still in wire form.
    Wire(&'a [u8]),
    /// Descriptors to emit.
    Slice(&'a [DirectDesc]),
}

impl<'a> DescList<'a> {
    /// Number of descriptors.
    pub fn len(&self) -> usize {
        match self {
            DescList::Wire(b) => b.len() / DirectDesc::LEN,
            DescList::Slice(s) => s.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Descriptor `i`.
    pub fn get(&self, i: usize) -> Option<DirectDesc> {
        match self {
            DescList::Wire(b) => b.chunks_exact(DirectDesc::LEN).nth(i).map(DirectDesc::read),
            DescList::Slice(s) => s.get(i).copied(),
        }
    }

    /// All descriptors in order.
    pub fn iter(&self) -> impl Iterator<Item = DirectDesc> + 'a {
        let (wire, slice): (&'a [u8], &'a [DirectDesc]) = match *self {
            DescList::Wire(b) => (b, &[]),
            DescList::Slice(s) => (&[], s),
        };
        wire.chunks_exact(DirectDesc::LEN)
            .map(DirectDesc::read)
            .chain(slice.iter().copied())
    }
}

impl PartialEq for DescList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for DescList<'_> {}

/// One direction's data buffer of an SRP_CMD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataBuffer<'a> {
    /// No data in this direction.
    None,
    /// One direct descriptor (what ib_srp sends for one memory region).
    Direct(DirectDesc),
    /// An indirect table whose descriptors are (partly) inline.
    Indirect {
        /// Where the whole descriptor table lives; its `len` is 16 × the
        /// table's descriptor count.
        table: DirectDesc,
        /// Total data length over all descriptors.
        total_len: u32,
        /// The inline descriptors (the IU's descriptor count of them).
        descs: DescList<'a>,
    },
    /// SRP-2 immediate data-out: a 4-byte length descriptor, the data at the
    /// `offset` negotiated at login (`imm_data_offset`) from the IU start.
    Immediate {
        /// Offset of the data in the IU (68 with Linux ib_srp).
        offset: u16,
        /// The data.
        data: &'a [u8],
    },
}

impl DataBuffer<'_> {
    /// The descriptor format code.
    pub fn format(&self) -> DescriptorFormat {
        match self {
            DataBuffer::None => DescriptorFormat::None,
            DataBuffer::Direct(_) => DescriptorFormat::Direct,
            DataBuffer::Indirect { .. } => DescriptorFormat::Indirect,
            DataBuffer::Immediate { .. } => DescriptorFormat::Immediate,
        }
    }

    /// Bytes of descriptor in the IU (not counting immediate data).
    fn desc_len(&self) -> usize {
        match self {
            DataBuffer::None => 0,
            DataBuffer::Direct(_) => DirectDesc::LEN,
            DataBuffer::Indirect { descs, .. } => {
                INDIRECT_HEADER_LEN + DirectDesc::LEN * descs.len()
            }
            DataBuffer::Immediate { .. } => IMM_DESC_LEN,
        }
    }

    /// Descriptor count for SRP_CMD bytes 6/7: the inline descriptors of an
    /// indirect table, else 0 (as Linux sends for direct descriptors).
    fn count(&self) -> u8 {
        match self {
            DataBuffer::Indirect { descs, .. } => descs.len() as u8,
            _ => 0,
        }
    }

    /// Total bytes this buffer describes.
    pub fn data_len(&self) -> u64 {
        match self {
            DataBuffer::None => 0,
            DataBuffer::Direct(d) => d.len.into(),
            DataBuffer::Indirect { total_len, .. } => (*total_len).into(),
            DataBuffer::Immediate { data, .. } => data.len() as u64,
        }
    }
}

/// Residual report of one direction in SRP_RSP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Residual {
    /// Transfer matched the expected length.
    None,
    /// The target had more data than the buffer (DIOVER/DOOVER).
    Overflow(u32),
    /// The target transferred less (DIUNDER/DOUNDER), e.g. INQUIRY data
    /// shorter than the allocation length.
    Underflow(u32),
}

// ---------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------

/// Length of the indirect descriptor header: table descriptor + total length.
const INDIRECT_HEADER_LEN: usize = 20;
/// Length of the immediate data descriptor.
const IMM_DESC_LEN: usize = 4;

/// Named byte ranges of every IU.
mod field {
    #![allow(dead_code)]
    use core::ops::Range;

    pub type Field = Range<usize>;

    /// Byte 0 of every IU but the rdma_cm login request.
    pub const TYPE: Field = 0..1;
    /// Bytes 8–15 of every IU but the rdma_cm login request.
    pub const TAG: Field = 8..16;

    pub mod login_req {
        use super::Field;
        pub const IT_IU_LEN: Field = 16..20;
        pub const BUF_FMT: Field = 24..26;
        pub const FLAGS: Field = 26..27;
        pub const IMM_OFFSET: Field = 28..30;
        pub const INITIATOR: Field = 32..48;
        pub const TARGET: Field = 48..64;
        pub const LEN: usize = 64;
    }

    pub mod login_req_rdma {
        use super::Field;
        pub const TAG: Field = 0..8;
        pub const BUF_FMT: Field = 8..10;
        pub const FLAGS: Field = 10..11;
        pub const OPCODE: Field = 11..12;
        pub const IT_IU_LEN: Field = 12..16;
        pub const INITIATOR: Field = 16..32;
        pub const TARGET: Field = 32..48;
        pub const IMM_OFFSET: Field = 48..50;
        pub const LEN: usize = 56;
    }

    pub mod login_rsp {
        use super::Field;
        pub const REQ_LIM_DELTA: Field = 4..8;
        pub const MAX_IT_IU_LEN: Field = 16..20;
        pub const MAX_TI_IU_LEN: Field = 20..24;
        pub const BUF_FMT: Field = 24..26;
        pub const FLAGS: Field = 26..27;
        pub const LEN: usize = 52;
    }

    pub mod login_rej {
        use super::Field;
        pub const REASON: Field = 4..8;
        pub const BUF_FMT: Field = 24..26;
        pub const LEN: usize = 32;
    }

    /// The 16-byte IUs: I/T_LOGOUT, CRED_REQ/RSP, AER_RSP.
    pub mod short {
        use super::Field;
        pub const FLAGS: Field = 1..2;
        /// Reason (T_LOGOUT) or request limit delta (CRED_REQ).
        pub const WORD: Field = 4..8;
        pub const LEN: usize = 16;
    }

    pub mod tsk_mgmt {
        use super::Field;
        pub const SOL_NOT: Field = 1..2;
        pub const LUN: Field = 20..28;
        pub const FUNCTION: Field = 30..31;
        pub const TASK_TAG: Field = 32..40;
        pub const LEN: usize = 48;
    }

    pub mod cmd {
        use super::Field;
        pub const SOL_NOT: Field = 1..2;
        pub const BUF_FMT: Field = 5..6;
        pub const DATA_OUT_COUNT: Field = 6..7;
        pub const DATA_IN_COUNT: Field = 7..8;
        pub const LUN: Field = 20..28;
        pub const TASK_ATTR: Field = 29..30;
        pub const ADD_CDB_LEN: Field = 31..32;
        pub const CDB: Field = 32..48;
        pub const HEADER_LEN: usize = 48;
    }

    pub mod rsp {
        use super::Field;
        pub const SOL_NOT: Field = 1..2;
        pub const REQ_LIM_DELTA: Field = 4..8;
        pub const FLAGS: Field = 18..19;
        pub const STATUS: Field = 19..20;
        pub const DATA_OUT_RESIDUAL: Field = 20..24;
        pub const DATA_IN_RESIDUAL: Field = 24..28;
        pub const SENSE_LEN: Field = 28..32;
        pub const RESP_LEN: Field = 32..36;
        pub const HEADER_LEN: usize = 36;
    }

    pub mod aer_req {
        use super::Field;
        pub const SOL_NOT: Field = 1..2;
        pub const REQ_LIM_DELTA: Field = 4..8;
        pub const LUN: Field = 20..28;
        pub const SENSE_LEN: Field = 28..32;
        pub const HEADER_LEN: usize = 36;
    }
}

/// Smallest req_it_iu_len ib_srpt accepts (and the SRP minimum).
pub const MIN_IT_IU_LEN: u32 = 64;
/// Length of SRP_CMD without additional CDB or descriptors.
pub const CMD_HEADER_LEN: usize = field::cmd::HEADER_LEN;
/// Length of SRP_RSP without response or sense data.
pub const RSP_HEADER_LEN: usize = field::rsp::HEADER_LEN;
/// The imm_data_offset Linux ib_srp asks for: SRP_CMD plus an empty
/// indirect descriptor header (48 + 20).
pub const LINUX_IMM_DATA_OFFSET: u16 = 68;

/// SRP_RSP flags byte (18).
mod rsp_flag {
    pub const RSPVALID: u8 = 0x01;
    pub const SNSVALID: u8 = 0x02;
    pub const DOOVER: u8 = 0x04;
    pub const DOUNDER: u8 = 0x08;
    pub const DIOVER: u8 = 0x10;
    pub const DIUNDER: u8 = 0x20;
}

// ---------------------------------------------------------------------------
// Packet plumbing
// ---------------------------------------------------------------------------

/// A value stored in a named byte range.
trait FieldValue: Sized {
    fn get(b: &[u8]) -> Self;
    fn put(self, b: &mut [u8]);
}

impl FieldValue for u8 {
    fn get(b: &[u8]) -> Self {
        b[0]
    }
    fn put(self, b: &mut [u8]) {
        b[0] = self
    }
}
impl FieldValue for u16 {
    fn get(b: &[u8]) -> Self {
        read_u16(b)
    }
    fn put(self, b: &mut [u8]) {
        write_u16(b, self)
    }
}
impl FieldValue for u32 {
    fn get(b: &[u8]) -> Self {
        read_u32(b)
    }
    fn put(self, b: &mut [u8]) {
        write_u32(b, self)
    }
}
impl FieldValue for Tag {
    fn get(b: &[u8]) -> Self {
        Tag(read_array(b))
    }
    fn put(self, b: &mut [u8]) {
        b[..8].copy_from_slice(&self.0)
    }
}
impl FieldValue for PortId {
    fn get(b: &[u8]) -> Self {
        PortId(read_array(b))
    }
    fn put(self, b: &mut [u8]) {
        b[..16].copy_from_slice(&self.0)
    }
}
impl FieldValue for Lun {
    fn get(b: &[u8]) -> Self {
        Lun(read_array(b))
    }
    fn put(self, b: &mut [u8]) {
        b[..8].copy_from_slice(&self.0)
    }
}

/// Declares a packet view type with the smoltcp constructors; `check_len`
/// is written per type.
macro_rules! packet_view {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps `buffer` without looking at it (for output buffers).
            pub const fn new_unchecked(buffer: T) -> Self {
                Self { buffer }
            }

            /// Wraps `buffer` after [`Self::check_len`].
            ///
            /// # Errors
            /// Whatever `check_len` reports.
            pub fn new_checked(buffer: T) -> Result<Self> {
                let p = Self::new_unchecked(buffer);
                p.check_len()?;
                Ok(p)
            }

            /// The underlying buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}

/// Getters (and `set_` setters) over named ranges of a packet view.
macro_rules! packet_fields {
    ($name:ident { $( $(#[$m:meta])* $get:ident / $set:ident : $ty:ty = $range:expr; )* }) => {
        impl<T: AsRef<[u8]>> $name<T> {
            $(
                $(#[$m])*
                #[inline]
                pub fn $get(&self) -> $ty {
                    <$ty as FieldValue>::get(&self.buffer.as_ref()[$range])
                }
            )*
        }
        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            $(
                $(#[$m])*
                #[inline]
                pub fn $set(&mut self, value: $ty) {
                    <$ty as FieldValue>::put(value, &mut self.buffer.as_mut()[$range])
                }
            )*
        }
    };
}

/// Zero-fills `b[range]` (reserved bytes on emit).
fn zero(b: &mut [u8]) {
    b.fill(0)
}

// ---------------------------------------------------------------------------
// SRP_LOGIN_REQ
// ---------------------------------------------------------------------------

packet_view! {
    /// Classic 64-byte SRP_LOGIN_REQ (IB CM private data; iPXE).
    LoginReqPacket
}

impl<T: AsRef<[u8]>> LoginReqPacket<T> {
    /// # Errors
    /// If the buffer is shorter than 64 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::login_req::LEN {
            return Err(Error);
        }
        Ok(())
    }
}

packet_fields!(LoginReqPacket {
    /// IU type (0x00).
    iu_type / set_iu_type: u8 = field::TYPE;
    /// Tag.
    tag / set_tag: Tag = field::TAG;
    /// Largest I→T IU the initiator will send.
    req_it_iu_len / set_req_it_iu_len: u32 = field::login_req::IT_IU_LEN;
    /// Required buffer formats (raw).
    buf_fmt / set_buf_fmt: u16 = field::login_req::BUF_FMT;
    /// Flags byte (raw; bits 1:0 multi-channel action).
    flags / set_flags: u8 = field::login_req::FLAGS;
    /// Immediate data offset (SRP-2).
    imm_data_offset / set_imm_data_offset: u16 = field::login_req::IMM_OFFSET;
    /// Initiator port ID.
    initiator_port_id / set_initiator_port_id: PortId = field::login_req::INITIATOR;
    /// Target port ID.
    target_port_id / set_target_port_id: PortId = field::login_req::TARGET;
});

packet_view! {
    /// 56-byte SRP_LOGIN_REQ as ib_srp sends it through rdma_cm
    /// (`srp_login_req_rdma`, after the 36-byte rdma_cm header): tag first,
    /// opcode at byte 11.
    LoginReqRdmaPacket
}

impl<T: AsRef<[u8]>> LoginReqRdmaPacket<T> {
    /// # Errors
    /// If the buffer is shorter than 56 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::login_req_rdma::LEN {
            return Err(Error);
        }
        Ok(())
    }
}

packet_fields!(LoginReqRdmaPacket {
    /// Tag.
    tag / set_tag: Tag = field::login_req_rdma::TAG;
    /// Required buffer formats (raw).
    buf_fmt / set_buf_fmt: u16 = field::login_req_rdma::BUF_FMT;
    /// Flags byte (raw).
    flags / set_flags: u8 = field::login_req_rdma::FLAGS;
    /// IU type (0x00).
    iu_type / set_iu_type: u8 = field::login_req_rdma::OPCODE;
    /// Largest I→T IU the initiator will send.
    req_it_iu_len / set_req_it_iu_len: u32 = field::login_req_rdma::IT_IU_LEN;
    /// Initiator port ID.
    initiator_port_id / set_initiator_port_id: PortId = field::login_req_rdma::INITIATOR;
    /// Target port ID.
    target_port_id / set_target_port_id: PortId = field::login_req_rdma::TARGET;
    /// Immediate data offset (SRP-2).
    imm_data_offset / set_imm_data_offset: u16 = field::login_req_rdma::IMM_OFFSET;
});

/// SRP_LOGIN_REQ, either layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginReqRepr {
    /// Tag (echoed in the response).
    pub tag: Tag,
    /// Largest I→T IU the initiator will send (≥ [`MIN_IT_IU_LEN`]; ib_srpt
    /// echoes it as max_ti_iu_len, which also caps SRP_RSP).
    pub req_it_iu_len: u32,
    /// Buffer formats the initiator needs.
    pub buffer_formats: BufferFormats,
    /// What to do with other channels of the same I_T nexus.
    pub multi_channel: MultiChannelAction,
    /// The other flag bits.
    pub flags: LoginReqFlags,
    /// Where immediate data starts in an SRP_CMD (SRP-2); ib_srpt needs ≥ 48.
    pub imm_data_offset: u16,
    /// Initiator port ID (see [`crate::uri::initiator_port_id`]).
    pub initiator_port_id: PortId,
    /// Target port ID (ib_srpt: `srpt_service_guid` twice).
    pub target_port_id: PortId,
}

impl LoginReqRepr {
    /// Length of the classic layout.
    pub const LEN: usize = field::login_req::LEN;
    /// Length of the rdma_cm layout.
    pub const RDMA_LEN: usize = field::login_req_rdma::LEN;

    fn split_flags(raw: u8) -> (MultiChannelAction, LoginReqFlags) {
        (
            MultiChannelAction::from(raw & 0x03),
            LoginReqFlags::from_bits_retain(raw & !0x03),
        )
    }

    fn join_flags(&self) -> u8 {
        (u8::from(self.multi_channel) & 0x03) | (self.flags.bits() & !0x03)
    }

    /// Parses the classic 64-byte layout.
    ///
    /// # Errors
    /// Too short, or a type code other than 0x00.
    pub fn parse<T: AsRef<[u8]>>(p: &LoginReqPacket<T>) -> Result<LoginReqRepr> {
        p.check_len()?;
        if p.iu_type() != u8::from(IuType::LoginReq) {
            return Err(Error);
        }
        let (multi_channel, flags) = Self::split_flags(p.flags());
        Ok(LoginReqRepr {
            tag: p.tag(),
            req_it_iu_len: p.req_it_iu_len(),
            buffer_formats: BufferFormats::from_bits_retain(p.buf_fmt()),
            multi_channel,
            flags,
            imm_data_offset: p.imm_data_offset(),
            initiator_port_id: p.initiator_port_id(),
            target_port_id: p.target_port_id(),
        })
    }

    /// Parses the 56-byte rdma_cm layout (the CM REQ private data after its
    /// 36-byte rdma_cm header).
    ///
    /// # Errors
    /// Too short, or an opcode other than 0x00 at byte 11.
    pub fn parse_rdma<T: AsRef<[u8]>>(p: &LoginReqRdmaPacket<T>) -> Result<LoginReqRepr> {
        p.check_len()?;
        if p.iu_type() != u8::from(IuType::LoginReq) {
            return Err(Error);
        }
        let (multi_channel, flags) = Self::split_flags(p.flags());
        Ok(LoginReqRepr {
            tag: p.tag(),
            req_it_iu_len: p.req_it_iu_len(),
            buffer_formats: BufferFormats::from_bits_retain(p.buf_fmt()),
            multi_channel,
            flags,
            imm_data_offset: p.imm_data_offset(),
            initiator_port_id: p.initiator_port_id(),
            target_port_id: p.target_port_id(),
        })
    }

    /// Bytes [`LoginReqRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes the classic layout (all 64 bytes).
    ///
    /// # Panics
    /// If the buffer is shorter than 64 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut LoginReqPacket<T>) {
        zero(&mut p.buffer.as_mut()[..Self::LEN]);
        p.set_iu_type(IuType::LoginReq.into());
        p.set_tag(self.tag);
        p.set_req_it_iu_len(self.req_it_iu_len);
        p.set_buf_fmt(self.buffer_formats.bits());
        p.set_flags(self.join_flags());
        p.set_imm_data_offset(self.imm_data_offset);
        p.set_initiator_port_id(self.initiator_port_id);
        p.set_target_port_id(self.target_port_id);
    }

    /// Writes the rdma_cm layout (all 56 bytes).
    ///
    /// # Panics
    /// If the buffer is shorter than 56 bytes.
    pub fn emit_rdma<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut LoginReqRdmaPacket<T>) {
        zero(&mut p.buffer.as_mut()[..Self::RDMA_LEN]);
        p.set_tag(self.tag);
        p.set_buf_fmt(self.buffer_formats.bits());
        p.set_flags(self.join_flags());
        p.set_iu_type(IuType::LoginReq.into());
        p.set_req_it_iu_len(self.req_it_iu_len);
        p.set_initiator_port_id(self.initiator_port_id);
        p.set_target_port_id(self.target_port_id);
        p.set_imm_data_offset(self.imm_data_offset);
    }
}

// ---------------------------------------------------------------------------
// SRP_LOGIN_RSP
// ---------------------------------------------------------------------------

packet_view! {
    /// SRP_LOGIN_RSP (52 bytes; the CM REP private data, zero padded).
    LoginRspPacket
}

impl<T: AsRef<[u8]>> LoginRspPacket<T> {
    /// # Errors
    /// If the buffer is shorter than 52 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::login_rsp::LEN {
            return Err(Error);
        }
        Ok(())
    }
}

packet_fields!(LoginRspPacket {
    /// IU type (0xC0).
    iu_type / set_iu_type: u8 = field::TYPE;
    /// Initial credits.
    req_lim_delta / set_req_lim_delta: u32 = field::login_rsp::REQ_LIM_DELTA;
    /// Tag.
    tag / set_tag: Tag = field::TAG;
    /// Largest I→T IU the target accepts.
    max_it_iu_len / set_max_it_iu_len: u32 = field::login_rsp::MAX_IT_IU_LEN;
    /// Largest T→I IU the target will send.
    max_ti_iu_len / set_max_ti_iu_len: u32 = field::login_rsp::MAX_TI_IU_LEN;
    /// Supported buffer formats (raw).
    buf_fmt / set_buf_fmt: u16 = field::login_rsp::BUF_FMT;
    /// Flags byte (raw; bits 1:0 multi-channel result).
    flags / set_flags: u8 = field::login_rsp::FLAGS;
});

/// SRP_LOGIN_RSP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginRspRepr {
    /// Initial credits (128 from ib_srpt on rxe).
    pub req_lim_delta: u32,
    /// Tag of the login request.
    pub tag: Tag,
    /// Largest I→T IU the target accepts (8276 by default on ib_srpt).
    pub max_it_iu_len: u32,
    /// Largest T→I IU (ib_srpt echoes req_it_iu_len).
    pub max_ti_iu_len: u32,
    /// Supported buffer formats.
    pub buffer_formats: BufferFormats,
    /// What happened to other channels of the nexus.
    pub multi_channel: MultiChannelResult,
    /// The other flag bits.
    pub flags: LoginRspFlags,
}

impl LoginRspRepr {
    /// IU length.
    pub const LEN: usize = field::login_rsp::LEN;

    /// Parses a login response.
    ///
    /// # Errors
    /// Too short, or a type code other than 0xC0.
    pub fn parse<T: AsRef<[u8]>>(p: &LoginRspPacket<T>) -> Result<LoginRspRepr> {
        p.check_len()?;
        if p.iu_type() != u8::from(IuType::LoginRsp) {
            return Err(Error);
        }
        Ok(LoginRspRepr {
            req_lim_delta: p.req_lim_delta(),
            tag: p.tag(),
            max_it_iu_len: p.max_it_iu_len(),
            max_ti_iu_len: p.max_ti_iu_len(),
            buffer_formats: BufferFormats::from_bits_retain(p.buf_fmt()),
            multi_channel: MultiChannelResult::from(p.flags() & 0x03),
            flags: LoginRspFlags::from_bits_retain(p.flags() & !0x03),
        })
    }

    /// Bytes [`LoginRspRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes all 52 bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than 52 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut LoginRspPacket<T>) {
        zero(&mut p.buffer.as_mut()[..Self::LEN]);
        p.set_iu_type(IuType::LoginRsp.into());
        p.set_req_lim_delta(self.req_lim_delta);
        p.set_tag(self.tag);
        p.set_max_it_iu_len(self.max_it_iu_len);
        p.set_max_ti_iu_len(self.max_ti_iu_len);
        p.set_buf_fmt(self.buffer_formats.bits());
        p.set_flags((u8::from(self.multi_channel) & 0x03) | (self.flags.bits() & !0x03));
    }
}

// ---------------------------------------------------------------------------
// SRP_LOGIN_REJ
// ---------------------------------------------------------------------------

packet_view! {
    /// SRP_LOGIN_REJ (32 bytes; the CM REJ private data, reason 28).
    LoginRejPacket
}

impl<T: AsRef<[u8]>> LoginRejPacket<T> {
    /// # Errors
    /// If the buffer is shorter than 32 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::login_rej::LEN {
            return Err(Error);
        }
        Ok(())
    }
}

packet_fields!(LoginRejPacket {
    /// IU type (0xC2).
    iu_type / set_iu_type: u8 = field::TYPE;
    /// Reason code (raw).
    reason / set_reason: u32 = field::login_rej::REASON;
    /// Tag.
    tag / set_tag: Tag = field::TAG;
    /// Supported buffer formats (raw).
    buf_fmt / set_buf_fmt: u16 = field::login_rej::BUF_FMT;
});

/// SRP_LOGIN_REJ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginRejRepr {
    /// Why.
    pub reason: LoginRejReason,
    /// Tag of the login request.
    pub tag: Tag,
    /// Buffer formats the target supports.
    pub buffer_formats: BufferFormats,
}

impl LoginRejRepr {
    /// IU length.
    pub const LEN: usize = field::login_rej::LEN;

    /// Parses a login rejection.
    ///
    /// # Errors
    /// Too short, or a type code other than 0xC2.
    pub fn parse<T: AsRef<[u8]>>(p: &LoginRejPacket<T>) -> Result<LoginRejRepr> {
        p.check_len()?;
        if p.iu_type() != u8::from(IuType::LoginRej) {
            return Err(Error);
        }
        Ok(LoginRejRepr {
            reason: LoginRejReason::from(p.reason()),
            tag: p.tag(),
            buffer_formats: BufferFormats::from_bits_retain(p.buf_fmt()),
        })
    }

    /// Bytes [`LoginRejRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes all 32 bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than 32 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut LoginRejPacket<T>) {
        zero(&mut p.buffer.as_mut()[..Self::LEN]);
        p.set_iu_type(IuType::LoginRej.into());
        p.set_reason(self.reason.into());
        p.set_tag(self.tag);
        p.set_buf_fmt(self.buffer_formats.bits());
    }
}

// ---------------------------------------------------------------------------
// 16-byte IUs: I_LOGOUT, T_LOGOUT, CRED_REQ, CRED_RSP, AER_RSP
// ---------------------------------------------------------------------------

packet_view! {
    /// The 16-byte IUs: type, flags (byte 1), a 32-bit word at 4 (T_LOGOUT
    /// reason, CRED_REQ request limit delta, else reserved), tag.
    ShortPacket
}

impl<T: AsRef<[u8]>> ShortPacket<T> {
    /// # Errors
    /// If the buffer is shorter than 16 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::short::LEN {
            return Err(Error);
        }
        Ok(())
    }
}

packet_fields!(ShortPacket {
    /// IU type.
    iu_type / set_iu_type: u8 = field::TYPE;
    /// Byte 1 (SOLNT for T→I IUs).
    flags / set_flags: u8 = field::short::FLAGS;
    /// Bytes 4–7: reason or request limit delta.
    word / set_word: u32 = field::short::WORD;
    /// Tag.
    tag / set_tag: Tag = field::TAG;
});

/// Parses a 16-byte IU of type `ty` into (flags, word, tag).
fn parse_short<T: AsRef<[u8]>>(p: &ShortPacket<T>, ty: IuType) -> Result<(u8, u32, Tag)> {
    p.check_len()?;
    if p.iu_type() != u8::from(ty) {
        return Err(Error);
    }
    Ok((p.flags(), p.word(), p.tag()))
}

/// Writes a 16-byte IU.
fn emit_short<T: AsRef<[u8]> + AsMut<[u8]>>(
    p: &mut ShortPacket<T>,
    ty: IuType,
    flags: u8,
    word: u32,
    tag: Tag,
) {
    zero(&mut p.buffer.as_mut()[..field::short::LEN]);
    p.set_iu_type(ty.into());
    p.set_flags(flags);
    p.set_word(word);
    p.set_tag(tag);
}

/// Length of the 16-byte IUs.
pub const SHORT_IU_LEN: usize = field::short::LEN;

/// SRP_I_LOGOUT (I→T). ib_srpt does not act on it; use a CM DREQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ILogoutRepr {
    /// Tag.
    pub tag: Tag,
}

impl ILogoutRepr {
    /// Parses an initiator logout.
    ///
    /// # Errors
    /// Too short, or another type code.
    pub fn parse<T: AsRef<[u8]>>(p: &ShortPacket<T>) -> Result<Self> {
        let (_, _, tag) = parse_short(p, IuType::ILogout)?;
        Ok(ILogoutRepr { tag })
    }
    /// 16.
    pub const fn buffer_len(&self) -> usize {
        SHORT_IU_LEN
    }
    /// Writes all 16 bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than 16 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ShortPacket<T>) {
        emit_short(p, IuType::ILogout, 0, 0, self.tag)
    }
}

/// SRP_T_LOGOUT (T→I): the target ends the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TLogoutRepr {
    /// SOLNT.
    pub solicited: bool,
    /// Why.
    pub reason: TLogoutReason,
    /// Tag.
    pub tag: Tag,
}

impl TLogoutRepr {
    /// Parses a target logout.
    ///
    /// # Errors
    /// Too short, or another type code.
    pub fn parse<T: AsRef<[u8]>>(p: &ShortPacket<T>) -> Result<Self> {
        let (flags, reason, tag) = parse_short(p, IuType::TLogout)?;
        Ok(TLogoutRepr {
            solicited: flags & SOLNT != 0,
            reason: reason.into(),
            tag,
        })
    }
    /// 16.
    pub const fn buffer_len(&self) -> usize {
        SHORT_IU_LEN
    }
    /// Writes all 16 bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than 16 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ShortPacket<T>) {
        let flags = if self.solicited { SOLNT } else { 0 };
        emit_short(p, IuType::TLogout, flags, self.reason.into(), self.tag)
    }
}

/// SRP_CRED_REQ (T→I): extra credits; answer with [`CredRspRepr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredReqRepr {
    /// SOLNT.
    pub solicited: bool,
    /// Credits granted.
    pub req_lim_delta: u32,
    /// Tag (echo it in the SRP_CRED_RSP).
    pub tag: Tag,
}

impl CredReqRepr {
    /// Parses a credit request.
    ///
    /// # Errors
    /// Too short, or another type code.
    pub fn parse<T: AsRef<[u8]>>(p: &ShortPacket<T>) -> Result<Self> {
        let (flags, req_lim_delta, tag) = parse_short(p, IuType::CredReq)?;
        Ok(CredReqRepr {
            solicited: flags & SOLNT != 0,
            req_lim_delta,
            tag,
        })
    }
    /// 16.
    pub const fn buffer_len(&self) -> usize {
        SHORT_IU_LEN
    }
    /// Writes all 16 bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than 16 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ShortPacket<T>) {
        let flags = if self.solicited { SOLNT } else { 0 };
        emit_short(p, IuType::CredReq, flags, self.req_lim_delta, self.tag)
    }
}

/// SRP_CRED_RSP (I→T), the answer to SRP_CRED_REQ. Uses no credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredRspRepr {
    /// Tag of the SRP_CRED_REQ.
    pub tag: Tag,
}

impl CredRspRepr {
    /// Parses a credit response.
    ///
    /// # Errors
    /// Too short, or another type code.
    pub fn parse<T: AsRef<[u8]>>(p: &ShortPacket<T>) -> Result<Self> {
        let (_, _, tag) = parse_short(p, IuType::CredRsp)?;
        Ok(CredRspRepr { tag })
    }
    /// 16.
    pub const fn buffer_len(&self) -> usize {
        SHORT_IU_LEN
    }
    /// Writes all 16 bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than 16 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ShortPacket<T>) {
        emit_short(p, IuType::CredRsp, 0, 0, self.tag)
    }
}

/// SRP_AER_RSP (I→T), the answer to SRP_AER_REQ. Uses no credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AerRspRepr {
    /// Tag of the SRP_AER_REQ.
    pub tag: Tag,
}

impl AerRspRepr {
    /// Parses an asynchronous event response.
    ///
    /// # Errors
    /// Too short, or another type code.
    pub fn parse<T: AsRef<[u8]>>(p: &ShortPacket<T>) -> Result<Self> {
        let (_, _, tag) = parse_short(p, IuType::AerRsp)?;
        Ok(AerRspRepr { tag })
    }
    /// 16.
    pub const fn buffer_len(&self) -> usize {
        SHORT_IU_LEN
    }
    /// Writes all 16 bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than 16 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ShortPacket<T>) {
        emit_short(p, IuType::AerRsp, 0, 0, self.tag)
    }
}

// ---------------------------------------------------------------------------
// SRP_TSK_MGMT
// ---------------------------------------------------------------------------

packet_view! {
    /// SRP_TSK_MGMT (48 bytes).
    TskMgmtPacket
}

impl<T: AsRef<[u8]>> TskMgmtPacket<T> {
    /// # Errors
    /// If the buffer is shorter than 48 bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < field::tsk_mgmt::LEN {
            return Err(Error);
        }
        Ok(())
    }
}

packet_fields!(TskMgmtPacket {
    /// IU type (0x01).
    iu_type / set_iu_type: u8 = field::TYPE;
    /// Solicited-notification bits (raw).
    sol_not / set_sol_not: u8 = field::tsk_mgmt::SOL_NOT;
    /// Tag of this request.
    tag / set_tag: Tag = field::TAG;
    /// Logical unit.
    lun / set_lun: Lun = field::tsk_mgmt::LUN;
    /// Function (raw).
    function / set_function: u8 = field::tsk_mgmt::FUNCTION;
    /// Tag of the task to manage (ABORT TASK).
    task_tag / set_task_tag: Tag = field::tsk_mgmt::TASK_TAG;
});

/// SRP_TSK_MGMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TskMgmtRepr {
    /// Solicited-notification bits.
    pub sol_not: CmdSolNot,
    /// Tag of this request (echoed in its SRP_RSP).
    pub tag: Tag,
    /// Logical unit.
    pub lun: Lun,
    /// Function.
    pub function: TaskMgmtFunction,
    /// Tag of the task to manage.
    pub task_tag: Tag,
}

impl TskMgmtRepr {
    /// IU length.
    pub const LEN: usize = field::tsk_mgmt::LEN;

    /// Parses a task management request.
    ///
    /// # Errors
    /// Too short, or a type code other than 0x01.
    pub fn parse<T: AsRef<[u8]>>(p: &TskMgmtPacket<T>) -> Result<TskMgmtRepr> {
        p.check_len()?;
        if p.iu_type() != u8::from(IuType::TskMgmt) {
            return Err(Error);
        }
        Ok(TskMgmtRepr {
            sol_not: CmdSolNot::from_bits_retain(p.sol_not()),
            tag: p.tag(),
            lun: p.lun(),
            function: p.function().into(),
            task_tag: p.task_tag(),
        })
    }

    /// Bytes [`TskMgmtRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Writes all 48 bytes.
    ///
    /// # Panics
    /// If the buffer is shorter than 48 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut TskMgmtPacket<T>) {
        zero(&mut p.buffer.as_mut()[..Self::LEN]);
        p.set_iu_type(IuType::TskMgmt.into());
        p.set_sol_not(self.sol_not.bits());
        p.set_tag(self.tag);
        p.set_lun(self.lun);
        p.set_function(self.function.into());
        p.set_task_tag(self.task_tag);
    }
}

// ---------------------------------------------------------------------------
// SRP_CMD
// ---------------------------------------------------------------------------

packet_view! {
    /// SRP_CMD: 48-byte header, additional CDB bytes, then the data-out and
    /// data-in descriptors (and, with immediate data, the data at the
    /// negotiated offset).
    CmdPacket
}

impl<T: AsRef<[u8]>> CmdPacket<T> {
    /// Checks the header and the additional CDB bytes fit. Descriptors are
    /// checked by [`CmdPacket::descriptor_area`] and [`CmdRepr::parse`].
    ///
    /// # Errors
    /// Shorter than 48 bytes plus the additional CDB length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::cmd::HEADER_LEN || len < self.descriptor_offset() {
            return Err(Error);
        }
        Ok(())
    }

    /// Additional CDB bytes (ADDITIONAL CDB LENGTH bits 7:2, in 4-byte words;
    /// bits 1:0 are reserved and ignored, as ib_srpt does).
    pub fn add_cdb_bytes(&self) -> usize {
        usize::from(self.add_cdb_len() & !0x03)
    }

    /// Offset of the first descriptor.
    pub fn descriptor_offset(&self) -> usize {
        field::cmd::HEADER_LEN + self.add_cdb_bytes()
    }

    /// The CDB: the 16-byte field plus the additional CDB bytes.
    ///
    /// # Panics
    /// If `check_len` would fail.
    pub fn cdb(&self) -> &[u8] {
        &self.buffer.as_ref()[field::cmd::CDB.start..self.descriptor_offset()]
    }

    /// Everything after the CDB (descriptors, then any immediate data).
    ///
    /// # Panics
    /// If `check_len` would fail.
    pub fn descriptor_area(&self) -> &[u8] {
        &self.buffer.as_ref()[self.descriptor_offset()..]
    }

    /// Data-out descriptor format (high nibble of byte 5).
    pub fn data_out_format(&self) -> DescriptorFormat {
        (self.buf_fmt() >> 4).into()
    }

    /// Data-in descriptor format (low nibble of byte 5).
    pub fn data_in_format(&self) -> DescriptorFormat {
        (self.buf_fmt() & 0x0F).into()
    }
}

packet_fields!(CmdPacket {
    /// IU type (0x02).
    iu_type / set_iu_type: u8 = field::TYPE;
    /// Solicited-notification bits (raw).
    sol_not / set_sol_not: u8 = field::cmd::SOL_NOT;
    /// Buffer formats: data-out in the high nibble, data-in in the low one.
    buf_fmt / set_buf_fmt: u8 = field::cmd::BUF_FMT;
    /// Data-out descriptor count (indirect).
    data_out_count / set_data_out_count: u8 = field::cmd::DATA_OUT_COUNT;
    /// Data-in descriptor count (indirect).
    data_in_count / set_data_in_count: u8 = field::cmd::DATA_IN_COUNT;
    /// Tag.
    tag / set_tag: Tag = field::TAG;
    /// Logical unit.
    lun / set_lun: Lun = field::cmd::LUN;
    /// Task attribute (raw).
    task_attr / set_task_attr: u8 = field::cmd::TASK_ATTR;
    /// ADDITIONAL CDB LENGTH byte (raw).
    add_cdb_len / set_add_cdb_len: u8 = field::cmd::ADD_CDB_LEN;
});

/// SRP_CMD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmdRepr<'a> {
    /// Solicited-notification bits.
    pub sol_not: CmdSolNot,
    /// Tag (echoed in SRP_RSP).
    pub tag: Tag,
    /// Logical unit.
    pub lun: Lun,
    /// Task attribute.
    pub task_attr: TaskAttr,
    /// The CDB. On parse: the 16-byte field plus additional bytes, zero
    /// padding included. On emit: 1..=268 bytes; shorter ones are padded to
    /// 16, longer ones to a multiple of 4.
    pub cdb: &'a [u8],
    /// Data-out buffer (written to the target).
    pub data_out: DataBuffer<'a>,
    /// Data-in buffer (read from the target); never `Immediate`.
    pub data_in: DataBuffer<'a>,
}

/// Reads one descriptor set of `format` at the start of `area`; returns it
/// and its descriptor length.
fn parse_buffer<'a>(
    format: DescriptorFormat,
    count: u8,
    area: &'a [u8],
) -> Result<(DataBuffer<'a>, usize)> {
    match format {
        DescriptorFormat::None => Ok((DataBuffer::None, 0)),
        DescriptorFormat::Direct => {
            let d = area.get(..DirectDesc::LEN).ok_or(Error)?;
            Ok((DataBuffer::Direct(DirectDesc::read(d)), DirectDesc::LEN))
        }
        DescriptorFormat::Indirect => {
            let len = INDIRECT_HEADER_LEN + DirectDesc::LEN * usize::from(count);
            let d = area.get(..len).ok_or(Error)?;
            Ok((
                DataBuffer::Indirect {
                    table: DirectDesc::read(&d[..16]),
                    total_len: read_u32(&d[16..20]),
                    descs: DescList::Wire(&d[INDIRECT_HEADER_LEN..]),
                },
                len,
            ))
        }
        // Immediate is handled by the caller (needs the negotiated offset).
        DescriptorFormat::Immediate | DescriptorFormat::Unknown(_) => Err(Error),
    }
}

/// Writes one descriptor set at the start of `area`.
fn emit_buffer(buf: &DataBuffer<'_>, area: &mut [u8]) {
    match buf {
        DataBuffer::None => {}
        DataBuffer::Direct(d) => d.write(area),
        DataBuffer::Indirect {
            table,
            total_len,
            descs,
        } => {
            table.write(&mut area[..16]);
            write_u32(&mut area[16..20], *total_len);
            for (i, d) in descs.iter().enumerate() {
                let at = INDIRECT_HEADER_LEN + i * DirectDesc::LEN;
                d.write(&mut area[at..at + DirectDesc::LEN]);
            }
        }
        DataBuffer::Immediate { data, .. } => write_u32(area, data.len() as u32),
    }
}

impl<'a> CmdRepr<'a> {
    /// Parses an SRP_CMD. `imm_data_offset` is the value negotiated at login
    /// and is only used when the data-out format is immediate (pass 0 when
    /// immediate data was not negotiated: such a command is then rejected).
    ///
    /// # Errors
    /// - shorter than 48 bytes, or a type code other than 0x02;
    /// - the additional CDB bytes do not fit;
    /// - data-out format not none/direct/indirect/immediate, or data-in
    ///   format not none/direct/indirect;
    /// - a descriptor (indirect: header plus the IU's descriptor count of
    ///   inline descriptors) does not fit;
    /// - immediate data: `imm_data_offset` inside the descriptors, or the
    ///   data (offset + length) beyond the buffer.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        p: &CmdPacket<&'a T>,
        imm_data_offset: u16,
    ) -> Result<CmdRepr<'a>> {
        p.check_len()?;
        if p.iu_type() != u8::from(IuType::Cmd) {
            return Err(Error);
        }
        let data: &'a T = p.buffer;
        let buf: &'a [u8] = data.as_ref();
        let desc_start = p.descriptor_offset();
        let area = &buf[desc_start..];

        let out_fmt = p.data_out_format();
        let (data_out, out_len, imm_len) = match out_fmt {
            DescriptorFormat::Immediate => {
                let d = area.get(..IMM_DESC_LEN).ok_or(Error)?;
                (DataBuffer::None, IMM_DESC_LEN, Some(read_u32(d)))
            }
            f => {
                let (b, n) = parse_buffer(f, p.data_out_count(), area)?;
                (b, n, None)
            }
        };
        let (data_in, in_len) =
            parse_buffer(p.data_in_format(), p.data_in_count(), &area[out_len..])?;

        let data_out = match imm_len {
            None => data_out,
            Some(len) => {
                let desc_end = desc_start + out_len + in_len;
                let start = usize::from(imm_data_offset);
                if start < desc_end {
                    return Err(Error);
                }
                let end = (start as u64) + u64::from(len);
                if end > buf.len() as u64 {
                    return Err(Error);
                }
                DataBuffer::Immediate {
                    offset: imm_data_offset,
                    data: &buf[start..end as usize],
                }
            }
        };

        Ok(CmdRepr {
            sol_not: CmdSolNot::from_bits_retain(p.sol_not()),
            tag: p.tag(),
            lun: p.lun(),
            task_attr: p.task_attr().into(),
            cdb: &buf[field::cmd::CDB.start..desc_start],
            data_out,
            data_in,
        })
    }

    /// Additional CDB bytes needed for `self.cdb` (a multiple of 4).
    fn add_cdb_bytes(&self) -> usize {
        (self.cdb.len().saturating_sub(16) + 3) & !3
    }

    /// End of the descriptors.
    fn descriptors_end(&self) -> usize {
        CMD_HEADER_LEN + self.add_cdb_bytes() + self.data_out.desc_len() + self.data_in.desc_len()
    }

    /// Bytes [`CmdRepr::emit`] writes: header, additional CDB, descriptors,
    /// and immediate data at its offset.
    pub fn buffer_len(&self) -> usize {
        match self.data_out {
            DataBuffer::Immediate { offset, data } => {
                self.descriptors_end().max(usize::from(offset)) + data.len()
            }
            _ => self.descriptors_end(),
        }
    }

    /// Writes the whole IU: every byte up to [`CmdRepr::buffer_len`],
    /// including zeros between the descriptors and immediate data.
    ///
    /// # Panics
    /// If the buffer is shorter than [`CmdRepr::buffer_len`]; if the CDB is
    /// empty or longer than 268 bytes; if an indirect list holds more than
    /// 255 descriptors; if data-in is `Immediate`; if an immediate offset
    /// lies inside the descriptors.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut CmdPacket<T>) {
        let add = self.add_cdb_bytes();
        assert!(
            !self.cdb.is_empty() && add <= 252,
            "CDB length out of range"
        );
        assert!(
            !matches!(self.data_in, DataBuffer::Immediate { .. }),
            "immediate data-in"
        );
        let total = self.buffer_len();
        if let DataBuffer::Immediate { offset, .. } = self.data_out {
            assert!(
                usize::from(offset) >= self.descriptors_end(),
                "immediate data overlaps descriptors"
            );
        }
        for b in [&self.data_out, &self.data_in] {
            if let DataBuffer::Indirect { descs, .. } = b {
                assert!(descs.len() <= 255, "too many inline descriptors");
            }
        }

        let buf = &mut p.buffer.as_mut()[..total];
        zero(buf);
        buf[field::cmd::CDB.start..field::cmd::CDB.start + self.cdb.len()]
            .copy_from_slice(self.cdb);
        p.set_iu_type(IuType::Cmd.into());
        p.set_sol_not(self.sol_not.bits());
        p.set_buf_fmt(
            (u8::from(self.data_out.format()) << 4) | (u8::from(self.data_in.format()) & 0x0F),
        );
        p.set_data_out_count(self.data_out.count());
        p.set_data_in_count(self.data_in.count());
        p.set_tag(self.tag);
        p.set_lun(self.lun);
        p.set_task_attr(self.task_attr.into());
        p.set_add_cdb_len(add as u8);

        let start = CMD_HEADER_LEN + add;
        let buf = p.buffer.as_mut();
        emit_buffer(&self.data_out, &mut buf[start..]);
        emit_buffer(&self.data_in, &mut buf[start + self.data_out.desc_len()..]);
        if let DataBuffer::Immediate { offset, data } = self.data_out {
            let at = usize::from(offset);
            buf[at..at + data.len()].copy_from_slice(data);
        }
    }
}

// ---------------------------------------------------------------------------
// SRP_RSP
// ---------------------------------------------------------------------------

packet_view! {
    /// SRP_RSP: 36-byte header, response data (RSPVALID), sense data
    /// (SNSVALID).
    RspPacket
}

impl<T: AsRef<[u8]>> RspPacket<T> {
    /// Checks the header and that the response and sense data the flags
    /// announce fit in the buffer.
    ///
    /// # Errors
    /// Too short for the header or for the announced data.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::rsp::HEADER_LEN {
            return Err(Error);
        }
        let end = field::rsp::HEADER_LEN as u64
            + u64::from(self.resp_data_len_valid())
            + u64::from(self.sense_len_valid());
        if end > len as u64 {
            return Err(Error);
        }
        Ok(())
    }

    /// Response data length if RSPVALID, else 0.
    fn resp_data_len_valid(&self) -> u32 {
        if self.flags() & rsp_flag::RSPVALID != 0 {
            self.resp_data_len()
        } else {
            0
        }
    }

    /// Sense data length if SNSVALID, else 0.
    fn sense_len_valid(&self) -> u32 {
        if self.flags() & rsp_flag::SNSVALID != 0 {
            self.sense_data_len()
        } else {
            0
        }
    }

    /// The response data (empty unless RSPVALID).
    ///
    /// # Panics
    /// If `check_len` would fail.
    pub fn response_data(&self) -> &[u8] {
        let s = field::rsp::HEADER_LEN;
        &self.buffer.as_ref()[s..s + self.resp_data_len_valid() as usize]
    }

    /// The sense data (empty unless SNSVALID).
    ///
    /// # Panics
    /// If `check_len` would fail.
    pub fn sense_data(&self) -> &[u8] {
        let s = field::rsp::HEADER_LEN + self.resp_data_len_valid() as usize;
        &self.buffer.as_ref()[s..s + self.sense_len_valid() as usize]
    }
}

packet_fields!(RspPacket {
    /// IU type (0xC1).
    iu_type / set_iu_type: u8 = field::TYPE;
    /// Byte 1 (SOLNT).
    sol_not / set_sol_not: u8 = field::rsp::SOL_NOT;
    /// Credits returned.
    req_lim_delta / set_req_lim_delta: u32 = field::rsp::REQ_LIM_DELTA;
    /// Tag of the command.
    tag / set_tag: Tag = field::TAG;
    /// Valid flags (raw).
    flags / set_flags: u8 = field::rsp::FLAGS;
    /// SCSI status (raw).
    status / set_status: u8 = field::rsp::STATUS;
    /// Data-out residual count.
    data_out_residual / set_data_out_residual: u32 = field::rsp::DATA_OUT_RESIDUAL;
    /// Data-in residual count.
    data_in_residual / set_data_in_residual: u32 = field::rsp::DATA_IN_RESIDUAL;
    /// Sense data length.
    sense_data_len / set_sense_data_len: u32 = field::rsp::SENSE_LEN;
    /// Response data length.
    resp_data_len / set_resp_data_len: u32 = field::rsp::RESP_LEN;
});

/// SRP_RSP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RspRepr<'a> {
    /// SOLNT.
    pub solicited: bool,
    /// Credits returned (1 per response from ib_srpt).
    pub req_lim_delta: u32,
    /// Tag of the command or task management request.
    pub tag: Tag,
    /// SCSI status.
    pub status: Status,
    /// Data-out residual.
    pub data_out_residual: Residual,
    /// Data-in residual.
    pub data_in_residual: Residual,
    /// Response data (RSPVALID): 4 bytes for task management responses.
    pub response_data: Option<&'a [u8]>,
    /// Sense data (SNSVALID).
    pub sense_data: Option<&'a [u8]>,
}

fn residual(flags: u8, over: u8, under: u8, count: u32) -> Result<Residual> {
    match (flags & over != 0, flags & under != 0) {
        (false, false) => Ok(Residual::None),
        (true, false) => Ok(Residual::Overflow(count)),
        (false, true) => Ok(Residual::Underflow(count)),
        (true, true) => Err(Error),
    }
}

fn residual_bits(r: Residual, over: u8, under: u8) -> (u8, u32) {
    match r {
        Residual::None => (0, 0),
        Residual::Overflow(n) => (over, n),
        Residual::Underflow(n) => (under, n),
    }
}

impl<'a> RspRepr<'a> {
    /// Parses an SRP_RSP. Lengths of data whose valid flag is clear are
    /// ignored.
    ///
    /// # Errors
    /// Too short for the header or the announced response/sense data, a type
    /// code other than 0xC1, or both OVER and UNDER set for one direction.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &RspPacket<&'a T>) -> Result<RspRepr<'a>> {
        p.check_len()?;
        if p.iu_type() != u8::from(IuType::Rsp) {
            return Err(Error);
        }
        let flags = p.flags();
        let data: &'a T = p.buffer;
        let buf: &'a [u8] = data.as_ref();
        let resp_start = RSP_HEADER_LEN;
        let resp_end = resp_start + p.resp_data_len_valid() as usize;
        let sense_end = resp_end + p.sense_len_valid() as usize;
        Ok(RspRepr {
            solicited: p.sol_not() & SOLNT != 0,
            req_lim_delta: p.req_lim_delta(),
            tag: p.tag(),
            status: p.status().into(),
            data_out_residual: residual(
                flags,
                rsp_flag::DOOVER,
                rsp_flag::DOUNDER,
                p.data_out_residual(),
            )?,
            data_in_residual: residual(
                flags,
                rsp_flag::DIOVER,
                rsp_flag::DIUNDER,
                p.data_in_residual(),
            )?,
            response_data: (flags & rsp_flag::RSPVALID != 0).then(|| &buf[resp_start..resp_end]),
            sense_data: (flags & rsp_flag::SNSVALID != 0).then(|| &buf[resp_end..sense_end]),
        })
    }

    /// A plain response: GOOD or another status, no data, one credit.
    pub const fn new(tag: Tag, status: Status) -> RspRepr<'a> {
        RspRepr {
            solicited: false,
            req_lim_delta: 1,
            tag,
            status,
            data_out_residual: Residual::None,
            data_in_residual: Residual::None,
            response_data: None,
            sense_data: None,
        }
    }

    /// The decoded sense, when sense data is present and parses.
    pub fn sense(&self) -> Option<Sense> {
        self.sense_data.and_then(|s| Sense::parse(s).ok())
    }

    /// The task management response code (byte 3 of 4+ bytes of response
    /// data).
    pub fn task_mgmt_response(&self) -> Option<TaskMgmtResponse> {
        self.response_data.and_then(|r| r.get(3)).map(|&c| c.into())
    }

    /// Bytes [`RspRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        RSP_HEADER_LEN
            + self.response_data.map_or(0, <[u8]>::len)
            + self.sense_data.map_or(0, <[u8]>::len)
    }

    /// Writes the whole IU.
    ///
    /// # Panics
    /// If the buffer is shorter than [`RspRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut RspPacket<T>) {
        let total = self.buffer_len();
        zero(&mut p.buffer.as_mut()[..total]);
        let (do_bits, do_count) =
            residual_bits(self.data_out_residual, rsp_flag::DOOVER, rsp_flag::DOUNDER);
        let (di_bits, di_count) =
            residual_bits(self.data_in_residual, rsp_flag::DIOVER, rsp_flag::DIUNDER);
        let mut flags = do_bits | di_bits;
        let resp = self.response_data.unwrap_or(&[]);
        let sense = self.sense_data.unwrap_or(&[]);
        if self.response_data.is_some() {
            flags |= rsp_flag::RSPVALID;
        }
        if self.sense_data.is_some() {
            flags |= rsp_flag::SNSVALID;
        }
        p.set_iu_type(IuType::Rsp.into());
        p.set_sol_not(if self.solicited { SOLNT } else { 0 });
        p.set_req_lim_delta(self.req_lim_delta);
        p.set_tag(self.tag);
        p.set_flags(flags);
        p.set_status(self.status.into());
        p.set_data_out_residual(do_count);
        p.set_data_in_residual(di_count);
        p.set_sense_data_len(sense.len() as u32);
        p.set_resp_data_len(resp.len() as u32);
        let buf = p.buffer.as_mut();
        let s = RSP_HEADER_LEN;
        buf[s..s + resp.len()].copy_from_slice(resp);
        buf[s + resp.len()..total].copy_from_slice(sense);
    }
}

// ---------------------------------------------------------------------------
// SRP_AER_REQ
// ---------------------------------------------------------------------------

packet_view! {
    /// SRP_AER_REQ: 36-byte header then sense data.
    AerReqPacket
}

impl<T: AsRef<[u8]>> AerReqPacket<T> {
    /// # Errors
    /// Shorter than the header plus the sense data length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::aer_req::HEADER_LEN
            || field::aer_req::HEADER_LEN as u64 + u64::from(self.sense_data_len()) > len as u64
        {
            return Err(Error);
        }
        Ok(())
    }

    /// The sense data.
    ///
    /// # Panics
    /// If `check_len` would fail.
    pub fn sense_data(&self) -> &[u8] {
        let s = field::aer_req::HEADER_LEN;
        &self.buffer.as_ref()[s..s + self.sense_data_len() as usize]
    }
}

packet_fields!(AerReqPacket {
    /// IU type (0x82).
    iu_type / set_iu_type: u8 = field::TYPE;
    /// Byte 1 (SOLNT).
    sol_not / set_sol_not: u8 = field::aer_req::SOL_NOT;
    /// Credits granted.
    req_lim_delta / set_req_lim_delta: u32 = field::aer_req::REQ_LIM_DELTA;
    /// Tag.
    tag / set_tag: Tag = field::TAG;
    /// Logical unit.
    lun / set_lun: Lun = field::aer_req::LUN;
    /// Sense data length.
    sense_data_len / set_sense_data_len: u32 = field::aer_req::SENSE_LEN;
});

/// SRP_AER_REQ (T→I): an asynchronous event with sense data; answer with
/// [`AerRspRepr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AerReqRepr<'a> {
    /// SOLNT.
    pub solicited: bool,
    /// Credits granted.
    pub req_lim_delta: u32,
    /// Tag.
    pub tag: Tag,
    /// Logical unit the event concerns.
    pub lun: Lun,
    /// Sense data.
    pub sense_data: &'a [u8],
}

impl<'a> AerReqRepr<'a> {
    /// Parses an asynchronous event request.
    ///
    /// # Errors
    /// Too short (header or sense), or a type code other than 0x82.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(p: &AerReqPacket<&'a T>) -> Result<AerReqRepr<'a>> {
        p.check_len()?;
        if p.iu_type() != u8::from(IuType::AerReq) {
            return Err(Error);
        }
        let data: &'a T = p.buffer;
        let buf: &'a [u8] = data.as_ref();
        let s = field::aer_req::HEADER_LEN;
        Ok(AerReqRepr {
            solicited: p.sol_not() & SOLNT != 0,
            req_lim_delta: p.req_lim_delta(),
            tag: p.tag(),
            lun: p.lun(),
            sense_data: &buf[s..s + p.sense_data_len() as usize],
        })
    }

    /// Bytes [`AerReqRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        field::aer_req::HEADER_LEN + self.sense_data.len()
    }

    /// Writes the whole IU.
    ///
    /// # Panics
    /// If the buffer is shorter than [`AerReqRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut AerReqPacket<T>) {
        let total = self.buffer_len();
        zero(&mut p.buffer.as_mut()[..total]);
        p.set_iu_type(IuType::AerReq.into());
        p.set_sol_not(if self.solicited { SOLNT } else { 0 });
        p.set_req_lim_delta(self.req_lim_delta);
        p.set_tag(self.tag);
        p.set_lun(self.lun);
        p.set_sense_data_len(self.sense_data.len() as u32);
        p.buffer.as_mut()[field::aer_req::HEADER_LEN..total].copy_from_slice(self.sense_data);
    }
}

// ---------------------------------------------------------------------------
// Any IU
// ---------------------------------------------------------------------------

/// Any SRP IU, for a receive path that dispatches on the type byte. The
/// login request is the classic 64-byte layout here; the rdma_cm layout has
/// no type byte in front (use [`LoginReqRepr::parse_rdma`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IuRepr<'a> {
    /// SRP_LOGIN_REQ (classic layout).
    LoginReq(LoginReqRepr),
    /// SRP_TSK_MGMT.
    TskMgmt(TskMgmtRepr),
    /// SRP_CMD.
    Cmd(CmdRepr<'a>),
    /// SRP_I_LOGOUT.
    ILogout(ILogoutRepr),
    /// SRP_CRED_RSP.
    CredRsp(CredRspRepr),
    /// SRP_AER_RSP.
    AerRsp(AerRspRepr),
    /// SRP_T_LOGOUT.
    TLogout(TLogoutRepr),
    /// SRP_CRED_REQ.
    CredReq(CredReqRepr),
    /// SRP_AER_REQ.
    AerReq(AerReqRepr<'a>),
    /// SRP_LOGIN_RSP.
    LoginRsp(LoginRspRepr),
    /// SRP_RSP.
    Rsp(RspRepr<'a>),
    /// SRP_LOGIN_REJ.
    LoginRej(LoginRejRepr),
}

impl<'a> IuRepr<'a> {
    /// Parses whatever IU `buf` holds. `imm_data_offset` is passed to
    /// [`CmdRepr::parse`].
    ///
    /// # Errors
    /// An empty buffer, an unknown type code, or whatever the IU's own parser
    /// rejects.
    pub fn parse(buf: &'a [u8], imm_data_offset: u16) -> Result<IuRepr<'a>> {
        Ok(match iu_type(buf)? {
            IuType::LoginReq => {
                IuRepr::LoginReq(LoginReqRepr::parse(&LoginReqPacket::new_unchecked(buf))?)
            }
            IuType::TskMgmt => {
                IuRepr::TskMgmt(TskMgmtRepr::parse(&TskMgmtPacket::new_unchecked(buf))?)
            }
            IuType::Cmd => IuRepr::Cmd(CmdRepr::parse(
                &CmdPacket::new_unchecked(buf),
                imm_data_offset,
            )?),
            IuType::ILogout => {
                IuRepr::ILogout(ILogoutRepr::parse(&ShortPacket::new_unchecked(buf))?)
            }
            IuType::CredRsp => {
                IuRepr::CredRsp(CredRspRepr::parse(&ShortPacket::new_unchecked(buf))?)
            }
            IuType::AerRsp => IuRepr::AerRsp(AerRspRepr::parse(&ShortPacket::new_unchecked(buf))?),
            IuType::TLogout => {
                IuRepr::TLogout(TLogoutRepr::parse(&ShortPacket::new_unchecked(buf))?)
            }
            IuType::CredReq => {
                IuRepr::CredReq(CredReqRepr::parse(&ShortPacket::new_unchecked(buf))?)
            }
            IuType::AerReq => IuRepr::AerReq(AerReqRepr::parse(&AerReqPacket::new_unchecked(buf))?),
            IuType::LoginRsp => {
                IuRepr::LoginRsp(LoginRspRepr::parse(&LoginRspPacket::new_unchecked(buf))?)
            }
            IuType::Rsp => IuRepr::Rsp(RspRepr::parse(&RspPacket::new_unchecked(buf))?),
            IuType::LoginRej => {
                IuRepr::LoginRej(LoginRejRepr::parse(&LoginRejPacket::new_unchecked(buf))?)
            }
            IuType::Unknown(_) => return Err(Error),
        })
    }

    /// The IU type.
    pub fn iu_type(&self) -> IuType {
        match self {
            IuRepr::LoginReq(_) => IuType::LoginReq,
            IuRepr::TskMgmt(_) => IuType::TskMgmt,
            IuRepr::Cmd(_) => IuType::Cmd,
            IuRepr::ILogout(_) => IuType::ILogout,
            IuRepr::CredRsp(_) => IuType::CredRsp,
            IuRepr::AerRsp(_) => IuType::AerRsp,
            IuRepr::TLogout(_) => IuType::TLogout,
            IuRepr::CredReq(_) => IuType::CredReq,
            IuRepr::AerReq(_) => IuType::AerReq,
            IuRepr::LoginRsp(_) => IuType::LoginRsp,
            IuRepr::Rsp(_) => IuType::Rsp,
            IuRepr::LoginRej(_) => IuType::LoginRej,
        }
    }

    /// The IU's tag.
    pub fn tag(&self) -> Tag {
        match self {
            IuRepr::LoginReq(r) => r.tag,
            IuRepr::TskMgmt(r) => r.tag,
            IuRepr::Cmd(r) => r.tag,
            IuRepr::ILogout(r) => r.tag,
            IuRepr::CredRsp(r) => r.tag,
            IuRepr::AerRsp(r) => r.tag,
            IuRepr::TLogout(r) => r.tag,
            IuRepr::CredReq(r) => r.tag,
            IuRepr::AerReq(r) => r.tag,
            IuRepr::LoginRsp(r) => r.tag,
            IuRepr::Rsp(r) => r.tag,
            IuRepr::LoginRej(r) => r.tag,
        }
    }

    /// Credits this IU returns to the initiator (SRP_RSP, SRP_CRED_REQ,
    /// SRP_AER_REQ, SRP_LOGIN_RSP), else 0.
    pub fn req_lim_delta(&self) -> u32 {
        match self {
            IuRepr::Rsp(r) => r.req_lim_delta,
            IuRepr::CredReq(r) => r.req_lim_delta,
            IuRepr::AerReq(r) => r.req_lim_delta,
            IuRepr::LoginRsp(r) => r.req_lim_delta,
            _ => 0,
        }
    }

    /// Bytes [`IuRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            IuRepr::LoginReq(r) => r.buffer_len(),
            IuRepr::TskMgmt(r) => r.buffer_len(),
            IuRepr::Cmd(r) => r.buffer_len(),
            IuRepr::ILogout(r) => r.buffer_len(),
            IuRepr::CredRsp(r) => r.buffer_len(),
            IuRepr::AerRsp(r) => r.buffer_len(),
            IuRepr::TLogout(r) => r.buffer_len(),
            IuRepr::CredReq(r) => r.buffer_len(),
            IuRepr::AerReq(r) => r.buffer_len(),
            IuRepr::LoginRsp(r) => r.buffer_len(),
            IuRepr::Rsp(r) => r.buffer_len(),
            IuRepr::LoginRej(r) => r.buffer_len(),
        }
    }

    /// Writes the IU at the start of `buf`.
    ///
    /// # Panics
    /// As the IU's own `emit`.
    pub fn emit(&self, buf: &mut [u8]) {
        match self {
            IuRepr::LoginReq(r) => r.emit(&mut LoginReqPacket::new_unchecked(buf)),
            IuRepr::TskMgmt(r) => r.emit(&mut TskMgmtPacket::new_unchecked(buf)),
            IuRepr::Cmd(r) => r.emit(&mut CmdPacket::new_unchecked(buf)),
            IuRepr::ILogout(r) => r.emit(&mut ShortPacket::new_unchecked(buf)),
            IuRepr::CredRsp(r) => r.emit(&mut ShortPacket::new_unchecked(buf)),
            IuRepr::AerRsp(r) => r.emit(&mut ShortPacket::new_unchecked(buf)),
            IuRepr::TLogout(r) => r.emit(&mut ShortPacket::new_unchecked(buf)),
            IuRepr::CredReq(r) => r.emit(&mut ShortPacket::new_unchecked(buf)),
            IuRepr::AerReq(r) => r.emit(&mut AerReqPacket::new_unchecked(buf)),
            IuRepr::LoginRsp(r) => r.emit(&mut LoginRspPacket::new_unchecked(buf)),
            IuRepr::Rsp(r) => r.emit(&mut RspPacket::new_unchecked(buf)),
            IuRepr::LoginRej(r) => r.emit(&mut LoginRejPacket::new_unchecked(buf)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::scsi::{Cdb, SenseKey};
    extern crate std;
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // ----- golden bytes from /work/shared/golden/srp-session.pcap -----

    /// Frame 5, CM REQ private data (92 bytes): rdma_cm header (36) then
    /// srp_login_req_rdma (56).
    const REQ_PRIVATE_DATA: &str = "0040d447000000000000000000000000c0a84d02000000000000000000000000c0a84d01\
        000000000000000000068000000020440000000000000000505400fffe770002505400fffe770001505400fffe7700010044000000000000";
    /// Frame 6, CM REP private data: SRP_LOGIN_RSP (52 bytes; the REP pads to 196).
    const LOGIN_RSP: &str = "c0000000000000800000000000000000000020540000204400068000000000000000000000000000000000000000000000000000";
    /// Frame 10: SRP_CMD INQUIRY alloc 36, data-in direct.
    const CMD_INQUIRY: &str = "020000000001000008000000000000000000000000000000000000000000000012000000240000000000000000000000ffff8a7294b3aa00000003b500000024";
    /// Frame 143: SRP_CMD TEST UNIT READY, no data (48 bytes).
    const CMD_TUR: &str = "02000000000000000e000000000000000000000000000000000000000000000000000000000000000000000000000000";
    /// Frame 149: SRP_CMD READ CAPACITY(16).
    const CMD_READ_CAP16: &str = "02000000000100000f00000000000000000000000000000000000000000000009e100000000000000000000000200000ffff8a7293af4400000003cb00000020";
    /// Frame 238: SRP_CMD READ(10) LBA 0, 1 block, 512-byte descriptor.
    const CMD_READ10: &str = "02000000000100000d000000000000000000000000000000000000000000000028000000000000000100000000000000ffff8a729fdc4580000003d800000200";
    /// Frame 344: SRP_CMD WRITE(10) LBA 128, 96 blocks, data-out direct 48 KiB.
    const CMD_WRITE10: &str = "02000000001000000b00000000000000000000000000000000000000000000002a000000008000006000000000000000ffff8a729fda7000000004280000c000";
    /// Frames 336-340: SRP_CMD WRITE(10) LBA 16, 8 blocks with 4096 bytes of
    /// immediate data at offset 68; these are the first 68 bytes. Bytes
    /// 52..68 are stale bytes ib_srp did not clear (a previous descriptor).
    const CMD_WRITE10_IMM_HEAD: &str = "02000000003000000a00000000000000000000000000000000000000000000002a000000001000000800000000000000000010009fde0000000004270000300000000000";
    /// Frame 241: SRP_RSP GOOD.
    const RSP_GOOD: &str =
        "c1000000000000010d000000000000000000000000000000000000000000000000000000";
    /// Frame 49: SRP_RSP GOOD, DIUNDER, residual 24.
    const RSP_DIUNDER: &str =
        "c1000000000000010e000000000000000000200000000000000000180000000000000000";
    /// Frame 142: SRP_RSP of REPORT LUNS, DIUNDER residual 4080.
    const RSP_REPORT_LUNS: &str =
        "c1000000000000010d00000000000000000020000000000000000ff00000000000000000";
    /// Frame 175: SRP_RSP CHECK CONDITION with 96 bytes of fixed sense
    /// (ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE).
    const RSP_SENSE: &str = "c1000000000000010b000000000000000000020200000000000000000000006000000000\
        700005000000000a00000000200000000000000000000000000000000000000000000000000000000000000000000000\
        000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

    fn clean(s: &str) -> Vec<u8> {
        hex(&s.split_whitespace().collect::<std::string::String>())
    }

    fn tag(n: u8) -> Tag {
        Tag([n, 0, 0, 0, 0, 0, 0, 0])
    }

    const INITIATOR: PortId = PortId::new(0, 0x5054_00ff_fe77_0002);
    const TARGET: PortId = PortId::new(0x5054_00ff_fe77_0001, 0x5054_00ff_fe77_0001);

    fn golden_login_req() -> LoginReqRepr {
        LoginReqRepr {
            tag: Tag::default(),
            req_it_iu_len: 8260,
            buffer_formats: BufferFormats::DIRECT | BufferFormats::INDIRECT,
            multi_channel: MultiChannelAction::Single,
            flags: LoginReqFlags::IMMED_REQUESTED,
            imm_data_offset: LINUX_IMM_DATA_OFFSET,
            initiator_port_id: INITIATOR,
            target_port_id: TARGET,
        }
    }

    /// Emits `repr` through `f` into a buffer pre-filled with 0xA5 and
    /// returns the first `len` bytes, checking nothing after them was touched.
    fn emit_dirty(len: usize, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut b = vec![0xA5u8; len + 8];
        f(&mut b);
        assert!(
            b[len..].iter().all(|&x| x == 0xA5),
            "emit wrote past its length"
        );
        b.truncate(len);
        b
    }

    // ----- login -----

    #[test]
    fn golden_login_req_rdma() {
        let pd = clean(REQ_PRIVATE_DATA);
        assert_eq!(pd.len(), 92);
        let iu = &pd[36..];
        let p = LoginReqRdmaPacket::new_checked(iu).unwrap();
        assert_eq!(p.req_it_iu_len(), 8260);
        assert_eq!(p.flags(), 0x80);
        assert_eq!(
            p.initiator_port_id().to_string(),
            "0000000000000000505400fffe770002"
        );
        assert_eq!(
            p.target_port_id().to_string(),
            "505400fffe770001505400fffe770001"
        );
        let r = LoginReqRepr::parse_rdma(&p).unwrap();
        assert_eq!(r, golden_login_req());
        assert_eq!(r.target_port_id.id_ext(), 0x5054_00ff_fe77_0001);
        assert_eq!(r.initiator_port_id.guid(), 0x5054_00ff_fe77_0002);
        let out = emit_dirty(LoginReqRepr::RDMA_LEN, |b| {
            r.emit_rdma(&mut LoginReqRdmaPacket::new_unchecked(b))
        });
        assert_eq!(out, iu);
    }

    #[test]
    fn login_req_classic_layout() {
        let r = golden_login_req();
        let out = emit_dirty(r.buffer_len(), |b| {
            r.emit(&mut LoginReqPacket::new_unchecked(b))
        });
        assert_eq!(out.len(), 64);
        assert_eq!(out[0], 0);
        assert_eq!(&out[16..20], &8260u32.to_be_bytes());
        assert_eq!(&out[24..30], &[0x00, 0x06, 0x80, 0x00, 0x00, 0x44]);
        assert_eq!(&out[32..48], &INITIATOR.0);
        assert_eq!(&out[48..64], &TARGET.0);
        assert_eq!(
            LoginReqRepr::parse(&LoginReqPacket::new_checked(&out[..]).unwrap()),
            Ok(r)
        );
        assert_eq!(IuRepr::parse(&out, 0), Ok(IuRepr::LoginReq(r)));
        // Multi-channel action and unknown flag bits survive.
        let mut m = r;
        m.multi_channel = MultiChannelAction::Unknown(3);
        m.flags = LoginReqFlags::from_bits_retain(0x14);
        let out = emit_dirty(64, |b| m.emit(&mut LoginReqPacket::new_unchecked(b)));
        assert_eq!(out[26], 0x17);
        assert_eq!(
            LoginReqRepr::parse(&LoginReqPacket::new_unchecked(&out[..])),
            Ok(m)
        );
    }

    #[test]
    fn login_req_rejections() {
        let pd = clean(REQ_PRIVATE_DATA);
        let iu = &pd[36..];
        assert_eq!(LoginReqRdmaPacket::new_checked(&iu[..55]), Err(Error));
        let mut bad = iu.to_vec();
        bad[11] = 0x02;
        assert_eq!(
            LoginReqRepr::parse_rdma(&LoginReqRdmaPacket::new_unchecked(&bad[..])),
            Err(Error)
        );
        let mut classic = [0u8; 64];
        golden_login_req().emit(&mut LoginReqPacket::new_unchecked(&mut classic[..]));
        assert_eq!(
            LoginReqRepr::parse(&LoginReqPacket::new_unchecked(&classic[..63])),
            Err(Error)
        );
        classic[0] = 0xC0;
        assert_eq!(
            LoginReqRepr::parse(&LoginReqPacket::new_unchecked(&classic[..])),
            Err(Error)
        );
    }

    #[test]
    fn golden_login_rsp() {
        let b = hex(LOGIN_RSP);
        let r = LoginRspRepr::parse(&LoginRspPacket::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(
            r,
            LoginRspRepr {
                req_lim_delta: 128,
                tag: Tag::default(),
                max_it_iu_len: 8276,
                max_ti_iu_len: 8260,
                buffer_formats: BufferFormats::DIRECT | BufferFormats::INDIRECT,
                multi_channel: MultiChannelResult::NoExisting,
                flags: LoginRspFlags::IMMED_SUPP,
            }
        );
        let out = emit_dirty(r.buffer_len(), |x| {
            r.emit(&mut LoginRspPacket::new_unchecked(x))
        });
        assert_eq!(out, b);
        // The REP private data is 196 bytes of which the IU is the first 52.
        let mut pd = b.clone();
        pd.resize(196, 0);
        assert_eq!(IuRepr::parse(&pd, 0), Ok(IuRepr::LoginRsp(r)));
        assert_eq!(IuRepr::parse(&pd, 0).unwrap().req_lim_delta(), 128);
        // Rejections.
        assert_eq!(
            LoginRspRepr::parse(&LoginRspPacket::new_unchecked(&b[..51])),
            Err(Error)
        );
        pd[0] = 0xC2;
        assert_eq!(
            LoginRspRepr::parse(&LoginRspPacket::new_unchecked(&pd[..])),
            Err(Error)
        );
        // Terminated result (MULTICHAN_SINGLE over an existing channel).
        let t = LoginRspRepr {
            multi_channel: MultiChannelResult::Terminated,
            ..r
        };
        let out = emit_dirty(52, |x| t.emit(&mut LoginRspPacket::new_unchecked(x)));
        assert_eq!(out[26], 0x81);
        assert_eq!(
            LoginRspRepr::parse(&LoginRspPacket::new_unchecked(&out[..])),
            Ok(t)
        );
    }

    #[test]
    fn login_rej() {
        let r = LoginRejRepr {
            reason: LoginRejReason::UnableToAssociate,
            tag: Tag::default(),
            buffer_formats: BufferFormats::DIRECT | BufferFormats::INDIRECT,
        };
        let out = emit_dirty(32, |x| r.emit(&mut LoginRejPacket::new_unchecked(x)));
        assert_eq!(&out[..8], &[0xC2, 0, 0, 0, 0x00, 0x01, 0x00, 0x03]);
        assert_eq!(&out[24..26], &[0, 6]);
        assert_eq!(
            LoginRejRepr::parse(&LoginRejPacket::new_checked(&out[..]).unwrap()),
            Ok(r)
        );
        assert_eq!(IuRepr::parse(&out, 0), Ok(IuRepr::LoginRej(r)));
        assert_eq!(LoginRejPacket::new_checked(&out[..31]), Err(Error));
        let mut bad = out.clone();
        bad[0] = 0xC0;
        assert_eq!(
            LoginRejRepr::parse(&LoginRejPacket::new_unchecked(&bad[..])),
            Err(Error)
        );
        // Reasons: named, meaning, unknown kept.
        assert_eq!(
            LoginRejReason::from(0x0001_0006),
            LoginRejReason::ChannelLimitReached
        );
        assert_eq!(
            LoginRejReason::from(0x0001_0009),
            LoginRejReason::Unknown(0x0001_0009)
        );
        assert_eq!(u32::from(LoginRejReason::Unknown(0x0001_0009)), 0x0001_0009);
        assert!(LoginRejReason::UnableToAssociate
            .to_string()
            .contains("srpt_service_guid twice"));
        assert!(LoginRejReason::ItIuLenTooLarge
            .to_string()
            .contains("IU length too large"));
        assert_eq!(
            LoginRejReason::Unknown(0x0001_0009).to_string(),
            "unknown login rejection reason 0x00010009"
        );
    }

    // ----- SRP_CMD -----

    fn direct_in(va: u64, rkey: u32, len: u32) -> DataBuffer<'static> {
        DataBuffer::Direct(DirectDesc { va, rkey, len })
    }

    #[test]
    fn golden_cmd_inquiry() {
        let b = hex(CMD_INQUIRY);
        let p = CmdPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.buf_fmt(), p.data_out_count(), p.data_in_count()),
            (0x01, 0, 0)
        );
        assert_eq!(p.data_in_format(), DescriptorFormat::Direct);
        assert_eq!(p.data_out_format(), DescriptorFormat::None);
        let r = CmdRepr::parse(&p, 0).unwrap();
        assert_eq!(r.tag, tag(8));
        assert_eq!(r.lun, Lun::ZERO);
        assert_eq!(r.task_attr, TaskAttr::Simple);
        assert_eq!(Cdb::parse(r.cdb), Ok(Cdb::inquiry(36)));
        assert_eq!(r.data_in, direct_in(0xffff_8a72_94b3_aa00, 0x3b5, 36));
        assert_eq!(r.data_out, DataBuffer::None);
        // Build it as an initiator would.
        let cdb = Cdb::inquiry(36).to_padded();
        let built = CmdRepr {
            sol_not: CmdSolNot::empty(),
            tag: tag(8),
            lun: Lun::ZERO,
            task_attr: TaskAttr::Simple,
            cdb: &cdb[..6],
            data_out: DataBuffer::None,
            data_in: direct_in(0xffff_8a72_94b3_aa00, 0x3b5, 36),
        };
        let out = emit_dirty(built.buffer_len(), |x| {
            built.emit(&mut CmdPacket::new_unchecked(x))
        });
        assert_eq!(out, b);
        assert_eq!(IuRepr::parse(&b, 0), Ok(IuRepr::Cmd(r)));
    }

    #[test]
    fn golden_cmds_round_trip() {
        for (h, cdb, data_in, data_out) in [
            (
                CMD_TUR,
                Cdb::TestUnitReady,
                DataBuffer::None,
                DataBuffer::None,
            ),
            (
                CMD_READ_CAP16,
                Cdb::ReadCapacity16 { alloc_len: 32 },
                direct_in(0xffff_8a72_93af_4400, 0x3cb, 32),
                DataBuffer::None,
            ),
            (
                CMD_READ10,
                Cdb::read(0, 1),
                direct_in(0xffff_8a72_9fdc_4580, 0x3d8, 512),
                DataBuffer::None,
            ),
            (
                CMD_WRITE10,
                Cdb::write(128, 96),
                DataBuffer::None,
                direct_in(0xffff_8a72_9fda_7000, 0x428, 49152),
            ),
        ] {
            let b = hex(h);
            let r = CmdRepr::parse(
                &CmdPacket::new_checked(&b[..]).unwrap(),
                LINUX_IMM_DATA_OFFSET,
            )
            .unwrap();
            assert_eq!(Cdb::parse(r.cdb), Ok(cdb), "{h}");
            assert_eq!(r.data_in, data_in);
            assert_eq!(r.data_out, data_out);
            assert_eq!(r.cdb.len(), 16);
            assert_eq!(r.buffer_len(), b.len());
            let out = emit_dirty(r.buffer_len(), |x| r.emit(&mut CmdPacket::new_unchecked(x)));
            assert_eq!(out, b, "{h}");
        }
    }

    fn golden_write_imm() -> Vec<u8> {
        let mut iu = hex(CMD_WRITE10_IMM_HEAD);
        let pattern = b"SRP WRITE TEST 4K\n";
        iu.extend(pattern.iter().cycle().take(4096));
        assert_eq!(iu.len(), 4164);
        iu
    }

    #[test]
    fn golden_cmd_immediate_write() {
        let b = golden_write_imm();
        let p = CmdPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.data_out_format(), DescriptorFormat::Immediate);
        let r = CmdRepr::parse(&p, LINUX_IMM_DATA_OFFSET).unwrap();
        assert_eq!(Cdb::parse(r.cdb), Ok(Cdb::write(16, 8)));
        assert_eq!(r.data_in, DataBuffer::None);
        match r.data_out {
            DataBuffer::Immediate { offset, data } => {
                assert_eq!(offset, 68);
                assert_eq!(data.len(), 4096);
                assert_eq!(&data[..18], b"SRP WRITE TEST 4K\n");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.data_out.data_len(), 4096);
        assert_eq!(r.buffer_len(), 4164);
        // Emit: identical except the stale bytes 52..68, which we zero.
        let out = emit_dirty(r.buffer_len(), |x| r.emit(&mut CmdPacket::new_unchecked(x)));
        assert_eq!(out[..52], b[..52]);
        assert_eq!(out[52..68], [0u8; 16]);
        assert_eq!(out[68..], b[68..]);
        assert_eq!(
            CmdRepr::parse(&CmdPacket::new_unchecked(&out[..]), 68),
            Ok(r)
        );
        // Immediate data not negotiated (offset 0) or offset inside the
        // descriptor: rejected. Offset 52 (right after it) is fine.
        assert_eq!(CmdRepr::parse(&p, 0), Err(Error));
        assert_eq!(CmdRepr::parse(&p, 51), Err(Error));
        assert!(CmdRepr::parse(&p, 52).is_ok());
        // Data running past the end of the IU.
        assert_eq!(
            CmdRepr::parse(&CmdPacket::new_unchecked(&b[..4163]), 68),
            Err(Error)
        );
        assert_eq!(CmdRepr::parse(&p, 69), Err(Error));
        let mut huge = b.clone();
        huge[48..52].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            CmdRepr::parse(&CmdPacket::new_unchecked(&huge[..]), 68),
            Err(Error)
        );
        // The IU cut inside the 4-byte descriptor.
        assert_eq!(
            CmdRepr::parse(&CmdPacket::new_unchecked(&b[..51]), 68),
            Err(Error)
        );
    }

    #[test]
    fn cmd_long_cdb_indirect_and_bidirectional() {
        // A 32-byte CDB (16 additional bytes), indirect data-out with two
        // inline descriptors, direct data-in.
        let cdb: Vec<u8> = (1..=32).collect();
        let descs = [
            DirectDesc {
                va: 0x1000,
                rkey: 7,
                len: 512,
            },
            DirectDesc {
                va: 0x9000,
                rkey: 7,
                len: 1024,
            },
        ];
        let r = CmdRepr {
            sol_not: CmdSolNot::SCSOLNT | CmdSolNot::UCSOLNT,
            tag: Tag::from_u64(0x6950_5845_0000_0001),
            lun: Lun::from_index(300).unwrap(),
            task_attr: TaskAttr::Ordered,
            cdb: &cdb,
            data_out: DataBuffer::Indirect {
                table: DirectDesc {
                    va: 0x5000,
                    rkey: 9,
                    len: 32,
                },
                total_len: 1536,
                descs: DescList::Slice(&descs),
            },
            data_in: direct_in(0x7000, 3, 4096),
        };
        assert_eq!(r.buffer_len(), 48 + 16 + 20 + 32 + 16);
        let out = emit_dirty(r.buffer_len(), |x| r.emit(&mut CmdPacket::new_unchecked(x)));
        assert_eq!((out[5], out[6], out[7], out[31]), (0x21, 2, 0, 16));
        let p = CmdPacket::new_checked(&out[..]).unwrap();
        assert_eq!(p.cdb(), &cdb[..]);
        let back = CmdRepr::parse(&p, 0).unwrap();
        assert_eq!(back, r);
        if let DataBuffer::Indirect { descs: d, .. } = back.data_out {
            assert!(matches!(d, DescList::Wire(_)));
            assert_eq!(d.len(), 2);
            assert_eq!(d.get(1), Some(descs[1]));
            assert_eq!(d.get(2), None);
        }
        // A 20-byte CDB pads to a 4-byte multiple.
        let c20 = [0x7Fu8; 20];
        let r20 = CmdRepr {
            cdb: &c20,
            data_out: DataBuffer::None,
            ..r
        };
        let out = emit_dirty(r20.buffer_len(), |x| {
            r20.emit(&mut CmdPacket::new_unchecked(x))
        });
        assert_eq!(out[31], 4);
        assert_eq!(&CmdPacket::new_unchecked(&out[..]).cdb()[..20], &c20);
        // iPXE style: direct data-out then direct data-in, 80 bytes.
        let bi = CmdRepr {
            cdb: &cdb[..10],
            data_out: direct_in(1, 2, 3),
            data_in: direct_in(4, 5, 6),
            ..r
        };
        assert_eq!(bi.buffer_len(), 80);
        let out = emit_dirty(80, |x| bi.emit(&mut CmdPacket::new_unchecked(x)));
        let back = CmdRepr::parse(&CmdPacket::new_unchecked(&out[..]), 0).unwrap();
        assert_eq!((back.data_out, back.data_in), (bi.data_out, bi.data_in));
    }

    #[test]
    fn cmd_rejections() {
        let b = hex(CMD_READ10);
        fn parse(x: &[u8]) -> Result<CmdRepr<'_>> {
            CmdRepr::parse(&CmdPacket::new_unchecked(x), 68)
        }
        // Short header, short descriptor.
        assert_eq!(CmdPacket::new_checked(&b[..47]), Err(Error));
        assert_eq!(parse(&b[..47]), Err(Error));
        assert_eq!(parse(&b[..63]), Err(Error));
        // Wrong type.
        let mut x = b.clone();
        x[0] = 0x01;
        assert_eq!(parse(&x), Err(Error));
        // Additional CDB longer than the IU (and reserved low bits ignored).
        let mut x = b.clone();
        x[31] = 20;
        assert_eq!(CmdPacket::new_checked(&x[..]), Err(Error));
        x[31] = 3;
        assert_eq!(parse(&x).unwrap().cdb.len(), 16);
        // Unknown formats; immediate data-in.
        for fmt in [0x04u8, 0xF0, 0x03, 0x0F] {
            let mut x = b.clone();
            x[5] = fmt;
            assert_eq!(parse(&x), Err(Error), "fmt {fmt:#x}");
        }
        // Indirect with a count whose descriptors do not fit.
        let mut x = b.clone();
        x[5] = 0x02;
        x[7] = 0;
        assert!(parse(&x).is_err(), "20-byte indirect header needs 68 bytes");
        x.resize(68, 0);
        assert!(parse(&x).is_ok());
        x[7] = 1;
        assert_eq!(parse(&x), Err(Error));
        x.resize(84, 0);
        assert!(parse(&x).is_ok());
        // Two directions where only one descriptor fits.
        let mut x = b.clone();
        x[5] = 0x11;
        assert_eq!(parse(&x), Err(Error));
    }

    // ----- SRP_RSP -----

    #[test]
    fn golden_rsps() {
        for (h, t, di) in [
            (RSP_GOOD, 0x0d, Residual::None),
            (RSP_DIUNDER, 0x0e, Residual::Underflow(24)),
            (RSP_REPORT_LUNS, 0x0d, Residual::Underflow(4080)),
        ] {
            let b = hex(h);
            let r = RspRepr::parse(&RspPacket::new_checked(&b[..]).unwrap()).unwrap();
            let want = RspRepr {
                data_in_residual: di,
                ..RspRepr::new(tag(t), Status::Good)
            };
            assert_eq!(r, want);
            let out = emit_dirty(r.buffer_len(), |x| r.emit(&mut RspPacket::new_unchecked(x)));
            assert_eq!(out, b);
            assert_eq!(IuRepr::parse(&b, 0).unwrap().req_lim_delta(), 1);
        }
    }

    #[test]
    fn golden_rsp_with_sense() {
        let b = clean(RSP_SENSE);
        assert_eq!(b.len(), 132);
        let p = RspPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.flags(), p.status(), p.sense_data_len()),
            (0x02, 0x02, 96)
        );
        assert_eq!(p.sense_data().len(), 96);
        assert!(p.response_data().is_empty());
        let r = RspRepr::parse(&p).unwrap();
        assert_eq!(r.status, Status::CheckCondition);
        assert_eq!(r.tag, tag(0x0b));
        assert_eq!(r.response_data, None);
        let s = r.sense().unwrap();
        assert_eq!(s.key, SenseKey::IllegalRequest);
        assert_eq!((s.asc, s.ascq), (0x20, 0x00));
        assert_eq!(
            s.to_string(),
            "ILLEGAL REQUEST: INVALID COMMAND OPERATION CODE"
        );
        let out = emit_dirty(r.buffer_len(), |x| r.emit(&mut RspPacket::new_unchecked(x)));
        assert_eq!(out, b);
        // What a target builds: 18 bytes of fixed sense.
        let mut sense = [0u8; 18];
        Sense::LBA_OUT_OF_RANGE.emit_fixed(&mut sense);
        let t = RspRepr {
            sense_data: Some(&sense),
            ..RspRepr::new(tag(3), Status::CheckCondition)
        };
        let out = emit_dirty(t.buffer_len(), |x| t.emit(&mut RspPacket::new_unchecked(x)));
        assert_eq!(out.len(), 54);
        let back = RspRepr::parse(&RspPacket::new_unchecked(&out[..])).unwrap();
        assert_eq!(back.sense(), Some(Sense::LBA_OUT_OF_RANGE));
    }

    #[test]
    fn rsp_task_mgmt_and_residuals() {
        let resp = [0, 0, 0, 4];
        let mut sense = [0u8; 8];
        Sense::POWER_ON_RESET.emit_descriptor(&mut sense);
        let r = RspRepr {
            solicited: true,
            req_lim_delta: 3,
            tag: tag(9),
            status: Status::Good,
            data_out_residual: Residual::Overflow(5),
            data_in_residual: Residual::Underflow(6),
            response_data: Some(&resp),
            sense_data: Some(&sense),
        };
        let out = emit_dirty(r.buffer_len(), |x| r.emit(&mut RspPacket::new_unchecked(x)));
        assert_eq!((out[1], out[18]), (0x01, 0x01 | 0x02 | 0x04 | 0x20));
        let back = RspRepr::parse(&RspPacket::new_unchecked(&out[..])).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            back.task_mgmt_response(),
            Some(TaskMgmtResponse::NotSupported)
        );
        assert_eq!(back.sense(), Some(Sense::POWER_ON_RESET));
        // Over and under both set: rejected.
        let mut x = out.clone();
        x[18] |= 0x08;
        assert_eq!(
            RspRepr::parse(&RspPacket::new_unchecked(&x[..])),
            Err(Error)
        );
        let mut x = out.clone();
        x[18] = 0x30;
        assert_eq!(
            RspRepr::parse(&RspPacket::new_unchecked(&x[..])),
            Err(Error)
        );
        // Lengths of invalid data are ignored.
        let mut x = hex(RSP_GOOD);
        x[28..32].copy_from_slice(&1000u32.to_be_bytes());
        x[32..36].copy_from_slice(&u32::MAX.to_be_bytes());
        let r = RspRepr::parse(&RspPacket::new_checked(&x[..]).unwrap()).unwrap();
        assert_eq!((r.response_data, r.sense_data), (None, None));
    }

    #[test]
    fn rsp_rejections() {
        let b = clean(RSP_SENSE);
        fn parse(x: &[u8]) -> Result<RspRepr<'_>> {
            RspRepr::parse(&RspPacket::new_unchecked(x))
        }
        assert_eq!(RspPacket::new_checked(&b[..35]), Err(Error));
        // Sense announced but cut short.
        assert_eq!(RspPacket::new_checked(&b[..131]), Err(Error));
        assert_eq!(parse(&b[..131]), Err(Error));
        // Sense length beyond the buffer, also near u32::MAX.
        for len in [97u32, u32::MAX] {
            let mut x = b.clone();
            x[28..32].copy_from_slice(&len.to_be_bytes());
            assert_eq!(parse(&x), Err(Error));
        }
        // Response data announced past the end pushes sense out.
        let mut x = b.clone();
        x[18] |= 0x01;
        x[32..36].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(parse(&x), Err(Error));
        // Wrong type.
        let mut x = b.clone();
        x[0] = 0xC0;
        assert_eq!(parse(&x), Err(Error));
    }

    // ----- the other IUs -----

    #[test]
    fn short_ius() {
        let ilo = ILogoutRepr { tag: tag(1) };
        let out = emit_dirty(16, |x| ilo.emit(&mut ShortPacket::new_unchecked(x)));
        assert_eq!(out, [3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(IuRepr::parse(&out, 0), Ok(IuRepr::ILogout(ilo)));

        let tlo = TLogoutRepr {
            solicited: true,
            reason: TLogoutReason::MultiChannelAction,
            tag: tag(2),
        };
        let out = emit_dirty(16, |x| tlo.emit(&mut ShortPacket::new_unchecked(x)));
        assert_eq!(&out[..8], &[0x80, 1, 0, 0, 0, 0, 0, 4]);
        assert_eq!(IuRepr::parse(&out, 0), Ok(IuRepr::TLogout(tlo)));
        assert_eq!(
            tlo.reason.to_string(),
            "terminated by another login's multi-channel action"
        );
        assert_eq!(TLogoutReason::from(77), TLogoutReason::Unknown(77));
        assert_eq!(
            TLogoutReason::Unknown(77).to_string(),
            "unknown logout reason 0x0000004d"
        );

        let cr = CredReqRepr {
            solicited: false,
            req_lim_delta: 16,
            tag: tag(3),
        };
        let out = emit_dirty(16, |x| cr.emit(&mut ShortPacket::new_unchecked(x)));
        assert_eq!(&out[..8], &[0x81, 0, 0, 0, 0, 0, 0, 16]);
        let parsed = IuRepr::parse(&out, 0).unwrap();
        assert_eq!(parsed, IuRepr::CredReq(cr));
        assert_eq!(parsed.req_lim_delta(), 16);

        let crsp = CredRspRepr { tag: tag(3) };
        let out = emit_dirty(16, |x| crsp.emit(&mut ShortPacket::new_unchecked(x)));
        assert_eq!(out[0], 0x41);
        assert_eq!(IuRepr::parse(&out, 0), Ok(IuRepr::CredRsp(crsp)));
        assert_eq!(IuRepr::parse(&out, 0).unwrap().req_lim_delta(), 0);

        let arsp = AerRspRepr { tag: tag(4) };
        let out = emit_dirty(16, |x| arsp.emit(&mut ShortPacket::new_unchecked(x)));
        assert_eq!(out[0], 0x42);
        assert_eq!(IuRepr::parse(&out, 0), Ok(IuRepr::AerRsp(arsp)));

        // Rejections: short buffer, type mismatch.
        assert_eq!(ShortPacket::new_checked(&out[..15]), Err(Error));
        assert_eq!(IuRepr::parse(&out[..15], 0), Err(Error));
        assert_eq!(
            CredRspRepr::parse(&ShortPacket::new_unchecked(&out[..])),
            Err(Error)
        );
        assert_eq!(
            ILogoutRepr::parse(&ShortPacket::new_unchecked(&out[..])),
            Err(Error)
        );
    }

    #[test]
    fn tsk_mgmt() {
        let r = TskMgmtRepr {
            sol_not: CmdSolNot::UCSOLNT,
            tag: tag(0x20),
            lun: Lun::from_index(1).unwrap(),
            function: TaskMgmtFunction::AbortTask,
            task_tag: tag(0x0b),
        };
        let out = emit_dirty(48, |x| r.emit(&mut TskMgmtPacket::new_unchecked(x)));
        assert_eq!(
            (out[0], out[1], out[21], out[30], out[32]),
            (0x01, 0x04, 1, 0x01, 0x0b)
        );
        assert_eq!(IuRepr::parse(&out, 0), Ok(IuRepr::TskMgmt(r)));
        assert_eq!(TskMgmtPacket::new_checked(&out[..47]), Err(Error));
        let mut x = out.clone();
        x[30] = 0x99;
        assert_eq!(
            TskMgmtRepr::parse(&TskMgmtPacket::new_unchecked(&x[..]))
                .unwrap()
                .function,
            TaskMgmtFunction::Unknown(0x99)
        );
        x[0] = 0x02;
        assert_eq!(
            TskMgmtRepr::parse(&TskMgmtPacket::new_unchecked(&x[..])),
            Err(Error)
        );
    }

    #[test]
    fn aer_req() {
        let mut sense = [0u8; 18];
        Sense::new(SenseKey::UnitAttention, 0x2A, 0x09).emit_fixed(&mut sense);
        let r = AerReqRepr {
            solicited: true,
            req_lim_delta: 1,
            tag: tag(5),
            lun: Lun::ZERO,
            sense_data: &sense,
        };
        let out = emit_dirty(r.buffer_len(), |x| {
            r.emit(&mut AerReqPacket::new_unchecked(x))
        });
        assert_eq!(out.len(), 54);
        assert_eq!(&out[28..32], &[0, 0, 0, 18]);
        assert_eq!(IuRepr::parse(&out, 0), Ok(IuRepr::AerReq(r)));
        assert_eq!(AerReqPacket::new_checked(&out[..53]), Err(Error));
        assert_eq!(AerReqPacket::new_checked(&out[..35]), Err(Error));
        let mut x = out.clone();
        x[28..32].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            AerReqRepr::parse(&AerReqPacket::new_unchecked(&x[..])),
            Err(Error)
        );
        x[0] = 0x81;
        assert_eq!(
            AerReqRepr::parse(&AerReqPacket::new_unchecked(&out[..16])),
            Err(Error)
        );
    }

    #[test]
    fn dispatch() {
        assert_eq!(iu_type(&[]), Err(Error));
        assert_eq!(iu_type(&[0xC1]), Ok(IuType::Rsp));
        assert_eq!(iu_type(&[0x55]), Ok(IuType::Unknown(0x55)));
        assert_eq!(IuRepr::parse(&[], 0), Err(Error));
        assert_eq!(IuRepr::parse(&[0x55; 64], 0), Err(Error));
        let b = golden_write_imm();
        let iu = IuRepr::parse(&b, 68).unwrap();
        assert_eq!(
            (iu.iu_type(), iu.tag(), iu.buffer_len()),
            (IuType::Cmd, tag(0x0a), 4164)
        );
        let mut out = vec![0u8; iu.buffer_len()];
        iu.emit(&mut out);
        assert_eq!(IuRepr::parse(&out, 68), Ok(iu));
    }

    #[test]
    fn tags_and_port_ids() {
        assert_eq!(Tag::from_u64(0x6950_5845_0000_0007).0, *b"iPXE\0\0\0\x07");
        assert_eq!(Tag::from_u64(42).to_u64(), 42);
        assert_eq!(tag(8).to_string(), "0800000000000000");
        assert_eq!(TARGET.id_ext(), TARGET.guid());
        assert_eq!(
            std::format!("{INITIATOR:?}"),
            "PortId(0000000000000000505400fffe770002)"
        );
    }

    // ----- robustness -----

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

    /// Parses `b` every way there is; whatever parses must re-emit to bytes
    /// that parse to the same value.
    fn exercise(b: &[u8]) {
        for off in [0u16, 52, 68, 0xFFFF] {
            if let Ok(iu) = IuRepr::parse(b, off) {
                assert!(iu.buffer_len() <= b.len().max(64));
                let mut out = vec![0x5Au8; iu.buffer_len()];
                iu.emit(&mut out);
                assert_eq!(IuRepr::parse(&out, off), Ok(iu));
            }
        }
        if let Ok(r) = LoginReqRepr::parse_rdma(&LoginReqRdmaPacket::new_unchecked(b)) {
            let mut out = [0u8; 56];
            r.emit_rdma(&mut LoginReqRdmaPacket::new_unchecked(&mut out[..]));
            assert_eq!(
                LoginReqRepr::parse_rdma(&LoginReqRdmaPacket::new_unchecked(&out[..])),
                Ok(r)
            );
        }
        if let Ok(p) = CmdPacket::new_checked(b) {
            let _ = (p.cdb(), p.descriptor_area());
        }
        if let Ok(p) = RspPacket::new_checked(b) {
            let _ = (p.response_data(), p.sense_data());
        }
        if let Ok(p) = AerReqPacket::new_checked(b) {
            let _ = p.sense_data();
        }
    }

    #[test]
    fn random_truncated_and_bitflipped_ius_never_panic() {
        let pd = clean(REQ_PRIVATE_DATA);
        let mut goldens: Vec<Vec<u8>> = [
            LOGIN_RSP,
            CMD_INQUIRY,
            CMD_TUR,
            CMD_READ_CAP16,
            CMD_READ10,
            CMD_WRITE10,
            RSP_GOOD,
            RSP_DIUNDER,
            RSP_REPORT_LUNS,
        ]
        .iter()
        .map(|h| hex(h))
        .collect();
        goldens.push(clean(RSP_SENSE));
        goldens.push(pd[36..].to_vec());
        let mut imm = golden_write_imm();
        imm.truncate(200);
        imm[48..52].copy_from_slice(&100u32.to_be_bytes());
        goldens.push(imm);
        // Synthetic IUs of every other type, plus an indirect command.
        let mut sense = [0u8; 18];
        Sense::MEDIUM_NOT_PRESENT.emit_fixed(&mut sense);
        let descs = [DirectDesc {
            va: 1,
            rkey: 2,
            len: 3,
        }; 3];
        let cdb = [0x88u8; 16];
        let synth = [
            IuRepr::LoginReq(golden_login_req()),
            IuRepr::LoginRej(LoginRejRepr {
                reason: LoginRejReason::NoReason,
                tag: tag(1),
                buffer_formats: BufferFormats::DIRECT,
            }),
            IuRepr::TLogout(TLogoutRepr {
                solicited: false,
                reason: TLogoutReason::InvalidIuType,
                tag: tag(2),
            }),
            IuRepr::AerReq(AerReqRepr {
                solicited: false,
                req_lim_delta: 2,
                tag: tag(3),
                lun: Lun::ZERO,
                sense_data: &sense,
            }),
            IuRepr::TskMgmt(TskMgmtRepr {
                sol_not: CmdSolNot::empty(),
                tag: tag(4),
                lun: Lun::ZERO,
                function: TaskMgmtFunction::LogicalUnitReset,
                task_tag: tag(0),
            }),
            IuRepr::Cmd(CmdRepr {
                sol_not: CmdSolNot::empty(),
                tag: tag(5),
                lun: Lun::ZERO,
                task_attr: TaskAttr::Simple,
                cdb: &cdb,
                data_out: DataBuffer::None,
                data_in: DataBuffer::Indirect {
                    table: DirectDesc {
                        va: 9,
                        rkey: 9,
                        len: 48,
                    },
                    total_len: 9,
                    descs: DescList::Slice(&descs),
                },
            }),
        ];
        for s in &synth {
            let mut out = vec![0u8; s.buffer_len()];
            s.emit(&mut out);
            assert_eq!(IuRepr::parse(&out, 0).as_ref(), Ok(s));
            goldens.push(out);
        }

        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for g in &goldens {
            for n in 0..=g.len() {
                exercise(&g[..n]);
            }
            for _ in 0..3000 {
                let mut b = g.clone();
                for _ in 0..1 + rng.next() % 4 {
                    let bit = (rng.next() % (b.len() as u64 * 8)) as usize;
                    b[bit / 8] ^= 1 << (bit % 8);
                }
                // Now and then a wild length field or type byte.
                if rng.next().is_multiple_of(8) && b.len() >= 36 {
                    let at = [4usize, 28, 32, 31, 48][(rng.next() % 5) as usize];
                    if at + 4 <= b.len() {
                        b[at..at + 4].copy_from_slice(&(rng.next() as u32).to_be_bytes());
                    }
                }
                exercise(&b);
                let n = (rng.next() as usize) % (b.len() + 1);
                exercise(&b[..n]);
            }
        }
        let mut buf = [0u8; 160];
        for _ in 0..30_000 {
            let n = (rng.next() % 160) as usize;
            for x in &mut buf[..n] {
                *x = rng.next() as u8;
            }
            // Bias towards valid type codes.
            if n > 0 {
                buf[0] = [
                    0x00, 0x01, 0x02, 0x03, 0x41, 0x42, 0x80, 0x81, 0x82, 0xC0, 0xC1, 0xC2,
                ][(rng.next() % 12) as usize];
            }
            exercise(&buf[..n]);
        }
    }
}
