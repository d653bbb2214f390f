//! The ACK Extended Transport Header (4 bytes): a syndrome byte and the
//! responder's 24-bit message sequence number (MSN).
//!
//! Syndrome bits 6:5 say what the packet is (bit 7 is reserved, 0):
//!
//! | bits 7:5 | meaning | bits 4:0 |
//! |---|---|---|
//! | 000 | ACK | credit count (0x1F = invalid/unlimited; rxe always sends it) |
//! | 001 | RNR NAK | RNR timer code, see [`rnr_timer_micros`] |
//! | 011 | NAK | [`NakCode`] |
//! | other | reserved | kept as [`Syndrome::Reserved`] |

use super::bytes::{enum_with_unknown, read_u24, write_u24};
use super::{Error, Result};

enum_with_unknown! {
    /// The NAK code in bits 4:0 of a NAK syndrome.
    pub enum NakCode(u8) {
        /// PSN sequence error: the PSN is past the expected one (which the
        /// NAK's PSN names); resend from there.
        PsnSequenceError = 0,
        /// Invalid request (class C error: bad opcode sequence, length, …).
        InvalidRequest = 1,
        /// Remote access error (bad R_Key or range).
        RemoteAccessError = 2,
        /// Remote operational error.
        RemoteOperationalError = 3,
        /// Invalid RD request.
        InvalidRdRequest = 4,
    }
}

/// Credit count meaning "no end-to-end credits advertised" (rxe always).
pub const CREDITS_INVALID: u8 = 0x1F;

/// The AETH syndrome, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syndrome {
    /// Positive acknowledgement with a 5-bit credit count.
    Ack {
        /// Credit count (0x1F = invalid).
        credits: u8,
    },
    /// Receiver not ready: retry after the timer the 5-bit code names.
    RnrNak {
        /// RNR timer code.
        timer: u8,
    },
    /// Negative acknowledgement.
    Nak(NakCode),
    /// A reserved syndrome value, kept whole.
    Reserved(u8),
}

impl Syndrome {
    /// The plain ACK rxe sends: credits invalid (byte 0x1F).
    pub const ACK: Syndrome = Syndrome::Ack {
        credits: CREDITS_INVALID,
    };

    /// Whether this is an ACK (of any credit count).
    pub const fn is_ack(&self) -> bool {
        matches!(self, Syndrome::Ack { .. })
    }
}

impl From<u8> for Syndrome {
    fn from(byte: u8) -> Syndrome {
        let low = byte & 0x1F;
        match byte >> 5 {
            0 => Syndrome::Ack { credits: low },
            1 => Syndrome::RnrNak { timer: low },
            3 => Syndrome::Nak(NakCode::from(low)),
            _ => Syndrome::Reserved(byte),
        }
    }
}

impl From<Syndrome> for u8 {
    fn from(s: Syndrome) -> u8 {
        match s {
            Syndrome::Ack { credits } => credits & 0x1F,
            Syndrome::RnrNak { timer } => 0x20 | (timer & 0x1F),
            Syndrome::Nak(code) => 0x60 | (u8::from(code) & 0x1F),
            Syndrome::Reserved(byte) => byte,
        }
    }
}

/// Microseconds an RNR timer code asks the requester to wait (IBA table:
/// code 0 is the longest wait, 655.36 ms; codes 1..=31 grow from 10 µs to
/// 491.52 ms). Only the low five bits of `code` are used.
pub fn rnr_timer_micros(code: u8) -> u32 {
    const TABLE: [u32; 32] = [
        655_360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960, 1_280, 1_920, 2_560,
        3_840, 5_120, 7_680, 10_240, 15_360, 20_480, 30_720, 40_960, 61_440, 81_920, 122_880,
        163_840, 245_760, 327_680, 491_520,
    ];
    TABLE[usize::from(code & 0x1F)]
}

mod field {
    use core::ops::Range;
    pub const SYNDROME: usize = 0;
    pub const MSN: Range<usize> = 1..4;
}

