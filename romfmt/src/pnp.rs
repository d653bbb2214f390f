//! The Plug and Play expansion header ("$PnP").
//!
//! PnP BIOS Specification 1.0A, section 3.2. Offsets are from the start of
//! the header; every pointer in it is an offset from the image start:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x00 | 4 | signature `$PnP` |
//! | 0x04 | 1 | structure revision (1) |
//! | 0x05 | 1 | length in 16-byte units (2) |
//! | 0x06 | 2 | offset of the next expansion header (0 = none) |
//! | 0x08 | 1 | reserved |
//! | 0x09 | 1 | checksum: the `length * 16` header bytes sum to 0 |
//! | 0x0A | 4 | device identifier (EISA ID) |
//! | 0x0E | 2 | manufacturer string pointer |
//! | 0x10 | 2 | product name string pointer |
//! | 0x12 | 3 | device type code: base type, sub-type, interface |
//! | 0x15 | 1 | device indicators (see [`Indicators`]) |
//! | 0x16 | 2 | boot connection vector (BCV) |
//! | 0x18 | 2 | disconnect vector (DV) |
//! | 0x1A | 2 | bootstrap entry vector (BEV) |
//! | 0x1C | 2 | reserved |
//! | 0x1E | 2 | static resource information vector |
//!
//! SeaBIOS registers a BEV if it is non-zero, else a BCV if that is
//! non-zero, once per header in the chain.

use core::fmt;

use crate::field::{self, le16, le32, TooShort};

pub const SIGNATURE: [u8; 4] = *b"$PnP";
/// The revision this crate understands.
pub const REVISION: u8 = 1;
/// Bytes of the fixed fields; the declared length is normally exactly this.
pub const HEADER_LEN: usize = 0x20;
/// Units the length field counts in.
pub const LENGTH_UNIT: usize = 16;
/// Some BIOSes find `$PnP` by scanning 16-byte boundaries instead of
/// following offset 0x1A (noted in iPXE's romprefix.S), so keep it aligned.
pub const ALIGN: usize = 16;
/// Bound on chained headers, so a cyclic chain cannot loop forever.
pub const MAX_CHAIN: usize = 16;

mod offsets {
    use crate::field::Field;
    pub const SIGNATURE: Field = 0x00..0x04;
    pub const REVISION: usize = 0x04;
    pub const LENGTH: usize = 0x05;
    pub const NEXT: Field = 0x06..0x08;
    pub const CHECKSUM: usize = 0x09;
    pub const DEVICE_ID: Field = 0x0a..0x0e;
    pub const MANUFACTURER: Field = 0x0e..0x10;
    pub const PRODUCT: Field = 0x10..0x12;
    pub const DEVICE_TYPE: Field = 0x12..0x15;
    pub const INDICATORS: usize = 0x15;
    pub const BCV: Field = 0x16..0x18;
    pub const DV: Field = 0x18..0x1a;
    pub const BEV: Field = 0x1a..0x1c;
    pub const STATIC_RESOURCES: Field = 0x1e..0x20;
}
pub use offsets::CHECKSUM as CHECKSUM_AT;

static_assertions::const_assert_eq!(offsets::CHECKSUM, 9);
static_assertions::const_assert_eq!(offsets::BCV.start, 0x16);
static_assertions::const_assert_eq!(offsets::BEV.start, 0x1a);
static_assertions::const_assert_eq!(offsets::STATIC_RESOURCES.end, HEADER_LEN);
static_assertions::const_assert_eq!(HEADER_LEN, 2 * LENGTH_UNIT);

/// The device indicator byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indicators(pub u8);

impl Indicators {
    pub const DISPLAY: u8 = 1 << 0;
    pub const INPUT: u8 = 1 << 1;
    pub const IPL: u8 = 1 << 2;
    pub const ONLY_IF_BOOT_DEVICE: u8 = 1 << 4;
    pub const READ_CACHEABLE: u8 = 1 << 5;
    pub const SHADOWABLE: u8 = 1 << 6;
    pub const DDIM: u8 = 1 << 7;

