//! ARP for IPv4 over Ethernet (RFC 826): requests and replies.
//!
//! The view uses the fixed 28-byte Ethernet/IPv4 layout; [`Repr::parse`]
//! refuses any other hardware/protocol type or address length.

use super::bytes::{enum_with_unknown, read_u16, write_u16};
use super::eth::Address as EthernetAddress;
use super::ipv4::Address as Ipv4Address;
use super::{Error, Result};

enum_with_unknown! {
    /// ARP operation code.
    pub enum Operation(u16) {
        /// Who has the target protocol address?
        Request = 1,
        /// The sender hardware address has the sender protocol address.
        Reply = 2,
    }
}

/// Hardware type for Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Protocol type for IPv4.
pub const PTYPE_IPV4: u16 = 0x0800;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

/// A read/write view of an Ethernet/IPv4 ARP packet.
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

    /// Ensures every accessor stays in bounds: at least 28 bytes (Ethernet
    /// padding after them is allowed).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(Error)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type.
    pub fn hardware_type(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::HTYPE])
    }

    /// Protocol type.
    pub fn protocol_type(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::PTYPE])
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation.
    pub fn operation(&self) -> Operation {
        Operation::from(read_u16(&self.buffer.as_ref()[field::OPER]))
    }

    /// Sender hardware address.
    pub fn source_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    /// Sender protocol address.
    pub fn source_protocol_addr(&self) -> Ipv4Address {
        Ipv4Address::from_bytes(&self.buffer.as_ref()[field::SPA])
    }

    /// Target hardware address.
    pub fn target_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    /// Target protocol address.
    pub fn target_protocol_addr(&self) -> Ipv4Address {
        Ipv4Address::from_bytes(&self.buffer.as_ref()[field::TPA])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::HTYPE], value)
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::PTYPE], value)
    }

    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value
    }

    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value
    }

    /// Sets the operation.
    pub fn set_operation(&mut self, value: Operation) {
        write_u16(&mut self.buffer.as_mut()[field::OPER], value.into())
    }

    /// Sets the sender hardware address.
    pub fn set_source_hardware_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&value.0)
    }

    /// Sets the sender protocol address.
    pub fn set_source_protocol_addr(&mut self, value: Ipv4Address) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&value.0)
    }

    /// Sets the target hardware address.
    pub fn set_target_hardware_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&value.0)
    }

    /// Sets the target protocol address.
    pub fn set_target_protocol_addr(&mut self, value: Ipv4Address) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&value.0)
    }
}

/// The meaning of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Request, reply, or an unknown code (kept; the caller ignores it).
    pub operation: Operation,
    /// Sender MAC.
    pub source_hardware_addr: EthernetAddress,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Address,
    /// Target MAC (zero or anything in a request).
    pub target_hardware_addr: EthernetAddress,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Address,
}

impl Repr {
    /// Validates a checked packet: Ethernet hardware type with 6-byte
    /// addresses, IPv4 protocol type with 4-byte addresses.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != PTYPE_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error);
        }
        Ok(Repr {
            operation: packet.operation(),
            source_hardware_addr: packet.source_hardware_addr(),
            source_protocol_addr: packet.source_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// Packet length: always [`PACKET_LEN`].
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes all 28 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(self.source_hardware_addr);
        packet.set_source_protocol_addr(self.source_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
    }

    /// The reply a host owning `my_mac` answers this request with. `None` if
    /// this is not a request.
    pub fn reply(&self, my_mac: EthernetAddress) -> Option<Repr> {
        if self.operation != Operation::Request {
            return None;
        }
        Some(Repr {
            operation: Operation::Reply,
            source_hardware_addr: my_mac,
            source_protocol_addr: self.target_protocol_addr,
            target_hardware_addr: self.source_hardware_addr,
            target_protocol_addr: self.source_protocol_addr,
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // Golden frame 1 (request) and frame 2 (reply), Ethernet header removed.
    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0xc0,
        0xa8, 0x4d, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xa8, 0x4d, 0x01,
    ];
    static REPLY: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x52, 0x54, 0x00, 0x77, 0x00, 0x01, 0xc0,
        0xa8, 0x4d, 0x01, 0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0xc0, 0xa8, 0x4d, 0x02,
    ];

    const MAC_I: EthernetAddress = EthernetAddress([0x52, 0x54, 0, 0x77, 0, 2]);
    const MAC_T: EthernetAddress = EthernetAddress([0x52, 0x54, 0, 0x77, 0, 1]);
    const IP_I: Ipv4Address = Ipv4Address::new(192, 168, 77, 2);
    const IP_T: Ipv4Address = Ipv4Address::new(192, 168, 77, 1);

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), 0x0800);
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert_eq!(p.operation(), Operation::Request);
        assert_eq!(p.source_hardware_addr(), MAC_I);
        assert_eq!(p.source_protocol_addr(), IP_I);
        assert_eq!(p.target_hardware_addr(), EthernetAddress::BROADCAST);
        assert_eq!(p.target_protocol_addr(), IP_T);
    }

    #[test]
    fn parse_emit_round_trip() {
        for golden in [&REQUEST, &REPLY] {
            let repr = Repr::parse(&Packet::new_checked(&golden[..]).unwrap()).unwrap();
            let mut bytes = [0xA5u8; 28];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
            assert_eq!(&bytes, golden);
        }
    }

    #[test]
    fn reply_to_golden_request_is_golden_reply() {
        let req = Repr::parse(&Packet::new_checked(&REQUEST[..]).unwrap()).unwrap();
        let rep = req.reply(MAC_T).unwrap();
        let mut bytes = [0xA5u8; 28];
        rep.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, REPLY);
        assert_eq!(rep.reply(MAC_I), None);
    }

    #[test]
    fn rejects() {
        for len in 0..PACKET_LEN {
            assert_eq!(Packet::new_checked(&REQUEST[..len]), Err(Error));
        }
        for (at, value) in [(1, 6), (2, 0x86), (4, 8), (5, 16)] {
            let mut bytes = REQUEST;
            bytes[at] = value;
            assert_eq!(
                Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
                Err(Error)
            );
        }
    }

    #[test]
    fn unknown_operation_is_kept() {
        let mut bytes = REQUEST;
        bytes[7] = 9;
        let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(repr.operation, Operation::Unknown(9));
        assert_eq!(repr.reply(MAC_T), None);
    }
}
