//! The PCI data structure ("PCIR") that ties an image to a device.
//!
//! PCI Firmware Specification 3.0, section 5.1.2. Offsets are from the start
//! of the structure, which the ROM header points at (offset 0x18):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x00 | 4 | signature `PCIR` |
//! | 0x04 | 2 | vendor ID |
//! | 0x06 | 2 | device ID |
//! | 0x08 | 2 | device list pointer (revision 3; from the PCIR start) |
//! | 0x0A | 2 | structure length: 0x18 (revision 0) or 0x1C (revision 3) |
//! | 0x0C | 1 | structure revision |
//! | 0x0D | 3 | class code: programming interface, subclass, base class |
//! | 0x10 | 2 | image length in 512-byte blocks |
//! | 0x12 | 2 | revision level of the code |
//! | 0x14 | 1 | code type (0 = x86 BIOS, 3 = EFI) |
//! | 0x15 | 1 | indicator: bit 7 set on the last image |
//! | 0x16 | 2 | maximum run-time image length (revision 3) |
//! | 0x18 | 2 | configuration utility code header pointer (revision 3) |
//! | 0x1A | 2 | DMTF CLP entry point pointer (revision 3) |

use core::fmt;
use core::str::FromStr;

use crate::field::{self, get_le16, le16, set_le16, TooShort};

/// The signature bytes.
pub const SIGNATURE: [u8; 4] = *b"PCIR";
/// Structure length of revisions 0 to 2.
pub const LEN_V0: usize = 0x18;
/// Structure length of revision 3 (PCI 3.0).
pub const LEN_V3: usize = 0x1c;
/// Indicator bit marking the last image of a ROM.
pub const INDICATOR_LAST_IMAGE: u8 = 0x80;
/// PCIR must sit on a 4-byte boundary (PCI Firmware 3.0, 5.1.2).
pub const ALIGN: usize = 4;

mod offsets {
    use crate::field::Field;
    pub const SIGNATURE: Field = 0x00..0x04;
    pub const VENDOR: Field = 0x04..0x06;
    pub const DEVICE: Field = 0x06..0x08;
    pub const DEVICE_LIST: Field = 0x08..0x0a;
    pub const LENGTH: Field = 0x0a..0x0c;
    pub const REVISION: usize = 0x0c;
    pub const CLASS: Field = 0x0d..0x10;
    pub const IMAGE_BLOCKS: Field = 0x10..0x12;
    pub const CODE_REVISION: Field = 0x12..0x14;
    pub const CODE_TYPE: usize = 0x14;
    pub const INDICATOR: usize = 0x15;
    pub const MAX_RUNTIME_BLOCKS: Field = 0x16..0x18;
    pub const CONFIG_UTILITY: Field = 0x18..0x1a;
    pub const DMTF_CLP: Field = 0x1a..0x1c;
}

static_assertions::const_assert_eq!(offsets::IMAGE_BLOCKS.start, 0x10);
static_assertions::const_assert_eq!(offsets::INDICATOR, 0x15);
static_assertions::const_assert_eq!(offsets::MAX_RUNTIME_BLOCKS.end, LEN_V0);
static_assertions::const_assert_eq!(offsets::DMTF_CLP.end, LEN_V3);

/// What kind of code an image carries (PCIR offset 0x14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeType {
    /// 0: Intel x86, PC-AT compatible (legacy BIOS).
    X86Bios,
    /// 1: Open Firmware.
    OpenFirmware,
    /// 2: HP PA-RISC.
    PaRisc,
    /// 3: EFI image.
    Efi,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for CodeType {
    fn from(value: u8) -> Self {
        match value {
            0 => CodeType::X86Bios,
            1 => CodeType::OpenFirmware,
            2 => CodeType::PaRisc,
            3 => CodeType::Efi,
            other => CodeType::Unknown(other),
        }
    }
}

impl CodeType {
    /// The raw value.
    pub fn value(self) -> u8 {
        match self {
            CodeType::X86Bios => 0,
            CodeType::OpenFirmware => 1,
            CodeType::PaRisc => 2,
            CodeType::Efi => 3,
            CodeType::Unknown(v) => v,
        }
    }
}

impl fmt::Display for CodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeType::X86Bios => f.write_str("x86 BIOS"),
            CodeType::OpenFirmware => f.write_str("Open Firmware"),
            CodeType::PaRisc => f.write_str("PA-RISC"),
            CodeType::Efi => f.write_str("EFI"),
            CodeType::Unknown(v) => write!(f, "unknown ({v})"),
        }
    }
}

