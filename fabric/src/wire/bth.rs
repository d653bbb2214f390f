//! The InfiniBand Base Transport Header (12 bytes) and the opcode property
//! table.
//!
//! ```text
//!  0        1        2        4        5           8        9          12
//! +--------+--------+--------+--------+-----------+--------+----------+
//! | OpCode |SE M Pad| P_Key  |FECN/   | DestQP    |A resv7 | PSN      |
//! |        |   TVer |        |BECN/r6 | (24 bits) |        | (24 bits)|
//! +--------+--------+--------+--------+-----------+--------+----------+
//! ```
//!
//! What each opcode implies — which extension headers follow the BTH (and in
//! which order), whether a payload follows, whether the packet starts, carries
//! on or ends a message, and whether it is a request or a response — lives in
//! one small table, as in rxe: code asks [`OpCode::flags`] instead of listing
//! opcodes. The header order after the BTH is always DETH, RETH, AtomicETH,
//! AETH, AtomicAckETH, ImmDt, IETH (each only when present).

use bitflags::bitflags;

use super::bytes::{enum_with_unknown, read_u16, read_u24, write_u16, write_u24};
use super::{Error, Result};

enum_with_unknown! {
    /// BTH opcode: transport in bits 7:5 (RC 000, UD 011), operation in 4:0.
    /// RC and UD operations are named; everything else (UC, RD, XRC, CNP,
    /// vendor) is `Unknown`, has no properties and is refused by the parser.
    pub enum OpCode(u8) {
        /// RC SEND First.
        RcSendFirst = 0x00,
        /// RC SEND Middle.
        RcSendMiddle = 0x01,
        /// RC SEND Last.
        RcSendLast = 0x02,
        /// RC SEND Last with Immediate.
        RcSendLastWithImmediate = 0x03,
        /// RC SEND Only.
        RcSendOnly = 0x04,
        /// RC SEND Only with Immediate.
        RcSendOnlyWithImmediate = 0x05,
        /// RC RDMA WRITE First.
        RcRdmaWriteFirst = 0x06,
        /// RC RDMA WRITE Middle.
        RcRdmaWriteMiddle = 0x07,
        /// RC RDMA WRITE Last.
        RcRdmaWriteLast = 0x08,
        /// RC RDMA WRITE Last with Immediate.
        RcRdmaWriteLastWithImmediate = 0x09,
        /// RC RDMA WRITE Only.
        RcRdmaWriteOnly = 0x0A,
        /// RC RDMA WRITE Only with Immediate.
        RcRdmaWriteOnlyWithImmediate = 0x0B,
        /// RC RDMA READ Request.
        RcRdmaReadRequest = 0x0C,
        /// RC RDMA READ Response First.
        RcRdmaReadResponseFirst = 0x0D,
        /// RC RDMA READ Response Middle (no AETH).
        RcRdmaReadResponseMiddle = 0x0E,
        /// RC RDMA READ Response Last.
        RcRdmaReadResponseLast = 0x0F,
        /// RC RDMA READ Response Only.
        RcRdmaReadResponseOnly = 0x10,
        /// RC Acknowledge (ACK or NAK, by the AETH syndrome).
        RcAcknowledge = 0x11,
        /// RC ATOMIC Acknowledge.
        RcAtomicAcknowledge = 0x12,
        /// RC CmpSwap.
        RcCompareSwap = 0x13,
        /// RC FetchAdd.
        RcFetchAdd = 0x14,
        /// RC SEND Last with Invalidate.
        RcSendLastWithInvalidate = 0x16,
        /// RC SEND Only with Invalidate.
        RcSendOnlyWithInvalidate = 0x17,
        /// UD SEND Only (MADs on QP1 travel this way).
        UdSendOnly = 0x64,
        /// UD SEND Only with Immediate.
        UdSendOnlyWithImmediate = 0x65,
    }
}

