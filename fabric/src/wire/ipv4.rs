//! IPv4 headers, as RoCEv2 uses them.
//!
//! The `Packet` view reads any IPv4 header. [`Repr::parse`] is strict: version
//! 4, no options (rxe never sends any, and the ICRC pseudo-header assumes a
//! 20-byte header), a correct header checksum, and no fragments (MF set or a
//! non-zero offset is refused: a boot ROM does not reassemble).
//!
//! Under `cfg(fuzzing)` the header checksum is not verified, so a fuzzer can
//! reach the layers above.

use core::fmt;

use super::bytes::{enum_with_unknown, read_array, read_u16, write_u16, FUZZING};
use super::{Error, Result};

enum_with_unknown! {
    /// The IPv4 protocol (next header) field.
    pub enum Protocol(u8) {
        /// ICMP.
        Icmp = 1,
        /// TCP.
        Tcp = 6,
        /// UDP (carries RoCEv2).
        Udp = 17,
    }
}

/// A 32-bit IPv4 address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 4]);

impl Address {
    /// 0.0.0.0
    pub const UNSPECIFIED: Address = Address([0; 4]);
    /// 255.255.255.255
    pub const BROADCAST: Address = Address([0xFF; 4]);

    /// Builds an address from its four dotted-quad parts.
    pub const fn new(a: u8, b: u8, c: u8, d: u8) -> Address {
        Address([a, b, c, d])
    }

    /// Builds an address from the first four bytes of `data`.
    ///
    /// # Panics
    /// If `data` is shorter than four bytes.
    pub fn from_bytes(data: &[u8]) -> Address {
        Address(read_array(data))
    }

    /// The four bytes of the address.
    pub const fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }

    /// 0.0.0.0
    pub const fn is_unspecified(&self) -> bool {
        u32::from_be_bytes(self.0) == 0
    }

    /// 255.255.255.255
    pub const fn is_broadcast(&self) -> bool {
        u32::from_be_bytes(self.0) == u32::MAX
    }

    /// 224.0.0.0/4
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0xF0 == 0xE0
    }

    /// 127.0.0.0/8
    pub const fn is_loopback(&self) -> bool {
        self.0[0] == 127
    }

    /// A unicast address usable as a host address (what rdma_cm insists on for
    /// the addresses in its private-data header).
    pub const fn is_unicast(&self) -> bool {
        !(self.is_unspecified() || self.is_broadcast() || self.is_multicast())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{}.{}.{}.{}", b[0], b[1], b[2], b[3])
    }
}

/// The Internet checksum (RFC 1071), shared with UDP.
pub mod checksum {
    use super::Address;

    /// Adds `data` as big-endian 16-bit words to a running one's-complement
    /// sum (not folded). An odd trailing byte is padded with zero.
    pub fn data(mut acc: u32, data: &[u8]) -> u32 {
        let mut words = data.chunks_exact(2);
        for w in &mut words {
            acc = acc.wrapping_add(u32::from(u16::from_be_bytes([w[0], w[1]])));
            // Keep the carry from ever overflowing on large buffers.
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        if let [last] = words.remainder() {
            acc = acc.wrapping_add(u32::from(*last) << 8);
        }
        acc
    }

    /// Folds a running sum to 16 bits and complements it.
    pub fn finish(mut acc: u32) -> u16 {
        while acc > 0xFFFF {
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        !(acc as u16)
    }

    /// The sum of the IPv4 pseudo-header used by UDP and TCP.
    pub fn pseudo_header(src: Address, dst: Address, protocol: u8, length: u16) -> u32 {
        let mut acc = data(0, &src.0);
        acc = data(acc, &dst.0);
        acc + u32::from(protocol) + u32::from(length)
    }
}

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1FFF;

/// A read/write view of an IPv4 packet.
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

    /// Ensures every accessor, `payload` included, stays in bounds: the
    /// buffer holds the fixed header, the header length is at least 20 and
    /// fits, and the total length covers the header and fits in the buffer
    /// (trailing bytes, such as Ethernet padding, are allowed).
    ///
    /// `set_header_len` and `set_total_len` can break this guarantee.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        let header_len = usize::from(self.header_len());
        let total_len = usize::from(self.total_len());
        if header_len < HEADER_LEN || header_len > len || total_len < header_len || total_len > len
        {
            return Err(Error);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version (4 for IPv4).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0F) * 4
    }