/// Length of the AETH.
pub const HEADER_LEN: usize = field::MSN.end;

/// A read/write view of an AETH.
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

    /// The raw syndrome byte.
    pub fn syndrome_byte(&self) -> u8 {
        self.buffer.as_ref()[field::SYNDROME]
    }

    /// The decoded syndrome.
    pub fn syndrome(&self) -> Syndrome {
        Syndrome::from(self.syndrome_byte())
    }

    /// Message sequence number (24 bits).
    pub fn msn(&self) -> u32 {
        read_u24(&self.buffer.as_ref()[field::MSN])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the syndrome.
    pub fn set_syndrome(&mut self, value: Syndrome) {
        self.buffer.as_mut()[field::SYNDROME] = value.into()
    }

    /// Sets the MSN (low 24 bits).
    pub fn set_msn(&mut self, value: u32) {
        write_u24(&mut self.buffer.as_mut()[field::MSN], value)
    }
}

/// The meaning of an AETH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// ACK, RNR NAK, NAK or reserved.
    pub syndrome: Syndrome,
    /// Message sequence number (24 bits).
    pub msn: u32,
}

impl Repr {
    /// Reads a checked header. Reserved syndromes are kept, not refused: the
    /// completer decides what to do with them.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            syndrome: packet.syndrome(),
            msn: packet.msn(),
        })
    }

    /// Header length: always 4.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 4 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_syndrome(self.syndrome);
        packet.set_msn(self.msn);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // AETH of golden frame 9: the initiator ACKs the zero-length WRITE, MSN 1.
    static AETH_ACK: [u8; 4] = [0x1f, 0x00, 0x00, 0x01];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&AETH_ACK[..]).unwrap();
        assert_eq!(p.syndrome_byte(), 0x1f);
        assert_eq!(p.syndrome(), Syndrome::ACK);
        assert!(p.syndrome().is_ack());
        assert_eq!(p.msn(), 1);
    }

    #[test]
    fn parse_emit_round_trip() {
        let repr = Repr::parse(&Packet::new_checked(&AETH_ACK[..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            Repr {
                syndrome: Syndrome::ACK,
                msn: 1
            }
        );
        let mut bytes = [0xA5u8; 4];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, AETH_ACK);
    }

    #[test]
    fn syndrome_bytes() {
        let cases = [
            (0x1F, Syndrome::ACK),
            (0x00, Syndrome::Ack { credits: 0 }),
            (0x20, Syndrome::RnrNak { timer: 0 }),
            (0x2E, Syndrome::RnrNak { timer: 14 }),
            (0x60, Syndrome::Nak(NakCode::PsnSequenceError)),
            (0x61, Syndrome::Nak(NakCode::InvalidRequest)),
            (0x62, Syndrome::Nak(NakCode::RemoteAccessError)),
            (0x63, Syndrome::Nak(NakCode::RemoteOperationalError)),
            (0x64, Syndrome::Nak(NakCode::InvalidRdRequest)),
            (0x7F, Syndrome::Nak(NakCode::Unknown(0x1F))),
            (0x40, Syndrome::Reserved(0x40)),
            (0x9F, Syndrome::Reserved(0x9F)),
        ];
        for (byte, syndrome) in cases {
            assert_eq!(Syndrome::from(byte), syndrome, "{byte:#x}");
            assert_eq!(u8::from(syndrome), byte, "{syndrome:?}");
        }
        // Every byte survives decoding and re-encoding.
        for byte in 0..=255u8 {
            assert_eq!(u8::from(Syndrome::from(byte)), byte);
        }
    }

    #[test]
    fn rnr_timer_table() {
        assert_eq!(rnr_timer_micros(0), 655_360);
        assert_eq!(rnr_timer_micros(1), 10);
        assert_eq!(rnr_timer_micros(14), 1_280);
        assert_eq!(rnr_timer_micros(31), 491_520);
        assert_eq!(rnr_timer_micros(0xE1), 10);
    }

    #[test]
    fn rejects_short() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&AETH_ACK[..len]), Err(Error));
        }
    }
}
