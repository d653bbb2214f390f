//! In-place fixes a build tool applies to a linked image: sizes, IDs,
//! header checksums, the product name and the config block.
//!
//! Order matters: every edit changes the byte sum, so the image checksum
//! (the image's last byte, which the linker reserves as zero) is always
//! written last, by [`finalize`] or [`fix_image_checksum`].

use core::fmt;

use crate::config::{self, ConfigBlock, ConfigError, ConfigRepr};
use crate::field::{fix_byte, get_cstr, sum8};
use crate::header::{RomHeader, BLOCK_LEN, MAX_LEGACY_LEN};
use crate::image::Images;
use crate::pcir::{ClassCode, PciId, Pcir};
use crate::pnp::{self, PnpHeader, StringField};

/// Why an image could not be patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchError {
    LengthNotBlocks {
        len: usize,
    },
    TooLarge {
        len: usize,
    },
    NoSignature,
    PcirUnusable {
        offset: usize,
    },
    PnpUnusable {
        offset: usize,
    },
    ChecksumSlotNotZero {
        offset: usize,
        value: u8,
    },
    NoProductString,
    ProductTooLong {
        len: usize,
        capacity: usize,
        offset: usize,
    },
    ProductNotText,
    NoConfigBlock,
    ConfigDuplicate {
        first: usize,
        second: usize,
    },
    ConfigOutsideImage {
        offset: usize,
    },
    Config(ConfigError),
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PatchError::*;
        match *self {
            LengthNotBlocks { len } => {
                write!(f, "image length {len} is not a non-zero multiple of {BLOCK_LEN}")
            }
            TooLarge { len } => write!(
                f,
                "image is {len} bytes; the size byte allows at most {MAX_LEGACY_LEN}"
            ),
            NoSignature => f.write_str("image does not start with 55 aa"),
            PcirUnusable { offset } => write!(
                f,
                "no usable PCIR structure at 0x{offset:04x} (pointer at 0x18)"
            ),
            PnpUnusable { offset } => write!(
                f,
                "$PnP header at 0x{offset:04x} is damaged or outside the image"
            ),
            ChecksumSlotNotZero { offset, value } => write!(
                f,
                "the last image byte (0x{offset:x}) is 0x{value:02x}, but it must be the zero byte the linker reserves for the checksum"
            ),
            NoProductString => f.write_str("the $PnP header has no product string to replace"),
            ProductTooLong { len, capacity, offset } => write!(
                f,
                "product name is {len} bytes but the placeholder at 0x{offset:04x} holds {capacity}; lengthen it in the ROM assembly"
            ),
            ProductNotText => f.write_str("product name must be printable ASCII"),
            NoConfigBlock => f.write_str("no srpboot config block ($SRPCFG) in the image"),
            ConfigDuplicate { first, second } => write!(
                f,
                "two config blocks (0x{first:x} and 0x{second:x}); refusing to guess"
            ),
            ConfigOutsideImage { offset } => write!(
                f,
                "config block at 0x{offset:x} is not inside an x86 image, clear of its checksum byte"
            ),
            Config(e) => write!(f, "{e}"),
        }
    }
}

impl From<ConfigError> for PatchError {
    fn from(e: ConfigError) -> Self {
        PatchError::Config(e)
    }
}

/// What the build writes into the PCIR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub id: PciId,
    /// `None` keeps the class code the assembly provides.
    pub class: Option<ClassCode>,
    /// `None` keeps the indicator the assembly provides.
    pub last_image: Option<bool>,
}

/// Checks `image` is a whole number of blocks a size byte can express.
fn check_length(image: &[u8]) -> Result<u8, PatchError> {
    let len = image.len();
    if len == 0 || !len.is_multiple_of(BLOCK_LEN) {
        return Err(PatchError::LengthNotBlocks { len });
    }
    u8::try_from(len / BLOCK_LEN).map_err(|_| PatchError::TooLarge { len })
}