/// A PCI vendor:device pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PciId {
    pub vendor: u16,
    pub device: u16,
}

impl fmt::Display for PciId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor, self.device)
    }
}

/// Why a `VVVV:DDDD` string is not a PCI ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPciId;

impl fmt::Display for BadPciId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a PCI ID as VVVV:DDDD in hex, e.g. 1af4:1000")
    }
}

impl FromStr for PciId {
    type Err = BadPciId;
    fn from_str(s: &str) -> Result<Self, BadPciId> {
        let (v, d) = s.split_once(':').ok_or(BadPciId)?;
        Ok(PciId {
            vendor: parse_hex16(v)?,
            device: parse_hex16(d)?,
        })
    }
}

/// Parses 1 to 4 hex digits (no prefix), as PCI IDs are always written.
pub fn parse_hex16(s: &str) -> Result<u16, BadPciId> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BadPciId);
    }
    u16::from_str_radix(s, 16).map_err(|_| BadPciId)
}

/// A PCI class code, stored as programming interface, subclass, base class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassCode {
    pub base: u8,
    pub sub: u8,
    pub prog_if: u8,
}

impl ClassCode {
    /// Parses six hex digits written base class first, as lspci prints
    /// them (`020000` = Ethernet controller).
    pub fn parse_hex(s: &str) -> Option<ClassCode> {
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let v = u32::from_str_radix(s, 16).ok()?;
        Some(ClassCode {
            base: (v >> 16) as u8,
            sub: (v >> 8) as u8,
            prog_if: v as u8,
        })
    }

    /// A short name for the base class.
    pub fn base_name(&self) -> &'static str {
        match self.base {
            0x00 => "unclassified",
            0x01 => "mass storage controller",
            0x02 => "network controller",
            0x03 => "display controller",
            0x04 => "multimedia controller",
            0x05 => "memory controller",
            0x06 => "bridge",
            0x07 => "communication controller",
            0x08 => "system peripheral",
            0x0c => "serial bus controller",
            0x0d => "wireless controller",
            0xff => "unassigned class",
            _ => "other",
        }
    }
}

impl fmt::Display for ClassCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}{:02x}{:02x}", self.base, self.sub, self.prog_if)
    }
}

/// A read/write view of a PCI data structure.
#[derive(Debug, Clone)]
pub struct Pcir<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Pcir<T> {
    /// Wraps a buffer without checking its length; accessors may panic on a
    /// buffer shorter than [`LEN_V0`] (or [`LEN_V3`] for the 3.0 fields).
    pub const fn new_unchecked(buffer: T) -> Self {
        Pcir { buffer }
    }

    /// Wraps a buffer after checking it holds the revision 0 fields. The
    /// revision 3 fields read as `None` when the buffer or the declared
    /// length does not reach them.
    pub fn new_checked(buffer: T) -> Result<Self, TooShort> {
        let pcir = Self::new_unchecked(buffer);
        pcir.check_len()?;
        Ok(pcir)
    }

    /// Checks that the revision 0 fields are inside the buffer.
    pub fn check_len(&self) -> Result<(), TooShort> {
        field::check_len(self.buffer.as_ref(), LEN_V0)
    }

    pub fn signature(&self) -> [u8; 4] {
        let b = &self.buffer.as_ref()[offsets::SIGNATURE];
        [b[0], b[1], b[2], b[3]]
    }

    pub fn has_signature(&self) -> bool {
        self.signature() == SIGNATURE
    }