bitflags! {
    /// Properties of an opcode (see [`OpCode::flags`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct OpFlags: u16 {
        /// Datagram ETH (8 bytes): Q_Key, source QP.
        const DETH = 1 << 0;
        /// RDMA ETH (16 bytes): VA, R_Key, DMA length.
        const RETH = 1 << 1;
        /// Atomic ETH (28 bytes).
        const ATOMIC_ETH = 1 << 2;
        /// ACK ETH (4 bytes): syndrome, MSN.
        const AETH = 1 << 3;
        /// Atomic ACK ETH (8 bytes): original remote value.
        const ATOMIC_ACK_ETH = 1 << 4;
        /// Immediate data (4 bytes).
        const IMMDT = 1 << 5;
        /// Invalidate ETH (4 bytes): R_Key to invalidate.
        const IETH = 1 << 6;
        /// A payload may follow the headers.
        const PAYLOAD = 1 << 7;
        /// Sent by a requester (the responder ACKs it when AckReq is set);
        /// clear for responses (ACKs and read responses), which the
        /// completer consumes.
        const REQUEST = 1 << 8;
        /// Part of a SEND.
        const SEND = 1 << 9;
        /// Part of an RDMA WRITE.
        const WRITE = 1 << 10;
        /// Part of an RDMA READ (request or response).
        const READ = 1 << 11;
        /// Part of an atomic operation.
        const ATOMIC = 1 << 12;
        /// First packet of a message (ONLY is FIRST | LAST).
        const FIRST = 1 << 13;
        /// Middle packet of a message.
        const MIDDLE = 1 << 14;
        /// Last packet of a message (ONLY is FIRST | LAST).
        const LAST = 1 << 15;
    }
}

/// The extension headers in wire order, with their sizes.
const EXT_ORDER: [(OpFlags, usize); 7] = [
    (OpFlags::DETH, 8),
    (OpFlags::RETH, 16),
    (OpFlags::ATOMIC_ETH, 28),
    (OpFlags::AETH, 4),
    (OpFlags::ATOMIC_ACK_ETH, 8),
    (OpFlags::IMMDT, 4),
    (OpFlags::IETH, 4),
];

/// Properties of operations 0x00..=0x17 in RC numbering. UD SEND Only and
/// SEND Only with Immediate share entries 4 and 5 (plus DETH).
const OP_TABLE: [u16; 0x18] = {
    const F: u16 = OpFlags::FIRST.bits();
    const M: u16 = OpFlags::MIDDLE.bits();
    const L: u16 = OpFlags::LAST.bits();
    const O: u16 = F | L;
    const RQ: u16 = OpFlags::REQUEST.bits() | OpFlags::PAYLOAD.bits();
    const SEND: u16 = OpFlags::SEND.bits() | RQ;
    const WRITE: u16 = OpFlags::WRITE.bits() | RQ;
    const RRESP: u16 = OpFlags::READ.bits() | OpFlags::PAYLOAD.bits();
    const RETH: u16 = OpFlags::RETH.bits();
    const AETH: u16 = OpFlags::AETH.bits();
    const IMM: u16 = OpFlags::IMMDT.bits();
    const IETH: u16 = OpFlags::IETH.bits();
    const READ_REQ: u16 = OpFlags::READ.bits() | OpFlags::REQUEST.bits();
    const ATOMIC_ACK: u16 = OpFlags::ATOMIC.bits() | OpFlags::ATOMIC_ACK_ETH.bits();
    const ATOMIC_REQ: u16 =
        OpFlags::ATOMIC.bits() | OpFlags::ATOMIC_ETH.bits() | OpFlags::REQUEST.bits();
    [
        SEND | F,               // 0x00 SEND First
        SEND | M,               // 0x01 SEND Middle
        SEND | L,               // 0x02 SEND Last
        SEND | L | IMM,         // 0x03 SEND Last with Immediate
        SEND | O,               // 0x04 SEND Only
        SEND | O | IMM,         // 0x05 SEND Only with Immediate
        WRITE | F | RETH,       // 0x06 RDMA WRITE First
        WRITE | M,              // 0x07 RDMA WRITE Middle
        WRITE | L,              // 0x08 RDMA WRITE Last
        WRITE | L | IMM,        // 0x09 RDMA WRITE Last with Immediate
        WRITE | O | RETH,       // 0x0A RDMA WRITE Only
        WRITE | O | RETH | IMM, // 0x0B RDMA WRITE Only with Immediate
        READ_REQ | O | RETH,    // 0x0C RDMA READ Request
        RRESP | F | AETH,       // 0x0D RDMA READ Response First
        RRESP | M,              // 0x0E RDMA READ Response Middle
        RRESP | L | AETH,       // 0x0F RDMA READ Response Last
        RRESP | O | AETH,       // 0x10 RDMA READ Response Only
        O | AETH,               // 0x11 Acknowledge
        ATOMIC_ACK | O | AETH,  // 0x12 ATOMIC Acknowledge
        ATOMIC_REQ | O,         // 0x13 CmpSwap
        ATOMIC_REQ | O,         // 0x14 FetchAdd
        0,                      // 0x15 reserved
        SEND | L | IETH,        // 0x16 SEND Last with Invalidate
        SEND | O | IETH,        // 0x17 SEND Only with Invalidate
    ]
};