    /// The former TOS byte: DSCP and ECN.
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Total length (header + payload).
    pub fn total_len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::IDENT])
    }

    /// The don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        read_u16(&self.buffer.as_ref()[field::FLG_OFF]) & FLAG_DF != 0
    }

    /// The more-fragments flag.
    pub fn more_frags(&self) -> bool {
        read_u16(&self.buffer.as_ref()[field::FLG_OFF]) & FLAG_MF != 0
    }

    /// The reserved (evil) bit of the flags.
    pub fn reserved_flag(&self) -> bool {
        read_u16(&self.buffer.as_ref()[field::FLG_OFF]) & 0x8000 != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (read_u16(&self.buffer.as_ref()[field::FLG_OFF]) & FRAG_OFFSET_MASK) << 3
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> Protocol {
        Protocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Source address.
    pub fn src_addr(&self) -> Address {
        Address::from_bytes(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Address {
        Address::from_bytes(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Whether the header checksum is correct (always true under
    /// `cfg(fuzzing)`). Needs a checked packet.
    pub fn verify_checksum(&self) -> bool {
        if FUZZING {
            return true;
        }
        let header = &self.buffer.as_ref()[..usize::from(self.header_len())];
        checksum::finish(checksum::data(0, header)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload: from the end of the header to the total length.
    pub fn payload(&self) -> &'a [u8] {
        let data = self.buffer.as_ref();
        &data[usize::from(self.header_len())..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version (high nibble of byte 0).
    pub fn set_version(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0F) | (value << 4);
    }

    /// Sets the header length in bytes (rounded down to 4).
    pub fn set_header_len(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xF0) | ((value / 4) & 0x0F);
    }

    /// Sets DSCP/ECN.
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::LENGTH], value)
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::IDENT], value)
    }

    /// Sets flags and fragment offset at once: DF as given, MF clear, offset 0.
    pub fn set_unfragmented(&mut self, dont_frag: bool) {
        let v = if dont_frag { FLAG_DF } else { 0 };
        write_u16(&mut self.buffer.as_mut()[field::FLG_OFF], v)
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, value: Protocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into()
    }

    /// Stores a checksum value.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value)
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, value: Address) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.0)
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, value: Address) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.0)
    }

    /// Computes and stores the header checksum (over `header_len` bytes).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = usize::from(self.header_len());
        let sum = checksum::finish(checksum::data(0, &self.buffer.as_ref()[..header_len]));
        self.set_checksum(sum)
    }

    /// Mutable payload, from the end of the header to the total length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (
            usize::from(self.header_len()),
            usize::from(self.total_len()),
        );
        &mut self.buffer.as_mut()[start..end]
    }
}

/// The meaning of an option-less, unfragmented IPv4 header.
///
/// Every field that the RoCEv2 ICRC covers (identification, DF, lengths,
/// addresses) is kept, so a parsed frame re-emits bit for bit. TTL and TOS
/// are kept too, although the ICRC masks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: Address,
    /// Destination address.
    pub dst_addr: Address,
    /// Payload protocol.
    pub protocol: Protocol,
    /// Payload length (total length − 20).
    pub payload_len: usize,
    /// Time to live (rxe: the address vector's hop limit, 64 by default).
    pub ttl: u8,
    /// DSCP/ECN byte (rxe: the traffic class, 0 by default).
    pub dscp_ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't-fragment flag (rxe sets it).
    pub dont_frag: bool,
}