    pub fn vendor(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::VENDOR)
    }

    pub fn device(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::DEVICE)
    }

    pub fn id(&self) -> PciId {
        PciId {
            vendor: self.vendor(),
            device: self.device(),
        }
    }

    /// Device list pointer, relative to the PCIR start (0 = none). Only
    /// meaningful from revision 3 on; earlier revisions reserve the field.
    pub fn device_list_offset(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::DEVICE_LIST)
    }

    /// Declared structure length in bytes.
    pub fn length(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::LENGTH)
    }

    pub fn revision(&self) -> u8 {
        self.buffer.as_ref()[offsets::REVISION]
    }

    /// The length the revision calls for.
    pub fn expected_length(&self) -> usize {
        if self.revision() >= 3 {
            LEN_V3
        } else {
            LEN_V0
        }
    }

    pub fn class(&self) -> ClassCode {
        let b = &self.buffer.as_ref()[offsets::CLASS];
        ClassCode {
            prog_if: b[0],
            sub: b[1],
            base: b[2],
        }
    }

    /// Image length in 512-byte blocks.
    pub fn image_blocks(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::IMAGE_BLOCKS)
    }

    /// Image length in bytes.
    pub fn image_len(&self) -> usize {
        usize::from(self.image_blocks()) * crate::header::BLOCK_LEN
    }

    pub fn code_revision(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::CODE_REVISION)
    }

    pub fn code_type(&self) -> CodeType {
        CodeType::from(self.buffer.as_ref()[offsets::CODE_TYPE])
    }

    pub fn indicator(&self) -> u8 {
        self.buffer.as_ref()[offsets::INDICATOR]
    }

    pub fn is_last_image(&self) -> bool {
        self.indicator() & INDICATOR_LAST_IMAGE != 0
    }

    /// Revision 3 fields are read only when both the revision and the
    /// buffer reach them.
    fn v3_field(&self, field: field::Field) -> Option<u16> {
        if self.revision() < 3 {
            return None;
        }
        get_le16(self.buffer.as_ref(), field.start)
    }

    /// Maximum run-time image length in blocks (revision 3).
    pub fn max_runtime_blocks(&self) -> Option<u16> {
        self.v3_field(offsets::MAX_RUNTIME_BLOCKS)
    }

    /// Configuration utility code header pointer (revision 3).
    pub fn config_utility_offset(&self) -> Option<u16> {
        self.v3_field(offsets::CONFIG_UTILITY)
    }

    /// DMTF CLP entry point pointer (revision 3).
    pub fn dmtf_clp_offset(&self) -> Option<u16> {
        self.v3_field(offsets::DMTF_CLP)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Pcir<T> {
    pub fn set_id(&mut self, id: PciId) {
        set_le16(self.buffer.as_mut(), offsets::VENDOR, id.vendor);
        set_le16(self.buffer.as_mut(), offsets::DEVICE, id.device);
    }

    pub fn set_class(&mut self, class: ClassCode) {
        self.buffer.as_mut()[offsets::CLASS].copy_from_slice(&[
            class.prog_if,
            class.sub,
            class.base,
        ]);
    }

    pub fn set_image_blocks(&mut self, blocks: u16) {
        set_le16(self.buffer.as_mut(), offsets::IMAGE_BLOCKS, blocks);
    }

    pub fn set_last_image(&mut self, last: bool) {
        let b = &mut self.buffer.as_mut()[offsets::INDICATOR];
        if last {
            *b |= INDICATOR_LAST_IMAGE;
        } else {
            *b &= !INDICATOR_LAST_IMAGE;
        }
    }
}

/// Iterates the device IDs of a PCI 3.0 device list: u16 entries at
/// `pcir_offset + list_offset` up to a 0 terminator. Stops (with
/// [`DeviceList::unterminated`] set) at the end of the image.
#[derive(Debug, Clone)]
pub struct DeviceList<'a> {
    image: &'a [u8],
    at: Option<usize>,
    unterminated: bool,
}

impl<'a> DeviceList<'a> {
    /// `pcir_offset` and `list_offset` as read from the image.
    pub fn new(image: &'a [u8], pcir_offset: usize, list_offset: u16) -> Self {
        let at = if list_offset == 0 {
            None
        } else {
            pcir_offset.checked_add(usize::from(list_offset))
        };
        DeviceList {
            image,
            at,
            unterminated: false,
        }
    }

    /// True once iteration ran off the image without finding the 0 entry.
    pub fn unterminated(&self) -> bool {
        self.unterminated
    }
}

