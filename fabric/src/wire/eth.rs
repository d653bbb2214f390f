//! Ethernet II frames (no 802.1Q tag: a tagged frame parses with EtherType
//! 0x8100, which the layers above do not accept).
//!
//! The frame check sequence is not part of the buffer: NICs add and strip it.
//! Frames shorter than 60 bytes are padded by the sender; the padding is
//! simply part of the payload here, and the IPv4 total length tells the layers
//! above where their data ends.

use core::fmt;

use super::bytes::{enum_with_unknown, read_array, read_u16, write_u16};
use super::{Error, Result};

enum_with_unknown! {
    /// The EtherType field.
    pub enum EtherType(u16) {
        /// IPv4 (RoCEv2 runs over this one).
        Ipv4 = 0x0800,
        /// ARP.
        Arp = 0x0806,
        /// 802.1Q VLAN tag (not parsed).
        Vlan = 0x8100,
        /// IPv6 (not parsed).
        Ipv6 = 0x86DD,
        /// RoCE v1, IB GRH directly over Ethernet (not carried by rxe).
        RoceV1 = 0x8915,
    }
}

/// A 48-bit Ethernet (MAC) address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 6]);

impl Address {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Address = Address([0xFF; 6]);

    /// Builds an address from the first six bytes of `data`.
    ///
    /// # Panics
    /// If `data` is shorter than six bytes.
    pub fn from_bytes(data: &[u8]) -> Address {
        Address(read_array(data))
    }

    /// The six bytes of the address.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the group bit is set (multicast or broadcast).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this is a unicast address (group bit clear).
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// The modified EUI-64 of this MAC (`m0^2 m1 m2 ff fe m3 m4 m5`): what rxe
    /// uses as node GUID and as interface ID of its link-local GID.
    pub const fn eui64(&self) -> [u8; 8] {
        let m = self.0;
        [m[0] ^ 0x02, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]]
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
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

mod field {
    use core::ops::{Range, RangeFrom};
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking it. Use on output buffers; accessors
    /// panic if the buffer is shorter than the header.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Ensures every accessor stays in bounds: the buffer holds a full header.
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

    /// Destination MAC.
    pub fn dst_addr(&self) -> Address {
        Address::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// Source MAC.
    pub fn src_addr(&self) -> Address {
        Address::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    /// EtherType.
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(&self.buffer.as_ref()[field::ETHERTYPE]))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// Everything after the header (including any minimum-size padding).
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC.
    pub fn set_dst_addr(&mut self, value: Address) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&value.0)
    }

    /// Sets the source MAC.
    pub fn set_src_addr(&mut self, value: Address) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&value.0)
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, value: EtherType) {
        write_u16(&mut self.buffer.as_mut()[field::ETHERTYPE], value.into())
    }

    /// Mutable access to everything after the header.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The meaning of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source MAC.
    pub src_addr: Address,
    /// Destination MAC.
    pub dst_addr: Address,
    /// EtherType.
    pub ethertype: EtherType,
}

impl Repr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Header length: always [`HEADER_LEN`].
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header; the payload is left alone.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // Golden frame 1: ARP who-has 192.168.77.1, broadcast.
    static FRAME_ARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0xc0, 0xa8,
        0x4d, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xa8, 0x4d, 0x01,
    ];

    const INITIATOR: Address = Address([0x52, 0x54, 0x00, 0x77, 0x00, 0x02]);

    #[test]
    fn deconstruct() {
        let frame = Frame::new_checked(&FRAME_ARP[..]).unwrap();
        assert_eq!(frame.dst_addr(), Address::BROADCAST);
        assert!(frame.dst_addr().is_broadcast());
        assert_eq!(frame.src_addr(), INITIATOR);
        assert!(frame.src_addr().is_unicast());
        assert_eq!(frame.ethertype(), EtherType::Arp);
        assert_eq!(frame.payload(), &FRAME_ARP[14..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xA5u8; 42];
        let mut frame = Frame::new_unchecked(&mut bytes[..]);
        frame.set_dst_addr(Address::BROADCAST);
        frame.set_src_addr(INITIATOR);
        frame.set_ethertype(EtherType::Arp);
        frame.payload_mut().copy_from_slice(&FRAME_ARP[14..]);
        assert_eq!(bytes, FRAME_ARP);
    }

    #[test]
    fn repr_round_trip() {
        let frame = Frame::new_checked(&FRAME_ARP[..]).unwrap();
        let repr = Repr::parse(&frame).unwrap();
        assert_eq!(repr.ethertype, EtherType::Arp);
        let mut bytes = [0xA5u8; 42];
        bytes[14..].copy_from_slice(&FRAME_ARP[14..]);
        repr.emit(&mut Frame::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, FRAME_ARP);
        assert_eq!(repr.buffer_len(), 14);
    }

    #[test]
    fn rejects_short() {
        for len in 0..HEADER_LEN {
            assert_eq!(Frame::new_checked(&FRAME_ARP[..len]), Err(Error));
        }
        assert!(Frame::new_checked(&FRAME_ARP[..HEADER_LEN]).is_ok());
    }

    #[test]
    fn unknown_ethertype_is_kept() {
        let mut bytes = FRAME_ARP;
        bytes[12..14].copy_from_slice(&[0x88, 0xcc]);
        let frame = Frame::new_checked(&bytes[..]).unwrap();
        assert_eq!(frame.ethertype(), EtherType::Unknown(0x88cc));
        let mut out = [0u8; 14];
        Repr::parse(&frame)
            .unwrap()
            .emit(&mut Frame::new_unchecked(&mut out[..]));
        assert_eq!(out[..], bytes[..14]);
    }

    #[test]
    fn eui64() {
        assert_eq!(
            INITIATOR.eui64(),
            [0x50, 0x54, 0x00, 0xff, 0xfe, 0x77, 0x00, 0x02]
        );
        assert_eq!(format!("{}", INITIATOR), "52:54:00:77:00:02");
    }
}
