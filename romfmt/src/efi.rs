//! The EFI variant of the ROM header, used by images with PCIR code type 3.
//!
//! PCI Firmware Specification 3.0, section 5.1.1 (EFI PCI expansion ROM
//! header), offsets from the image start:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x00 | 2 | signature `55 AA` |
//! | 0x02 | 2 | initialization size in 512-byte blocks (16 bits here) |
//! | 0x04 | 4 | EFI signature 0x0EF1 |
//! | 0x08 | 2 | EFI subsystem (PE subsystem value) |
//! | 0x0A | 2 | EFI machine type (PE machine value) |
//! | 0x0C | 2 | compression type (0 none, 1 EFI compression) |
//! | 0x0E | 8 | reserved |
//! | 0x16 | 2 | offset of the PE image |
//! | 0x18 | 2 | offset of the PCIR structure |

use crate::field::{self, le16, le32, TooShort};

pub const EFI_SIGNATURE: u32 = 0x0EF1;

mod offsets {
    use crate::field::Field;
    pub const INIT_BLOCKS: Field = 0x02..0x04;
    pub const EFI_SIGNATURE: Field = 0x04..0x08;
    pub const SUBSYSTEM: Field = 0x08..0x0a;
    pub const MACHINE: Field = 0x0a..0x0c;
    pub const COMPRESSION: Field = 0x0c..0x0e;
    pub const IMAGE_OFFSET: Field = 0x16..0x18;
    pub const PCIR_OFFSET: Field = 0x18..0x1a;
}

/// Bytes an EFI header view needs.
pub const HEADER_LEN: usize = offsets::PCIR_OFFSET.end;

static_assertions::const_assert_eq!(offsets::IMAGE_OFFSET.start, 0x16);
static_assertions::const_assert_eq!(HEADER_LEN, 0x1a);

/// A read-only view of an EFI ROM image header.
#[derive(Debug, Clone)]
pub struct EfiHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EfiHeader<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        EfiHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, TooShort> {
        field::check_len(buffer.as_ref(), HEADER_LEN)?;
        Ok(Self::new_unchecked(buffer))
    }

    /// Initialization size in 512-byte blocks.
    pub fn init_blocks(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::INIT_BLOCKS)
    }

    pub fn init_len(&self) -> usize {
        usize::from(self.init_blocks()) * crate::header::BLOCK_LEN
    }

    pub fn efi_signature(&self) -> u32 {
        le32(self.buffer.as_ref(), offsets::EFI_SIGNATURE)
    }

    pub fn subsystem(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::SUBSYSTEM)
    }

    pub fn machine(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::MACHINE)
    }

    pub fn compression(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::COMPRESSION)
    }

    /// Offset of the PE/COFF image from the image start.
    pub fn image_offset(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::IMAGE_OFFSET)
    }
}

/// Name of a PE subsystem value as EFI uses it.
pub fn subsystem_name(value: u16) -> &'static str {
    match value {
        10 => "EFI application",
        11 => "EFI boot service driver",
        12 => "EFI runtime driver",
        13 => "EFI ROM",
        _ => "unknown",
    }
}

/// Name of a PE machine type value.
pub fn machine_name(value: u16) -> &'static str {
    match value {
        0x014c => "IA-32",
        0x0200 => "Itanium",
        0x0ebc => "EFI byte code",
        0x8664 => "x64",
        0x01c2 => "ARM Thumb",
        0xaa64 => "AArch64",
        0x5064 => "RISC-V 64",
        0x6264 => "LoongArch 64",
        _ => "unknown",
    }
}

/// Name of an EFI compression type.
pub fn compression_name(value: u16) -> &'static str {
    match value {
        0 => "none",
        1 => "EFI compression",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EFI image header of Debian's efi-virtio.rom.
    const IPXE_EFI: [u8; 0x1a] = [
        0x55, 0xaa, 0x53, 0x01, 0xf1, 0x0e, 0x00, 0x00, 0x0b, 0x00, 0x64, 0x86, 0x00, 0x00, 0, 0,
        0, 0, 0, 0, 0, 0, 0x38, 0x00, 0x1c, 0x00,
    ];

    #[test]
    fn reads_ipxe_efi_header() {
        let h = EfiHeader::new_checked(&IPXE_EFI[..]).unwrap();
        assert_eq!(h.init_blocks(), 0x153);
        assert_eq!(h.init_len(), 173568);
        assert_eq!(h.efi_signature(), EFI_SIGNATURE);
        assert_eq!(subsystem_name(h.subsystem()), "EFI boot service driver");
        assert_eq!(machine_name(h.machine()), "x64");
        assert_eq!(compression_name(h.compression()), "none");
        assert_eq!(h.image_offset(), 0x38);
        assert!(EfiHeader::new_checked(&IPXE_EFI[..0x19]).is_err());
    }
}