/// How much payload an opcode may carry, given the path MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadRule {
    /// No payload at all (READ request, ACK, atomics).
    Empty,
    /// Exactly the path MTU (FIRST and MIDDLE packets).
    Full,
    /// 1 to path-MTU bytes (LAST packets).
    NonEmpty,
    /// 0 to path-MTU bytes (ONLY packets).
    UpToMtu,
}

impl PayloadRule {
    /// Whether `len` payload bytes are allowed under path MTU `pmtu`.
    pub fn allows(self, len: usize, pmtu: usize) -> bool {
        match self {
            PayloadRule::Empty => len == 0,
            PayloadRule::Full => len == pmtu,
            PayloadRule::NonEmpty => len >= 1 && len <= pmtu,
            PayloadRule::UpToMtu => len <= pmtu,
        }
    }
}

impl OpCode {
    /// The opcode's properties, or `None` for an opcode this stack does not
    /// speak (such packets are dropped, as rxe drops opcodes without a table
    /// entry).
    pub fn flags(self) -> Option<OpFlags> {
        if let OpCode::Unknown(_) = self {
            return None;
        }
        let raw = u8::from(self);
        let op = usize::from(raw & 0x1F);
        let extra = match raw >> 5 {
            0 => OpFlags::empty(),
            3 if op == 0x04 || op == 0x05 => OpFlags::DETH,
            _ => return None,
        };
        match OP_TABLE.get(op) {
            Some(&bits) if bits != 0 => Some(OpFlags::from_bits_retain(bits) | extra),
            _ => None,
        }
    }

    /// Length of the BTH plus this opcode's extension headers.
    pub fn header_len(self) -> Option<usize> {
        let flags = self.flags()?;
        let ext: usize = EXT_ORDER
            .iter()
            .filter(|(header, _)| flags.contains(*header))
            .map(|(_, len)| len)
            .sum();
        Some(HEADER_LEN + ext)
    }

    /// The byte range of extension header `which` (one of the ETH flags),
    /// counted from the start of the BTH; `None` if the opcode has no such
    /// header or is unknown.
    pub fn ext_header_range(self, which: OpFlags) -> Option<core::ops::Range<usize>> {
        let flags = self.flags()?;
        let mut at = HEADER_LEN;
        for (header, len) in EXT_ORDER {
            if !flags.contains(header) {
                continue;
            }
            if header == which {
                return Some(at..at + len);
            }
            at += len;
        }
        None
    }

    /// The payload-length class of this opcode (unknown opcodes: `Empty`).
    pub fn payload_rule(self) -> PayloadRule {
        let flags = self.flags().unwrap_or(OpFlags::empty());
        if !flags.contains(OpFlags::PAYLOAD) {
            PayloadRule::Empty
        } else if flags.contains(OpFlags::FIRST | OpFlags::LAST) {
            PayloadRule::UpToMtu
        } else if flags.contains(OpFlags::LAST) {
            PayloadRule::NonEmpty
        } else {
            PayloadRule::Full
        }
    }

    /// Whether this is a request packet (sent by a requester).
    pub fn is_request(self) -> bool {
        self.has(OpFlags::REQUEST)
    }