impl Iterator for DeviceList<'_> {
    type Item = u16;
    fn next(&mut self) -> Option<u16> {
        let at = self.at?;
        match get_le16(self.image, at) {
            Some(0) => {
                self.at = None;
                None
            }
            Some(id) => {
                self.at = at.checked_add(2);
                Some(id)
            }
            None => {
                self.at = None;
                self.unterminated = true;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The legacy image PCIR of Debian's efi-virtio.rom (iPXE, PCI 3.0).
    const IPXE_V3: [u8; 0x1c] = [
        b'P', b'C', b'I', b'R', 0xf4, 0x1a, 0x41, 0x10, 0xbf, 0x04, 0x1c, 0x00, 0x03, 0x00, 0x00,
        0x02, 0x94, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// SeaBIOS vgabios-stdvga.bin, revision 0.
    const VGA_V0: [u8; 0x18] = [
        b'P', b'C', b'I', b'R', 0x34, 0x12, 0x11, 0x11, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00,
        0x03, 0x4e, 0x00, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00,
    ];

    #[test]
    fn reads_ipxe_revision_3() {
        let p = Pcir::new_checked(&IPXE_V3[..]).unwrap();
        assert!(p.has_signature());
        assert_eq!(
            p.id(),
            PciId {
                vendor: 0x1af4,
                device: 0x1041
            }
        );
        assert_eq!(p.device_list_offset(), 0x4bf);
        assert_eq!(p.length(), 0x1c);
        assert_eq!(p.revision(), 3);
        assert_eq!(p.expected_length(), LEN_V3);
        assert_eq!(
            p.class(),
            ClassCode {
                base: 2,
                sub: 0,
                prog_if: 0
            }
        );
        assert_eq!(p.class().to_string(), "020000");
        assert_eq!(p.image_blocks(), 0x94);
        assert_eq!(p.image_len(), 75776);
        assert_eq!(p.code_revision(), 1);
        assert_eq!(p.code_type(), CodeType::X86Bios);
        assert!(!p.is_last_image());
        assert_eq!(p.max_runtime_blocks(), Some(7));
        assert_eq!(p.config_utility_offset(), Some(0));
        assert_eq!(p.dmtf_clp_offset(), Some(0));
    }

    #[test]
    fn reads_vga_revision_0() {
        let p = Pcir::new_checked(&VGA_V0[..]).unwrap();
        assert_eq!(p.id().to_string(), "1234:1111");
        assert_eq!(p.class().base_name(), "display controller");
        assert!(p.is_last_image());
        assert_eq!(p.max_runtime_blocks(), None); // reserved before 3.0
        assert_eq!(p.expected_length(), LEN_V0);
    }

    #[test]
    fn revision_3_fields_need_the_bytes() {
        let mut short = [0u8; LEN_V0];
        short.copy_from_slice(&IPXE_V3[..LEN_V0]);
        let p = Pcir::new_checked(&short[..]).unwrap();
        assert_eq!(p.max_runtime_blocks(), Some(7));
        assert_eq!(p.config_utility_offset(), None);
        assert!(Pcir::new_checked(&IPXE_V3[..LEN_V0 - 1]).is_err());
    }

    #[test]
    fn writes_fields() {
        let mut buf = VGA_V0;
        let mut p = Pcir::new_checked(&mut buf[..]).unwrap();
        p.set_id(PciId {
            vendor: 0x1af4,
            device: 0x1000,
        });
        p.set_class(ClassCode::parse_hex("010800").unwrap());
        p.set_image_blocks(9);
        p.set_last_image(false);
        assert_eq!(&buf[4..8], &[0xf4, 0x1a, 0x00, 0x10]);
        assert_eq!(&buf[0x0d..0x10], &[0x00, 0x08, 0x01]);
        assert_eq!(&buf[0x10..0x12], &[9, 0]);
        assert_eq!(buf[0x15], 0);
    }

    #[test]
    fn parses_ids_and_classes() {
        assert_eq!(
            "1af4:1000".parse(),
            Ok(PciId {
                vendor: 0x1af4,
                device: 0x1000
            })
        );
        assert_eq!(
            "8086:100E".parse(),
            Ok(PciId {
                vendor: 0x8086,
                device: 0x100e
            })
        );
        for bad in [
            "",
            ":",
            "1af4",
            "1af4:",
            "1af41:1000",
            "xyz:1000",
            "+1:2",
            "1af4:1000:1",
        ] {
            assert_eq!(bad.parse::<PciId>(), Err(BadPciId), "{bad}");
        }
        assert_eq!(ClassCode::parse_hex("02000"), None);
        assert_eq!(ClassCode::parse_hex("+20000"), None);
    }

    #[test]
    fn walks_device_lists() {
        let mut image = [0u8; 16];
        image[8..14].copy_from_slice(&[0x41, 0x10, 0x00, 0x10, 0, 0]);
        let ids: Vec<u16> = DeviceList::new(&image, 4, 4).collect();
        assert_eq!(ids, [0x1041, 0x1000]);
        let mut open = DeviceList::new(&image[..12], 4, 4);
        assert_eq!(open.by_ref().count(), 2);
        assert!(open.unterminated());
        assert_eq!(DeviceList::new(&image, 4, 0).count(), 0);
        let mut far = DeviceList::new(&image, usize::MAX, 0xffff);
        assert_eq!(far.next(), None);
    }
}