impl Repr {
    /// Validates a checked packet: version 4, no options, good checksum, no
    /// fragmentation, reserved flag clear.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != 4
            || usize::from(packet.header_len()) != HEADER_LEN
            || packet.more_frags()
            || packet.frag_offset() != 0
            || packet.reserved_flag()
            || !packet.verify_checksum()
        {
            return Err(Error);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - HEADER_LEN,
            ttl: packet.ttl(),
            dscp_ecn: packet.dscp_ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// Header length: always 20.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header, checksum last. `payload_len` must fit the 16-bit
    /// total length (a larger value is truncated). The payload is untouched.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_dscp_ecn(self.dscp_ecn);
        packet.set_total_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_ident(self.ident);
        packet.set_unfragmented(self.dont_frag);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // Golden frame 9 (RC ACK, initiator → target), from the IPv4 header on.
    static PACKET_ACK: [u8; 48] = [
        0x45, 0x00, 0x00, 0x30, 0xf3, 0x47, 0x40, 0x00, 0x40, 0x11, 0x2c, 0x21, 0xc0, 0xa8, 0x4d,
        0x02, 0xc0, 0xa8, 0x4d, 0x01, 0xc8, 0x06, 0x12, 0xb7, 0x00, 0x1c, 0x00, 0x00, 0x11, 0x00,
        0xff, 0xff, 0x00, 0x00, 0x00, 0x11, 0x00, 0x95, 0x3c, 0x7b, 0x1f, 0x00, 0x00, 0x01, 0xd3,
        0xc7, 0x8e, 0xa2,
    ];

    const INITIATOR: Address = Address::new(192, 168, 77, 2);
    const TARGET: Address = Address::new(192, 168, 77, 1);

    fn golden_repr() -> Repr {
        Repr {
            src_addr: INITIATOR,
            dst_addr: TARGET,
            protocol: Protocol::Udp,
            payload_len: 28,
            ttl: 64,
            dscp_ecn: 0,
            ident: 0xf347,
            dont_frag: true,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&PACKET_ACK[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp_ecn(), 0);
        assert_eq!(p.total_len(), 48);
        assert_eq!(p.ident(), 0xf347);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), Protocol::Udp);
        assert_eq!(p.checksum(), 0x2c21);
        assert_eq!(p.src_addr(), INITIATOR);
        assert_eq!(p.dst_addr(), TARGET);
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &PACKET_ACK[20..]);
    }

    #[test]
    fn parse_and_emit() {
        let p = Packet::new_checked(&PACKET_ACK[..]).unwrap();
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(repr, golden_repr());
        let mut bytes = [0xA5u8; 48];
        bytes[20..].copy_from_slice(&PACKET_ACK[20..]);
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_ACK);
    }

    #[test]
    fn trailing_bytes_are_not_payload() {
        let mut bytes = [0u8; 60];
        bytes[..48].copy_from_slice(&PACKET_ACK);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.payload().len(), 28);
        assert!(Repr::parse(&p).is_ok());
    }

    #[test]
    fn rejects_truncation() {
        for len in 0..PACKET_ACK.len() {
            assert_eq!(
                Packet::new_checked(&PACKET_ACK[..len]),
                Err(Error),
                "len {len}"
            );
        }
    }

    fn with(f: impl FnOnce(&mut Packet<&mut [u8]>)) -> [u8; 48] {
        let mut bytes = PACKET_ACK;
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        f(&mut p);
        p.fill_checksum();
        bytes
    }

    fn parse(bytes: &[u8]) -> Result<Repr> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    #[test]
    fn rejects_bad_fields() {
        let mut bad_sum = PACKET_ACK;
        bad_sum[11] ^= 1;
        assert_eq!(parse(&bad_sum), Err(Error), "checksum");
        assert_eq!(parse(&with(|p| p.set_version(6))), Err(Error), "version");
        assert_eq!(
            parse(&with(|p| p.set_header_len(24))),
            Err(Error),
            "options"
        );
        assert_eq!(
            parse(&with(|p| p.set_header_len(16))),
            Err(Error),
            "IHL < 5"
        );
        assert_eq!(
            parse(&with(|p| p.set_total_len(19))),
            Err(Error),
            "total < header"
        );
        assert_eq!(
            parse(&with(|p| p.set_total_len(49))),
            Err(Error),
            "total > buffer"
        );
        let mf = with(|p| {
            let b = &mut p.buffer[field::FLG_OFF];
            b[0] |= 0x20;
        });
        assert_eq!(parse(&mf), Err(Error), "more fragments");
        let off = with(|p| {
            let b = &mut p.buffer[field::FLG_OFF];
            b[1] = 1;
        });
        assert_eq!(parse(&off), Err(Error), "fragment offset");
        let evil = with(|p| {
            let b = &mut p.buffer[field::FLG_OFF];
            b[0] |= 0x80;
        });
        assert_eq!(parse(&evil), Err(Error), "reserved flag");
        // Control: the helper itself yields a good packet.
        assert!(parse(&with(|_| ())).is_ok());
    }

    #[test]
    fn unknown_protocol_is_kept() {
        let bytes = with(|p| p.buffer[field::PROTOCOL] = 253);
        assert_eq!(parse(&bytes).unwrap().protocol, Protocol::Unknown(253));
    }

    #[test]
    fn checksum_odd_length() {
        // 0x0102 + 0x0300 = 0x0402 → !0x0402
        assert_eq!(checksum::finish(checksum::data(0, &[1, 2, 3])), !0x0402);
    }

    #[test]
    fn address_classes() {
        assert!(INITIATOR.is_unicast());
        assert!(Address::new(224, 0, 0, 1).is_multicast());
        assert!(Address::BROADCAST.is_broadcast());
        assert!(Address::UNSPECIFIED.is_unspecified());
        assert!(Address::new(127, 0, 0, 1).is_loopback());
        assert_eq!(format!("{}", TARGET), "192.168.77.1");
    }
}