    const NAMES: [(u8, &'static str); 7] = [
        (Self::DDIM, "DDIM"),
        (Self::SHADOWABLE, "shadowable"),
        (Self::READ_CACHEABLE, "read-cacheable"),
        (Self::ONLY_IF_BOOT_DEVICE, "only-if-boot-device"),
        (Self::IPL, "IPL"),
        (Self::INPUT, "input"),
        (Self::DISPLAY, "display"),
    ];

    /// Names of the set bits, most significant first.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(bit, _)| self.0 & bit != 0)
            .map(|(_, name)| name)
    }
}

impl fmt::Display for Indicators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02x}", self.0)?;
        for (i, name) in self.names().enumerate() {
            f.write_str(if i == 0 { " (" } else { ", " })?;
            f.write_str(name)?;
        }
        if self.0 & !0x08 != 0 {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The three-byte device type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceType {
    pub base: u8,
    pub sub: u8,
    pub interface: u8,
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}/{:02x}/{:02x}",
            self.base, self.sub, self.interface
        )
    }
}

/// The entry vectors a header may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vector {
    Bcv,
    Dv,
    Bev,
    StaticResources,
}

impl fmt::Display for Vector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Vector::Bcv => "BCV",
            Vector::Dv => "DV",
            Vector::Bev => "BEV",
            Vector::StaticResources => "static resource vector",
        })
    }
}

/// The string pointers a header may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringField {
    Manufacturer,
    Product,
}

impl fmt::Display for StringField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StringField::Manufacturer => "manufacturer",
            StringField::Product => "product",
        })
    }
}

/// A read/write view of a PnP expansion header.
#[derive(Debug, Clone)]
pub struct PnpHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PnpHeader<T> {
    /// Wraps a buffer without checking its length; accessors may panic on a
    /// buffer shorter than [`HEADER_LEN`].
    pub const fn new_unchecked(buffer: T) -> Self {
        PnpHeader { buffer }
    }

    /// Wraps a buffer after checking it holds the fixed fields.
    pub fn new_checked(buffer: T) -> Result<Self, TooShort> {
        let pnp = Self::new_unchecked(buffer);
        pnp.check_len()?;
        Ok(pnp)
    }

    pub fn check_len(&self) -> Result<(), TooShort> {
        field::check_len(self.buffer.as_ref(), HEADER_LEN)
    }

    pub fn signature(&self) -> [u8; 4] {
        let b = &self.buffer.as_ref()[offsets::SIGNATURE];
        [b[0], b[1], b[2], b[3]]
    }

    pub fn has_signature(&self) -> bool {
        self.signature() == SIGNATURE
    }

    pub fn revision(&self) -> u8 {
        self.buffer.as_ref()[offsets::REVISION]
    }

    /// Declared length in 16-byte units.
    pub fn length_units(&self) -> u8 {
        self.buffer.as_ref()[offsets::LENGTH]
    }