/// Turns a freshly linked x86 image into a valid option ROM image: size
/// byte, PCIR IDs, class, image length and indicator, every `$PnP`
/// checksum, then the image checksum in the last byte. That byte must still
/// be the zero the linker reserved, so stray data there is not silently
/// overwritten. Idempotent on its own output only through [`fix_image_checksum`].
pub fn finalize(image: &mut [u8], identity: &Identity) -> Result<(), PatchError> {
    let blocks = check_length(image)?;
    let last = image.len() - 1;
    if image[last] != 0 {
        return Err(PatchError::ChecksumSlotNotZero {
            offset: last,
            value: image[last],
        });
    }
    let mut header = RomHeader::new_checked(&mut *image).map_err(|_| PatchError::NoSignature)?;
    if !header.has_signature() {
        return Err(PatchError::NoSignature);
    }
    header.set_init_blocks(blocks);
    let pcir_at = usize::from(header.pcir_offset());

    let mut pcir = pcir_mut(image, pcir_at)?;
    pcir.set_id(identity.id);
    if let Some(class) = identity.class {
        pcir.set_class(class);
    }
    pcir.set_image_blocks(u16::from(blocks));
    if let Some(last_image) = identity.last_image {
        pcir.set_last_image(last_image);
    }
    fix_pnp_checksums(image)?;
    fix_image_checksum(image)
}

fn pcir_mut(image: &mut [u8], at: usize) -> Result<Pcir<&mut [u8]>, PatchError> {
    let unusable = PatchError::PcirUnusable { offset: at };
    if at == 0 {
        return Err(unusable);
    }
    let pcir = Pcir::new_checked(image.get_mut(at..).ok_or(unusable)?).map_err(|_| unusable)?;
    if pcir.has_signature() {
        Ok(pcir)
    } else {
        Err(unusable)
    }
}

/// Offsets of the `$PnP` headers in the chain, checked to be patchable.
fn pnp_offsets(image: &[u8], out: &mut [usize; pnp::MAX_CHAIN]) -> Result<usize, PatchError> {
    let mut count = 0;
    let mut next = RomHeader::new_checked(image)
        .map_err(|_| PatchError::NoSignature)?
        .expansion_offset();
    while next != 0 {
        let offset = usize::from(next);
        let unusable = PatchError::PnpUnusable { offset };
        if count == pnp::MAX_CHAIN {
            return Err(unusable);
        }
        let header =
            PnpHeader::new_checked(image.get(offset..).ok_or(unusable)?).map_err(|_| unusable)?;
        if !header.has_signature() {
            return Err(unusable);
        }
        out[count] = offset;
        count += 1;
        next = header.next_offset();
    }
    Ok(count)
}

/// Recomputes the checksum of every `$PnP` header in the chain.
pub fn fix_pnp_checksums(image: &mut [u8]) -> Result<(), PatchError> {
    let mut offsets = [0usize; pnp::MAX_CHAIN];
    let count = pnp_offsets(image, &mut offsets)?;
    for &offset in &offsets[..count] {
        PnpHeader::new_unchecked(&mut image[offset..])
            .fill_checksum()
            .map_err(|_| PatchError::PnpUnusable { offset })?;
    }
    Ok(())
}

/// Makes `image` (exactly one x86 image) sum to 0 by rewriting its last byte.
pub fn fix_image_checksum(image: &mut [u8]) -> Result<(), PatchError> {
    check_length(image)?;
    let last = image.len() - 1;
    image[last] = fix_byte(sum8(image), image[last]);
    Ok(())
}

/// Replaces the `$PnP` product string in place. The new name may be at most
/// as long as the string the assembly provides: bytes after its NUL may be
/// other data, so they are never used. (So a second, longer rename of the
/// same image fails; the build renames a freshly linked image once.) Call
/// before [`finalize`].
pub fn set_product_name(image: &mut [u8], name: &str) -> Result<(), PatchError> {
    if !name.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(PatchError::ProductNotText);
    }
    let mut offsets = [0usize; pnp::MAX_CHAIN];
    let count = pnp_offsets(image, &mut offsets)?;
    if count == 0 {
        return Err(PatchError::NoProductString);
    }
    let pointer =
        PnpHeader::new_unchecked(&image[offsets[0]..]).string_offset(StringField::Product);
    let at = usize::from(pointer);
    let capacity = match get_cstr(image, at) {
        Some(old) if pointer != 0 => old.len(),
        _ => return Err(PatchError::NoProductString),
    };
    if name.len() > capacity {
        return Err(PatchError::ProductTooLong {
            len: name.len(),
            capacity,
            offset: at,
        });
    }
    let field = &mut image[at..at + capacity];
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
    Ok(())
}