    /// Whether this is a response packet (ACK, atomic ACK, read response).
    pub fn is_response(self) -> bool {
        matches!(self.flags(), Some(f) if !f.contains(OpFlags::REQUEST))
    }

    /// Whether a requester sets AckReq on this packet as a matter of course:
    /// the last (or only) packet of every request message. rxe does this,
    /// and does it on any packet after too many unacknowledged ones.
    pub fn ack_req_expected(self) -> bool {
        self.has(OpFlags::REQUEST | OpFlags::LAST)
    }

    /// Whether this opcode starts a message (FIRST or ONLY).
    pub fn is_first(self) -> bool {
        self.has(OpFlags::FIRST)
    }

    /// Whether this opcode ends a message (LAST or ONLY).
    pub fn is_last(self) -> bool {
        self.has(OpFlags::LAST)
    }

    /// Whether this opcode is a UD opcode (carries a DETH).
    pub fn is_ud(self) -> bool {
        self.has(OpFlags::DETH)
    }

    fn has(self, all: OpFlags) -> bool {
        matches!(self.flags(), Some(f) if f.contains(all))
    }
}

/// P_Key rxe uses everywhere (default full member).
pub const DEFAULT_PKEY: u16 = 0xFFFF;
/// QPN of the General Services Interface (MADs).
pub const GSI_QPN: u32 = 1;
/// DestQP value of a multicast packet.
pub const MULTICAST_QPN: u32 = 0xFF_FFFF;
/// Mask of a 24-bit PSN or QPN.
pub const MASK_24: u32 = 0xFF_FFFF;

/// `psn + n`, modulo 2^24.
pub const fn psn_add(psn: u32, n: u32) -> u32 {
    psn.wrapping_add(n) & MASK_24
}

/// Signed distance `a − b` between two 24-bit PSNs: negative if `a` is
/// before `b`, positive if after (valid within ±2^23).
pub const fn psn_diff(a: u32, b: u32) -> i32 {
    (a.wrapping_sub(b) << 8) as i32 >> 8
}

/// Pad count for a payload of `len` bytes: `(-len) & 3`.
pub const fn pad_for(len: usize) -> u8 {
    (len.wrapping_neg() & 3) as u8
}

mod field {
    use core::ops::Range;
    pub const OPCODE: usize = 0;
    pub const SE_M_PAD_TVER: usize = 1;
    pub const PKEY: Range<usize> = 2..4;
    pub const RESV8A: usize = 4;
    pub const DEST_QPN: Range<usize> = 5..8;
    pub const ACKREQ: usize = 8;
    pub const PSN: Range<usize> = 9..12;
}

/// Length of the BTH.
pub const HEADER_LEN: usize = field::PSN.end;

const SE: u8 = 0x80;
const MIGREQ: u8 = 0x40;
const FECN: u8 = 0x80;
const BECN: u8 = 0x40;
const ACKREQ: u8 = 0x80;

