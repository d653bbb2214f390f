//! UDP datagrams over IPv4.
//!
//! The checksum is optional over IPv4: rxe sends 0 ("none"), and so does
//! [`Repr::emit`]. A received non-zero checksum is verified (it covers the
//! RoCEv2 ICRC too, so fill it after the ICRC if you ever send one). Under
//! `cfg(fuzzing)` verification always passes.

use super::bytes::{read_u16, write_u16, FUZZING};
use super::ipv4::{checksum, Address as Ipv4Address, Protocol};
use super::{Error, Result};

/// The RoCEv2 destination port.
pub const ROCE_V2_PORT: u16 = 4791;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A read/write view of a UDP datagram.
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

    /// Ensures every accessor, `payload` included, stays in bounds: a full
    /// header, and a length field of at least 8 that fits in the buffer.
    /// `set_len` can break this guarantee.
    pub fn check_len(&self) -> Result<()> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < HEADER_LEN {
            return Err(Error);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN || len > buffer_len {
            return Err(Error);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// Length field (header + payload).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Checksum as stored (0 = none).
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Whether the checksum is absent (0) or correct. Needs a checked packet.
    pub fn verify_checksum(&self, src_addr: Ipv4Address, dst_addr: Ipv4Address) -> bool {
        if FUZZING || self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let data = &self.buffer.as_ref()[..usize::from(len)];
        let acc = checksum::pseudo_header(src_addr, dst_addr, Protocol::Udp.into(), len);
        checksum::finish(checksum::data(acc, data)) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload, up to the length field.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::SRC_PORT], value)
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::DST_PORT], value)
    }

    /// Sets the length field.
    pub fn set_len(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::LENGTH], value)
    }

    /// Stores a checksum value.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value)
    }

    /// Computes and stores the checksum over the header and the `len()`
    /// bytes of payload (which must already be in place). A computed 0 is
    /// sent as 0xFFFF, as RFC 768 requires.
    pub fn fill_checksum(&mut self, src_addr: Ipv4Address, dst_addr: Ipv4Address) {
        self.set_checksum(0);
        let len = self.len();
        let acc = checksum::pseudo_header(src_addr, dst_addr, Protocol::Udp.into(), len);
        let sum = checksum::finish(checksum::data(
            acc,
            &self.buffer.as_ref()[..usize::from(len)],
        ));
        self.set_checksum(if sum == 0 { 0xFFFF } else { sum })
    }

    /// Mutable payload, up to the length field.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }
}

/// The meaning of a UDP header (the payload stays in the buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source port (rxe: 0xC000 + a hash of the QPN; receivers ignore it).
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl Repr {
    /// Validates a checked packet: non-zero destination port and a good
    /// checksum if one is present.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        src_addr: Ipv4Address,
        dst_addr: Ipv4Address,
    ) -> Result<Repr> {
        packet.check_len()?;
        if packet.dst_port() == 0 || !packet.verify_checksum(src_addr, dst_addr) {
            return Err(Error);
        }
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    /// Header length: always 8.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header for `payload_len` bytes of payload, with checksum 0
    /// ("none"). Call [`Packet::fill_checksum`] afterwards for a real one.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, payload_len: usize) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len((HEADER_LEN + payload_len) as u16);
        packet.set_checksum(0);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // Golden frame 9: the UDP datagram of an RC ACK (checksum 0, as rxe sends).
    static DATAGRAM: [u8; 28] = [
        0xc8, 0x06, 0x12, 0xb7, 0x00, 0x1c, 0x00, 0x00, 0x11, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00,
        0x11, 0x00, 0x95, 0x3c, 0x7b, 0x1f, 0x00, 0x00, 0x01, 0xd3, 0xc7, 0x8e, 0xa2,
    ];
    const SRC: Ipv4Address = Ipv4Address::new(192, 168, 77, 2);
    const DST: Ipv4Address = Ipv4Address::new(192, 168, 77, 1);

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!(p.src_port(), 51206);
        assert_eq!(p.dst_port(), ROCE_V2_PORT);
        assert_eq!(p.len(), 28);
        assert_eq!(p.checksum(), 0);
        assert!(p.verify_checksum(SRC, DST));
        assert_eq!(p.payload(), &DATAGRAM[8..]);
    }

    #[test]
    fn parse_and_emit() {
        let p = Packet::new_checked(&DATAGRAM[..]).unwrap();
        let repr = Repr::parse(&p, SRC, DST).unwrap();
        assert_eq!(
            repr,
            Repr {
                src_port: 51206,
                dst_port: 4791
            }
        );
        let mut bytes = [0xA5u8; 28];
        bytes[8..].copy_from_slice(&DATAGRAM[8..]);
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), 20);
        assert_eq!(bytes, DATAGRAM);
    }

    #[test]
    fn real_checksum_round_trip() {
        let mut bytes = DATAGRAM;
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.fill_checksum(SRC, DST);
        assert_ne!(p.checksum(), 0);
        assert!(Repr::parse(&p, SRC, DST).is_ok());
        // Wrong pseudo-header → rejected.
        assert_eq!(
            Repr::parse(&p, SRC, Ipv4Address::new(10, 0, 0, 1)),
            Err(Error)
        );
        // Corrupt payload → rejected.
        bytes[20] ^= 0x40;
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&p, SRC, DST), Err(Error));
    }

    #[test]
    fn rejects() {
        for len in 0..DATAGRAM.len() {
            assert_eq!(
                Packet::new_checked(&DATAGRAM[..len]),
                Err(Error),
                "len {len}"
            );
        }
        let mut short_len = DATAGRAM;
        short_len[5] = 7;
        assert_eq!(Packet::new_checked(&short_len[..]), Err(Error));
        let mut zero_port = DATAGRAM;
        zero_port[2..4].copy_from_slice(&[0, 0]);
        let p = Packet::new_checked(&zero_port[..]).unwrap();
        assert_eq!(Repr::parse(&p, SRC, DST), Err(Error));
    }
}
