//! The Datagram Extended Transport Header (8 bytes) of UD packets: the Q_Key
//! and the sender's QP.
//!
//! ```text
//! 0          4         5            8
//! +----------+---------+------------+
//! | Q_Key    | reserved| SrcQP (24) |
//! +----------+---------+------------+
//! ```

use super::bytes::{read_u24, read_u32, write_u24, write_u32};
use super::{Error, Result};

/// The Q_Key QP1 (GSI) insists on; rxe drops QP1 packets with any other.
pub const GSI_QKEY: u32 = 0x8001_0000;

mod field {
    use core::ops::Range;
    pub const QKEY: Range<usize> = 0..4;
    pub const RESERVED: usize = 4;
    pub const SRC_QPN: Range<usize> = 5..8;
}

/// Length of the DETH.
pub const HEADER_LEN: usize = field::SRC_QPN.end;

/// A read/write view of a DETH.
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

    /// Ensures the 8-byte header is present.
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

    /// Queue key.
    pub fn qkey(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::QKEY])
    }

    /// Source QP (24 bits).
    pub fn src_qpn(&self) -> u32 {
        read_u24(&self.buffer.as_ref()[field::SRC_QPN])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the queue key.
    pub fn set_qkey(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[field::QKEY], value)
    }

    /// Sets the source QP (low 24 bits) and clears the reserved byte.
    pub fn set_src_qpn(&mut self, value: u32) {
        let data = self.buffer.as_mut();
        data[field::RESERVED] = 0;
        write_u24(&mut data[field::SRC_QPN], value)
    }
}

/// The meaning of a DETH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Queue key.
    pub qkey: u32,
    /// Source QP (24 bits).
    pub src_qpn: u32,
}

impl Repr {
    /// Reads a checked header; the reserved byte is ignored.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            qkey: packet.qkey(),
            src_qpn: packet.src_qpn(),
        })
    }

    /// Header length: always 8.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes all 8 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_qkey(self.qkey);
        packet.set_src_qpn(self.src_qpn);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // DETH of golden frame 5 (CM REQ to QP1).
    static DETH: [u8; 8] = [0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&DETH[..]).unwrap();
        assert_eq!(p.qkey(), GSI_QKEY);
        assert_eq!(p.src_qpn(), 1);
    }

    #[test]
    fn parse_emit_round_trip() {
        let repr = Repr::parse(&Packet::new_checked(&DETH[..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            Repr {
                qkey: GSI_QKEY,
                src_qpn: 1
            }
        );
        let mut bytes = [0xA5u8; 8];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, DETH);
    }

    #[test]
    fn reserved_byte_ignored() {
        let mut bytes = DETH;
        bytes[4] = 0xEE;
        let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(repr.src_qpn, 1);
    }

    #[test]
    fn rejects_short() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&DETH[..len]), Err(Error));
        }
    }
}
