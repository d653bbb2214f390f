//! Immediate data (4 bytes) carried by the *_WITH_IMMEDIATE opcodes. The
//! value is opaque: it is handed to the receiver's completion as is.

use super::bytes::{read_u32, write_u32};
use super::{Error, Result};

/// Length of the ImmDt header.
pub const HEADER_LEN: usize = 4;

/// A read/write view of an ImmDt header.
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

    /// Ensures the 4-byte header is present.
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

    /// The immediate value, read big-endian (network order, as verbs
    /// consumers see `imm_data`).
    pub fn imm(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[..HEADER_LEN])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the immediate value (written big-endian).
    pub fn set_imm(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[..HEADER_LEN], value)
    }
}

/// The meaning of an ImmDt header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// The immediate value.
    pub imm: u32,
}

impl Repr {
    /// Reads a checked header.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr { imm: packet.imm() })
    }

    /// Header length: always 4.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 4 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_imm(self.imm)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // The golden capture has no immediate data; this is a made-up value.
    static IMMDT: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

    #[test]
    fn parse_emit_round_trip() {
        let p = Packet::new_checked(&IMMDT[..]).unwrap();
        assert_eq!(p.imm(), 0xdead_beef);
        let repr = Repr::parse(&p).unwrap();
        let mut bytes = [0xA5u8; 4];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, IMMDT);
    }

    #[test]
    fn rejects_short() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&IMMDT[..len]), Err(Error));
        }
    }
}