/// A read/write view of a BTH (the buffer may extend past it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it (for output buffers).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures the 12-byte header is present.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// OpCode.
    pub fn opcode(&self) -> OpCode {
        OpCode::from(self.buffer.as_ref()[field::OPCODE])
    }

    /// Solicited Event bit.
    pub fn solicited(&self) -> bool {
        self.buffer.as_ref()[field::SE_M_PAD_TVER] & SE != 0
    }

    /// MigReq bit.
    pub fn migreq(&self) -> bool {
        self.buffer.as_ref()[field::SE_M_PAD_TVER] & MIGREQ != 0
    }

    /// Pad count (0..=3).
    pub fn pad_count(&self) -> u8 {
        (self.buffer.as_ref()[field::SE_M_PAD_TVER] >> 4) & 3
    }

    /// Transport header version (must be 0).
    pub fn tver(&self) -> u8 {
        self.buffer.as_ref()[field::SE_M_PAD_TVER] & 0x0F
    }

    /// Partition key.
    pub fn pkey(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::PKEY])
    }

    /// FECN bit.
    pub fn fecn(&self) -> bool {
        self.buffer.as_ref()[field::RESV8A] & FECN != 0
    }

    /// BECN bit.
    pub fn becn(&self) -> bool {
        self.buffer.as_ref()[field::RESV8A] & BECN != 0
    }

    /// Destination QP (24 bits).
    pub fn dest_qpn(&self) -> u32 {
        read_u24(&self.buffer.as_ref()[field::DEST_QPN])
    }

    /// AckReq bit.
    pub fn ack_req(&self) -> bool {
        self.buffer.as_ref()[field::ACKREQ] & ACKREQ != 0
    }

    /// PSN (24 bits).
    pub fn psn(&self) -> u32 {
        read_u24(&self.buffer.as_ref()[field::PSN])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the opcode.
    pub fn set_opcode(&mut self, value: OpCode) {
        self.buffer.as_mut()[field::OPCODE] = value.into()
    }

    /// Sets SE, MigReq, PadCnt and TVer (byte 1) at once.
    pub fn set_flags(&mut self, solicited: bool, migreq: bool, pad_count: u8, tver: u8) {
        let mut b = ((pad_count & 3) << 4) | (tver & 0x0F);
        if solicited {
            b |= SE;
        }
        if migreq {
            b |= MIGREQ;
        }
        self.buffer.as_mut()[field::SE_M_PAD_TVER] = b
    }

    /// Sets the partition key.
    pub fn set_pkey(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::PKEY], value)
    }

    /// Sets FECN/BECN; the six reserved bits of the byte become 0.
    pub fn set_ecn(&mut self, fecn: bool, becn: bool) {
        let mut b = 0;
        if fecn {
            b |= FECN;
        }
        if becn {
            b |= BECN;
        }
        self.buffer.as_mut()[field::RESV8A] = b
    }

    /// Sets the destination QP (low 24 bits of `value`).
    pub fn set_dest_qpn(&mut self, value: u32) {
        write_u24(&mut self.buffer.as_mut()[field::DEST_QPN], value)
    }

    /// Sets AckReq; the seven reserved bits of the byte become 0.
    pub fn set_ack_req(&mut self, value: bool) {
        self.buffer.as_mut()[field::ACKREQ] = if value { ACKREQ } else { 0 }
    }

    /// Sets the PSN (low 24 bits of `value`).
    pub fn set_psn(&mut self, value: u32) {
        write_u24(&mut self.buffer.as_mut()[field::PSN], value)
    }
}

/// The meaning of a BTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// OpCode (always one with [`OpCode::flags`] after parse).
    pub opcode: OpCode,
    /// Solicited Event.
    pub solicited: bool,
    /// MigReq (send 0).
    pub migreq: bool,
    /// Number of pad bytes after the payload (0..=3).
    pub pad_count: u8,
    /// Partition key.
    pub pkey: u16,
    /// Forward explicit congestion notification.
    pub fecn: bool,
    /// Backward explicit congestion notification.
    pub becn: bool,
    /// Destination QP (24 bits).
    pub dest_qpn: u32,
    /// Acknowledge request.
    pub ack_req: bool,
    /// Packet sequence number (24 bits).
    pub psn: u32,
}