/// Rewrites the one config block in `rom` (`None` = unconfigured) and fixes
/// the checksum of the x86 image holding it. Returns the block's offset.
pub fn write_config(rom: &mut [u8], repr: Option<&ConfigRepr<'_>>) -> Result<usize, PatchError> {
    let (first, second) = {
        let mut found = config::find_blocks(rom);
        (found.next(), found.next())
    };
    let offset = first.ok_or(PatchError::NoConfigBlock)?;
    if let Some(second) = second {
        return Err(PatchError::ConfigDuplicate {
            first: offset,
            second,
        });
    }
    let image = Images::new(rom)
        .find(|img| img.offset <= offset && offset < img.offset + img.bytes.len())
        .filter(|img| img.is_x86() && img.bytes.len() == img.extent)
        .map(|img| img.offset..img.offset + img.extent)
        .ok_or(PatchError::ConfigOutsideImage { offset })?;
    // The block must end before the image's checksum byte.
    if offset + config::BLOCK_LEN >= image.end {
        return Err(PatchError::ConfigOutsideImage { offset });
    }
    ConfigBlock::new_checked(&rom[offset..])?;
    match repr {
        Some(repr) => repr.emit(&mut rom[offset..])?,
        None => config::emit_unconfigured(&mut rom[offset..])?,
    }
    fix_image_checksum(&mut rom[image])?;
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Lun;
    use crate::testrom;
    use crate::verify::verify_to_vec;
    use core::net::Ipv4Addr;

    const VIRTIO: PciId = PciId {
        vendor: 0x1af4,
        device: 0x1000,
    };

    /// A testrom image as the linker leaves it: sizes, checksums zeroed.
    fn linked(blocks: u8) -> Vec<u8> {
        let mut rom = testrom::build(blocks, 0x80);
        rom[2] = 0;
        rom[testrom::PCIR_OFFSET + 0x10] = 0;
        rom[testrom::PNP_OFFSET + 9] = 0;
        rom[testrom::PCIR_OFFSET + 4..testrom::PCIR_OFFSET + 8].fill(0);
        let last = rom.len() - 1;
        rom[last] = 0;
        rom
    }

    fn identity() -> Identity {
        Identity {
            id: VIRTIO,
            class: None,
            last_image: None,
        }
    }

    #[test]
    fn finalize_produces_a_valid_image() {
        let mut rom = linked(3);
        finalize(&mut rom, &identity()).unwrap();
        assert_eq!(verify_to_vec(&rom, Some(VIRTIO)), []);
        assert_eq!(rom, testrom::build(3, 0x80));
    }

    #[test]
    fn finalize_sets_class_and_indicator() {
        let mut rom = linked(1);
        let id = Identity {
            id: PciId {
                vendor: 0x8086,
                device: 0x100e,
            },
            class: ClassCode::parse_hex("010000"),
            last_image: Some(false),
        };
        finalize(&mut rom, &id).unwrap();
        let p = Pcir::new_checked(&rom[testrom::PCIR_OFFSET..]).unwrap();
        assert_eq!(
            (p.id(), p.class().base, p.is_last_image()),
            (id.id, 1, false)
        );
        assert_eq!(sum8(&rom), 0);
    }

    #[test]
    fn finalize_rejects_bad_inputs() {
        let mut rom = linked(1);
        assert_eq!(
            finalize(&mut rom[..500], &identity()),
            Err(PatchError::LengthNotBlocks { len: 500 })
        );
        assert_eq!(
            finalize(&mut [], &identity()),
            Err(PatchError::LengthNotBlocks { len: 0 })
        );
        let mut huge = vec![0u8; 256 * 512];
        assert_eq!(
            finalize(&mut huge, &identity()),
            Err(PatchError::TooLarge { len: 256 * 512 })
        );
        rom[511] = 7;
        assert_eq!(
            finalize(&mut rom, &identity()),
            Err(PatchError::ChecksumSlotNotZero {
                offset: 511,
                value: 7
            })
        );
        let mut rom = linked(1);
        rom[0] = 0;
        assert_eq!(
            finalize(&mut rom, &identity()),
            Err(PatchError::NoSignature)
        );
        let mut rom = linked(1);
        rom[0x18] = 0;
        assert_eq!(
            finalize(&mut rom, &identity()),
            Err(PatchError::PcirUnusable { offset: 0 })
        );
        let mut rom = linked(1);
        rom[0x1a..0x1c].copy_from_slice(&[0xf0, 0x01]);
        assert_eq!(
            finalize(&mut rom, &identity()),
            Err(PatchError::PnpUnusable { offset: 0x1f0 })
        );
    }

    #[test]
    fn product_name_fits_the_placeholder() {
        let mut rom = linked(1);
        set_product_name(&mut rom, "short").unwrap();
        assert_eq!(&rom[0x90..0x99], b"short\0\0\0\0");
        let mut rom = linked(1);
        set_product_name(&mut rom, "8 chars!").unwrap();
        assert_eq!(&rom[0x90..0x99], b"8 chars!\0");
        assert_eq!(
            set_product_name(&mut rom, "nine char"),
            Err(PatchError::ProductTooLong {
                len: 9,
                capacity: 8,
                offset: 0x90
            })
        );
        assert_eq!(
            set_product_name(&mut rom, "tab\t"),
            Err(PatchError::ProductNotText)
        );
        finalize(&mut rom, &identity()).unwrap();
        assert_eq!(verify_to_vec(&rom, None), []);
    }

    #[test]
    fn config_rewrite_keeps_the_image_valid() {
        let mut rom = testrom::build(2, 0x80);
        let repr = ConfigRepr {
            local_ip: Ipv4Addr::new(192, 168, 7, 2),
            prefix_len: 24,
            gateway: None,
            target_ip: Ipv4Addr::new(192, 168, 7, 1),
            target_port: 5000,
            lun: Lun::default(),
            target_guid: None,
            uri: "srp://192.168.7.1",
        };
        assert_eq!(
            write_config(&mut rom, Some(&repr)),
            Ok(testrom::CONFIG_OFFSET)
        );
        assert_eq!(verify_to_vec(&rom, None), []);
        let block = &rom[testrom::CONFIG_OFFSET..];
        assert_eq!(ConfigRepr::parse(&block[..256]), Ok(Some(repr)));
        // A corrupt block (and so a wrong image sum) is repaired too.
        rom[testrom::CONFIG_OFFSET + 0x20] = 5;
        assert_eq!(write_config(&mut rom, None), Ok(testrom::CONFIG_OFFSET));
        assert_eq!(verify_to_vec(&rom, None), []);
        assert_eq!(rom, testrom::build(2, 0x80));
    }

    #[test]
    fn config_rewrite_needs_exactly_one_block() {
        let mut rom = testrom::build(2, 0x80);
        rom[0xc0] = 0;
        assert_eq!(write_config(&mut rom, None), Err(PatchError::NoConfigBlock));
        let mut rom = testrom::build(2, 0x80);
        rom[0x200..0x300].copy_from_slice(&config::EMPTY_CONFIG_BLOCK);
        assert_eq!(
            write_config(&mut rom, None),
            Err(PatchError::ConfigDuplicate {
                first: 0xc0,
                second: 0x200
            })
        );
        let mut rom = testrom::build(2, 0x80);
        rom.copy_within(0xc0..0x1c0, 0x300);
        rom[0xc0] = 0;
        assert_eq!(
            write_config(&mut rom, None),
            Err(PatchError::ConfigOutsideImage { offset: 0x300 })
        );
    }
}
