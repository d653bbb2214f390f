//! The option ROM header at the start of every image.
//!
//! PCI Firmware Specification 3.0, section 5.1 (legacy header) and PnP BIOS
//! Specification 1.0A, appendix A:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x00 | 2 | signature `55 AA` |
//! | 0x02 | 1 | initialization size in 512-byte blocks (the "size byte") |
//! | 0x03 | 3 | initialization entry: the BIOS far-calls offset 3 |
//! | 0x06 | 18 | vendor specific (iPXE keeps its own headers here) |
//! | 0x18 | 2 | offset of the PCI data structure (PCIR) |
//! | 0x1A | 2 | offset of the first expansion header ($PnP) |
//!
//! EFI images (PCIR code type 3) reuse offsets 0, 2 and 0x18 but widen the
//! size to 16 bits; see [`crate::efi`].

use core::fmt;

use crate::field::{self, le16, set_le16, TooShort};

/// Byte size of the blocks that size fields count in.
pub const BLOCK_LEN: usize = 512;
/// The size byte counts blocks, so a legacy image is at most this long.
pub const MAX_LEGACY_LEN: usize = 255 * BLOCK_LEN;
/// The two signature bytes, in memory order.
pub const SIGNATURE: [u8; 2] = [0x55, 0xAA];

mod offsets {
    use crate::field::Field;
    pub const SIGNATURE: Field = 0x00..0x02;
    pub const INIT_BLOCKS: usize = 0x02;
    pub const ENTRY: Field = 0x03..0x06;
    pub const PCIR_OFFSET: Field = 0x18..0x1a;
    pub const EXPANSION_OFFSET: Field = 0x1a..0x1c;
}
pub use offsets::{ENTRY as ENTRY_FIELD, INIT_BLOCKS as INIT_BLOCKS_AT};

/// Bytes a header view needs: up to and including the expansion pointer.
pub const HEADER_LEN: usize = offsets::EXPANSION_OFFSET.end;

static_assertions::const_assert_eq!(offsets::INIT_BLOCKS, 2);
static_assertions::const_assert_eq!(offsets::ENTRY.start, 3);
static_assertions::const_assert_eq!(offsets::PCIR_OFFSET.start, 0x18);
static_assertions::const_assert_eq!(offsets::EXPANSION_OFFSET.start, 0x1a);
static_assertions::const_assert_eq!(HEADER_LEN, 0x1c);

/// A read/write view of an option ROM header.
#[derive(Debug, Clone)]
pub struct RomHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RomHeader<T> {
    /// Wraps a buffer without checking its length; accessors may panic on a
    /// buffer shorter than [`HEADER_LEN`].
    pub const fn new_unchecked(buffer: T) -> Self {
        RomHeader { buffer }
    }

    /// Wraps a buffer after checking it holds every header field.
    pub fn new_checked(buffer: T) -> Result<Self, TooShort> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Checks that every fixed field is inside the buffer.
    pub fn check_len(&self) -> Result<(), TooShort> {
        field::check_len(self.buffer.as_ref(), HEADER_LEN)
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The two signature bytes as stored.
    pub fn signature(&self) -> [u8; 2] {
        let b = self.buffer.as_ref();
        [b[offsets::SIGNATURE.start], b[offsets::SIGNATURE.start + 1]]
    }

    /// True if the image starts with `55 AA`.
    pub fn has_signature(&self) -> bool {
        self.signature() == SIGNATURE
    }

    /// The size byte: initialization size in 512-byte blocks.
    pub fn init_blocks(&self) -> u8 {
        self.buffer.as_ref()[offsets::INIT_BLOCKS]
    }

    /// Initialization size in bytes, from the size byte.
    pub fn init_len(&self) -> usize {
        usize::from(self.init_blocks()) * BLOCK_LEN
    }

    /// The three bytes at the init entry point.
    pub fn entry_bytes(&self) -> [u8; 3] {
        let b = &self.buffer.as_ref()[offsets::ENTRY];
        [b[0], b[1], b[2]]
    }

    /// The init entry decoded as the jump it usually is.
    pub fn entry(&self) -> Entry {
        Entry::decode(self.entry_bytes())
    }

    /// Offset of the PCI data structure from the image start (0 = none).
    pub fn pcir_offset(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::PCIR_OFFSET)
    }