impl Repr {
    /// Validates a checked header: TVer 0 (rxe drops others) and an opcode
    /// from the table. Reserved bits are ignored, as receivers must.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.tver() != 0 || packet.opcode().flags().is_none() {
            return Err(Error);
        }
        Ok(Repr {
            opcode: packet.opcode(),
            solicited: packet.solicited(),
            migreq: packet.migreq(),
            pad_count: packet.pad_count(),
            pkey: packet.pkey(),
            fecn: packet.fecn(),
            becn: packet.becn(),
            dest_qpn: packet.dest_qpn(),
            ack_req: packet.ack_req(),
            psn: packet.psn(),
        })
    }

    /// BTH length: always 12.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes all 12 bytes (TVer 0, reserved bits 0).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_opcode(self.opcode);
        packet.set_flags(self.solicited, self.migreq, self.pad_count, 0);
        packet.set_pkey(self.pkey);
        packet.set_ecn(self.fecn, self.becn);
        packet.set_dest_qpn(self.dest_qpn);
        packet.set_ack_req(self.ack_req);
        packet.set_psn(self.psn);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // BTH of golden frame 8 (zero-length RDMA WRITE Only, AckReq).
    static BTH_WRITE_ONLY: [u8; 12] = [
        0x0a, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x11, 0x80, 0x95, 0x3c, 0x7b,
    ];
    // BTH of golden frame 60 (RDMA WRITE Only of 13 bytes: pad count 3).
    static BTH_PADDED: [u8; 12] = [
        0x0a, 0x30, 0xff, 0xff, 0x00, 0x00, 0x00, 0x11, 0x80, 0x95, 0x3c, 0x8c,
    ];
    // BTH of golden frame 5 (UD SEND Only to QP1, the CM REQ).
    static BTH_UD: [u8; 12] = [
        0x64, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&BTH_WRITE_ONLY[..]).unwrap();
        assert_eq!(p.opcode(), OpCode::RcRdmaWriteOnly);
        assert!(!p.solicited());
        assert!(!p.migreq());
        assert_eq!(p.pad_count(), 0);
        assert_eq!(p.tver(), 0);
        assert_eq!(p.pkey(), 0xFFFF);
        assert!(!p.fecn() && !p.becn());
        assert_eq!(p.dest_qpn(), 0x11);
        assert!(p.ack_req());
        assert_eq!(p.psn(), 0x953c7b);

        let p = Packet::new_checked(&BTH_PADDED[..]).unwrap();
        assert_eq!(p.pad_count(), 3);
        assert_eq!(p.psn(), 0x953c8c);

        let p = Packet::new_checked(&BTH_UD[..]).unwrap();
        assert_eq!(p.opcode(), OpCode::UdSendOnly);
        assert_eq!(p.dest_qpn(), GSI_QPN);
        assert_eq!(p.psn(), 0);
    }

    #[test]
    fn parse_emit_round_trip() {
        for golden in [&BTH_WRITE_ONLY, &BTH_PADDED, &BTH_UD] {
            let repr = Repr::parse(&Packet::new_checked(&golden[..]).unwrap()).unwrap();
            let mut bytes = [0xA5u8; 12];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
            assert_eq!(&bytes, golden);
        }
    }

    #[test]
    fn all_flags_emit() {
        let repr = Repr {
            opcode: OpCode::RcSendOnly,
            solicited: true,
            migreq: true,
            pad_count: 2,
            pkey: 0x8001,
            fecn: true,
            becn: true,
            dest_qpn: 0xABCDEF,
            ack_req: true,
            psn: 0xFFFFFF,
        };
        let mut bytes = [0u8; 12];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(
            bytes,
            [0x04, 0xE0, 0x80, 0x01, 0xC0, 0xAB, 0xCD, 0xEF, 0x80, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Ok(repr)
        );
    }

    #[test]
    fn rejects() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&BTH_UD[..len]), Err(Error));
        }
        let mut tver = BTH_UD;
        tver[1] = 0x01;
        assert_eq!(Repr::parse(&Packet::new_unchecked(&tver[..])), Err(Error));
        for op in [0x15u8, 0x18, 0x1F, 0x20, 0x40, 0x63, 0x66, 0x81, 0xFF] {
            let mut b = BTH_UD;
            b[0] = op;
            assert_eq!(
                Repr::parse(&Packet::new_unchecked(&b[..])),
                Err(Error),
                "op {op:#x}"
            );
        }
    }

    #[test]
    fn opcode_table() {
        use OpCode::*;
        let hl = |op: OpCode| op.header_len().unwrap();
        assert_eq!(hl(RcSendOnly), 12);
        assert_eq!(hl(RcSendOnlyWithImmediate), 16);
        assert_eq!(hl(RcRdmaWriteFirst), 28);
        assert_eq!(hl(RcRdmaWriteMiddle), 12);
        assert_eq!(hl(RcRdmaWriteOnlyWithImmediate), 32);
        assert_eq!(hl(RcRdmaReadRequest), 28);
        assert_eq!(hl(RcRdmaReadResponseFirst), 16);
        assert_eq!(hl(RcRdmaReadResponseMiddle), 12);
        assert_eq!(hl(RcAcknowledge), 16);
        assert_eq!(hl(RcAtomicAcknowledge), 24);
        assert_eq!(hl(RcCompareSwap), 40);
        assert_eq!(hl(RcSendOnlyWithInvalidate), 16);
        assert_eq!(hl(UdSendOnly), 20);
        assert_eq!(hl(UdSendOnlyWithImmediate), 24);
        assert_eq!(Unknown(0x15).header_len(), None);
        assert_eq!(OpCode::from(0x24).header_len(), None, "UC is not spoken");

        assert_eq!(
            RcRdmaWriteOnlyWithImmediate.ext_header_range(OpFlags::RETH),
            Some(12..28)
        );
        assert_eq!(
            RcRdmaWriteOnlyWithImmediate.ext_header_range(OpFlags::IMMDT),
            Some(28..32)
        );
        assert_eq!(
            UdSendOnlyWithImmediate.ext_header_range(OpFlags::DETH),
            Some(12..20)
        );
        assert_eq!(
            UdSendOnlyWithImmediate.ext_header_range(OpFlags::IMMDT),
            Some(20..24)
        );
        assert_eq!(
            RcAtomicAcknowledge.ext_header_range(OpFlags::ATOMIC_ACK_ETH),
            Some(16..24)
        );
        assert_eq!(
            RcRdmaReadResponseMiddle.ext_header_range(OpFlags::AETH),
            None
        );
        assert_eq!(
            RcSendOnly.ext_header_range(OpFlags::RETH | OpFlags::AETH),
            None
        );

        assert_eq!(RcSendFirst.payload_rule(), PayloadRule::Full);
        assert_eq!(RcRdmaReadResponseMiddle.payload_rule(), PayloadRule::Full);
        assert_eq!(RcRdmaWriteLast.payload_rule(), PayloadRule::NonEmpty);
        assert_eq!(RcRdmaWriteOnly.payload_rule(), PayloadRule::UpToMtu);
        assert_eq!(UdSendOnly.payload_rule(), PayloadRule::UpToMtu);
        assert_eq!(RcRdmaReadRequest.payload_rule(), PayloadRule::Empty);
        assert_eq!(RcAcknowledge.payload_rule(), PayloadRule::Empty);
        assert!(PayloadRule::NonEmpty.allows(1, 1024) && !PayloadRule::NonEmpty.allows(0, 1024));
        assert!(PayloadRule::Full.allows(1024, 1024) && !PayloadRule::Full.allows(1023, 1024));

        assert!(RcRdmaReadRequest.is_request() && RcRdmaReadRequest.ack_req_expected());
        assert!(RcSendLast.ack_req_expected() && !RcSendMiddle.ack_req_expected());
        assert!(RcRdmaReadResponseLast.is_response() && !RcRdmaReadResponseLast.ack_req_expected());
        assert!(RcAcknowledge.is_response() && !Unknown(0x99).is_response());
        assert!(RcSendOnly.is_first() && RcSendOnly.is_last());
        assert!(UdSendOnly.is_ud() && !RcSendOnly.is_ud());

        // Every named opcode has properties and round-trips through u8.
        for raw in 0..=255u8 {
            let op = OpCode::from(raw);
            assert_eq!(u8::from(op), raw);
            assert_eq!(op.flags().is_some(), !matches!(op, Unknown(_)), "{raw:#x}");
        }
    }

    #[test]
    fn psn_arithmetic() {
        assert_eq!(psn_add(0xFF_FFFF, 1), 0);
        assert_eq!(psn_add(0xFF_FFFE, 5), 3);
        assert_eq!(psn_diff(0, 0xFF_FFFF), 1);
        assert_eq!(psn_diff(0xFF_FFFF, 0), -1);
        assert_eq!(psn_diff(0x953c8c, 0x953c7b), 17);
        assert_eq!(pad_for(13), 3);
        assert_eq!(pad_for(12), 0);
        assert_eq!(pad_for(0), 0);
        assert_eq!(pad_for(1), 3);
        assert_eq!(pad_for(2), 2);
    }
}