    /// Declared length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.length_units()) * LENGTH_UNIT
    }

    /// Offset of the next expansion header from the image start (0 = none).
    pub fn next_offset(&self) -> u16 {
        le16(self.buffer.as_ref(), offsets::NEXT)
    }

    pub fn checksum(&self) -> u8 {
        self.buffer.as_ref()[offsets::CHECKSUM]
    }

    /// Sum of the declared header bytes; `None` if they run past the buffer
    /// or the length is 0. Valid headers sum to 0.
    pub fn sum(&self) -> Option<u8> {
        let len = self.header_len();
        if len == 0 {
            return None;
        }
        self.buffer.as_ref().get(..len).map(field::sum8)
    }

    pub fn device_id(&self) -> u32 {
        le32(self.buffer.as_ref(), offsets::DEVICE_ID)
    }

    pub fn string_offset(&self, which: StringField) -> u16 {
        let f = match which {
            StringField::Manufacturer => offsets::MANUFACTURER,
            StringField::Product => offsets::PRODUCT,
        };
        le16(self.buffer.as_ref(), f)
    }

    pub fn device_type(&self) -> DeviceType {
        let b = &self.buffer.as_ref()[offsets::DEVICE_TYPE];
        DeviceType {
            base: b[0],
            sub: b[1],
            interface: b[2],
        }
    }

    pub fn indicators(&self) -> Indicators {
        Indicators(self.buffer.as_ref()[offsets::INDICATORS])
    }

    /// An entry vector, as an offset from the image start (0 = none).
    pub fn vector(&self, which: Vector) -> u16 {
        let f = match which {
            Vector::Bcv => offsets::BCV,
            Vector::Dv => offsets::DV,
            Vector::Bev => offsets::BEV,
            Vector::StaticResources => offsets::STATIC_RESOURCES,
        };
        le16(self.buffer.as_ref(), f)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PnpHeader<T> {
    /// Makes the declared header bytes sum to 0. Returns `Err` when the
    /// declared length is 0 or runs past the buffer.
    pub fn fill_checksum(&mut self) -> Result<(), TooShort> {
        let len = self.header_len();
        let buf = self.buffer.as_mut();
        if len == 0 || len > buf.len() {
            return Err(TooShort {
                needed: len.max(HEADER_LEN),
                len: buf.len(),
            });
        }
        buf[offsets::CHECKSUM] = 0;
        buf[offsets::CHECKSUM] = field::fix_byte(field::sum8(&buf[..len]), 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The $PnP header of Debian's efi-virtio.rom (iPXE).
    const IPXE: [u8; 0x20] = [
        b'$', b'P', b'n', b'P', 0x01, 0x02, 0x00, 0x00, 0x00, 0x7d, 0, 0, 0, 0, 0x60, 0x00, //
        0x70, 0x00, 0x02, 0x00, 0x00, 0xf4, 0x00, 0x00, 0x00, 0x00, 0x85, 0x03, 0, 0, 0, 0,
    ];

    #[test]
    fn reads_ipxe_header() {
        let p = PnpHeader::new_checked(&IPXE[..]).unwrap();
        assert!(p.has_signature());
        assert_eq!(p.revision(), 1);
        assert_eq!(p.header_len(), 32);
        assert_eq!(p.next_offset(), 0);
        assert_eq!(p.sum(), Some(0));
        assert_eq!(p.device_id(), 0);
        assert_eq!(p.string_offset(StringField::Manufacturer), 0x60);
        assert_eq!(p.string_offset(StringField::Product), 0x70);
        assert_eq!(p.device_type().to_string(), "02/00/00");
        assert_eq!(
            p.indicators().to_string(),
            "0xf4 (DDIM, shadowable, read-cacheable, only-if-boot-device, IPL)"
        );
        assert_eq!(p.vector(Vector::Bcv), 0);
        assert_eq!(p.vector(Vector::Dv), 0);
        assert_eq!(p.vector(Vector::Bev), 0x385);
        assert_eq!(p.vector(Vector::StaticResources), 0);
    }

    #[test]
    fn fills_checksum() {
        let mut buf = IPXE;
        buf[9] = 0x55;
        buf[0x16] = 0x40; // add a BCV
        let mut p = PnpHeader::new_checked(&mut buf[..]).unwrap();
        assert_ne!(p.sum(), Some(0));
        p.fill_checksum().unwrap();
        assert_eq!(p.sum(), Some(0));
    }

    #[test]
    fn bad_lengths_have_no_sum() {
        let mut buf = IPXE;
        buf[5] = 0;
        assert_eq!(PnpHeader::new_checked(&buf[..]).unwrap().sum(), None);
        buf[5] = 3; // 48 bytes declared, 32 present
        let mut p = PnpHeader::new_checked(&mut buf[..]).unwrap();
        assert_eq!(p.sum(), None);
        assert!(p.fill_checksum().is_err());
        assert!(PnpHeader::new_checked(&IPXE[..31]).is_err());
    }

    #[test]
    fn indicator_names() {
        assert_eq!(Indicators(0).to_string(), "0x00");
        assert_eq!(Indicators(0x08).to_string(), "0x08");
        assert_eq!(Indicators(0x44).to_string(), "0x44 (shadowable, IPL)");
    }
}