    /// Offset of the first expansion header from the image start (0 = none).
    pub fn expansion_offset(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::EXPANSION_OFFSET)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RomHeader<T> {
    /// Writes the size byte.
    pub fn set_init_blocks(&mut self, blocks: u8) {
        self.buffer.as_mut()[offsets::INIT_BLOCKS] = blocks;
    }

    /// Writes the PCIR pointer.
    pub fn set_pcir_offset(&mut self, offset: u16) {
        set_le16(self.buffer.as_mut(), offsets::PCIR_OFFSET, offset);
    }

    /// Writes the expansion header pointer.
    pub fn set_expansion_offset(&mut self, offset: u16) {
        set_le16(self.buffer.as_mut(), offsets::EXPANSION_OFFSET, offset);
    }
}

/// What the init entry at offset 3 does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `EB rel8`: short jump to the given image offset.
    JumpShort(u16),
    /// `E9 rel16`: near jump to the given image offset.
    JumpNear(u16),
    /// `CB`: far return, an image with nothing to initialize.
    FarReturn,
    /// Anything else, shown raw.
    Other([u8; 3]),
}

impl Entry {
    /// Decodes the entry bytes. Jump targets wrap at 64 KiB like the CPU's
    /// 16-bit IP does.
    pub fn decode(bytes: [u8; 3]) -> Entry {
        let entry = offsets::ENTRY.start as u16;
        match bytes[0] {
            0xEB => {
                let rel = bytes[1] as i8;
                Entry::JumpShort((entry + 2).wrapping_add_signed(i16::from(rel)))
            }
            0xE9 => {
                let rel = u16::from_le_bytes([bytes[1], bytes[2]]);
                Entry::JumpNear((entry + 3).wrapping_add(rel))
            }
            0xCB => Entry::FarReturn,
            _ => Entry::Other(bytes),
        }
    }

    /// The jump target, if the entry is a jump.
    pub fn target(&self) -> Option<u16> {
        match *self {
            Entry::JumpShort(t) | Entry::JumpNear(t) => Some(t),
            _ => None,
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Entry::JumpShort(t) => write!(f, "jmp short 0x{t:04x}"),
            Entry::JumpNear(t) => write!(f, "jmp near 0x{t:04x}"),
            Entry::FarReturn => write!(f, "retf"),
            Entry::Other(b) => write!(f, "bytes {:02x} {:02x} {:02x}", b[0], b[1], b[2]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 0x1c bytes of a header like the one our assembly emits.
    const GOLDEN: [u8; 0x1c] = [
        0x55, 0xAA, 0x08, 0xE9, 0x2A, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
        0, 0, 0, 0, 0, 0, 0, 0, 0x1C, 0x00, 0x40, 0x00,
    ];

    #[test]
    fn reads_golden_fields() {
        let h = RomHeader::new_checked(&GOLDEN[..]).unwrap();
        assert!(h.has_signature());
        assert_eq!(h.init_blocks(), 8);
        assert_eq!(h.init_len(), 4096);
        assert_eq!(h.entry(), Entry::JumpNear(0x0130));
        assert_eq!(h.pcir_offset(), 0x1c);
        assert_eq!(h.expansion_offset(), 0x40);
    }

    #[test]
    fn writes_fields_in_place() {
        let mut buf = [0xA5u8; 0x1c];
        let mut h = RomHeader::new_checked(&mut buf[..]).unwrap();
        h.set_init_blocks(3);
        h.set_pcir_offset(0x1234);
        h.set_expansion_offset(0x0040);
        assert_eq!(buf[2], 3);
        assert_eq!(&buf[0x18..0x1c], &[0x34, 0x12, 0x40, 0x00]);
        assert_eq!(buf[3], 0xA5); // neighbours untouched
    }

    #[test]
    fn rejects_short_buffers() {
        assert_eq!(
            RomHeader::new_checked(&GOLDEN[..0x1b]).unwrap_err(),
            TooShort {
                needed: 0x1c,
                len: 0x1b
            }
        );
        assert!(RomHeader::new_checked(&[][..]).is_err());
    }

    #[test]
    fn decodes_entries() {
        assert_eq!(Entry::decode([0xEB, 0x10, 0]), Entry::JumpShort(0x15));
        assert_eq!(Entry::decode([0xEB, 0xFE, 0]), Entry::JumpShort(0x03));
        assert_eq!(Entry::decode([0xE9, 0xFF, 0xFF]), Entry::JumpNear(0x05));
        assert_eq!(Entry::decode([0xCB, 0, 0]), Entry::FarReturn);
        assert_eq!(Entry::decode([0x90, 1, 2]).target(), None);
    }
}
