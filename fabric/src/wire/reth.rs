//! The RDMA Extended Transport Header (16 bytes): where an RDMA WRITE or READ
//! goes in the responder's memory.
//!
//! It rides on the first packet of a WRITE (FIRST or ONLY) and on a READ
//! request. The wire layer accepts any DMA length; the responder checks it
//! against the R_Key's window (and the IBA's 2^31 limit).

use super::bytes::{read_u32, read_u64, write_u32, write_u64};
use super::{Error, Result};

mod field {
    use core::ops::Range;
    pub const VA: Range<usize> = 0..8;
    pub const RKEY: Range<usize> = 8..12;
    pub const DMA_LEN: Range<usize> = 12..16;
}

/// Length of the RETH.
pub const HEADER_LEN: usize = field::DMA_LEN.end;

/// A read/write view of a RETH.
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

    /// Ensures the 16-byte header is present.
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

    /// Virtual address in the responder's memory.
    pub fn va(&self) -> u64 {
        read_u64(&self.buffer.as_ref()[field::VA])
    }

    /// Remote key.
    pub fn rkey(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::RKEY])
    }

    /// DMA length of the whole message.
    pub fn dma_len(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::DMA_LEN])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the virtual address.
    pub fn set_va(&mut self, value: u64) {
        write_u64(&mut self.buffer.as_mut()[field::VA], value)
    }

    /// Sets the remote key.
    pub fn set_rkey(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[field::RKEY], value)
    }

    /// Sets the DMA length.
    pub fn set_dma_len(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[field::DMA_LEN], value)
    }
}

/// The meaning of a RETH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repr {
    /// Virtual address.
    pub va: u64,
    /// Remote key.
    pub rkey: u32,
    /// DMA length (bytes in the whole message).
    pub dma_len: u32,
}

impl Repr {
    /// Reads a checked header (every value is acceptable on the wire).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            va: packet.va(),
            rkey: packet.rkey(),
            dma_len: packet.dma_len(),
        })
    }

    /// Header length: always 16.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes all 16 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_va(self.va);
        packet.set_rkey(self.rkey);
        packet.set_dma_len(self.dma_len);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // RETH of golden frame 138 (RDMA WRITE First of a 4 KiB READ(10) reply).
    static RETH: [u8; 16] = [
        0xff, 0xff, 0x8a, 0x72, 0x82, 0x68, 0x60, 0x00, 0x00, 0x00, 0x03, 0xca, 0x00, 0x00, 0x10,
        0x00,
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&RETH[..]).unwrap();
        assert_eq!(p.va(), 0xffff_8a72_8268_6000);
        assert_eq!(p.rkey(), 0x3ca);
        assert_eq!(p.dma_len(), 4096);
    }

    #[test]
    fn parse_emit_round_trip() {
        let repr = Repr::parse(&Packet::new_checked(&RETH[..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            Repr {
                va: 0xffff_8a72_8268_6000,
                rkey: 0x3ca,
                dma_len: 4096
            }
        );
        let mut bytes = [0xA5u8; 16];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, RETH);
    }

    #[test]
    fn rejects_short() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&RETH[..len]), Err(Error));
        }
    }
}
