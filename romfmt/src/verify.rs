//! Whole-ROM verification: every problem found, not just the first.
//!
//! The rules follow what a BIOS relies on (PCI Firmware 3.0 section 5,
//! PnP BIOS 1.0A section 3, SeaBIOS's optionroms.c): signatures, sizes that
//! agree with each other and with the data, pointers that land inside the
//! image on the required alignment, header and image checksums, plus the
//! srpboot config block. Findings are reported through a callback so the
//! ROM-side code needs no allocator.

use core::fmt;

use crate::config::{self, ConfigBlock, ConfigError};
use crate::efi;
use crate::field::{get_cstr, sum8, Printable};
use crate::header::HEADER_LEN;
use crate::image::{ExtentFrom, Image, Images, PnpLink};
use crate::pack::{self, PackError};
use crate::pcir::{self, DeviceList, PciId};
use crate::pnp::{self, StringField, Vector};

/// Which image a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageAt {
    pub index: usize,
    pub offset: usize,
}

/// One problem, with the image it was found in (`None` for whole-ROM ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub image: Option<ImageAt>,
    pub problem: Problem,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.image {
            Some(at) => write!(
                f,
                "image {} at 0x{:x}: {}",
                at.index, at.offset, self.problem
            ),
            None => write!(f, "{}", self.problem),
        }
    }
}

/// Everything `verify` can object to. Offsets and pointers are relative to
/// the image start unless the text says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Empty,
    HeaderTruncated {
        len: usize,
    },
    BadSignature {
        found: [u8; 2],
    },
    SizeByteZero,
    InitBeyondData {
        init_len: usize,
        available: usize,
    },
    EntryOutOfRange {
        target: u16,
        limit: usize,
    },
    PcirMissing,
    PcirMisaligned {
        offset: usize,
    },
    PcirOutOfRange {
        offset: usize,
        limit: usize,
    },
    PcirBadSignature {
        found: [u8; 4],
    },
    PcirBadLength {
        length: u16,
        revision: u8,
        expected: usize,
    },
    ImageLengthZero,
    ImageBeyondData {
        image_len: usize,
        available: usize,
    },
    InitExceedsImage {
        init_len: usize,
        image_len: usize,
    },
    DeviceListUnterminated {
        offset: usize,
    },
    EfiBadSignature {
        found: u32,
    },
    PnpMisaligned {
        offset: usize,
    },
    PnpOutOfRange {
        offset: usize,
        limit: usize,
    },
    PnpBadSignature {
        offset: usize,
        found: [u8; 4],
    },
    PnpBadRevision {
        offset: usize,
        revision: u8,
    },
    PnpBadLength {
        offset: usize,
        units: u8,
    },
    PnpBadChecksum {
        offset: usize,
        sum: u8,
    },
    PnpChainTooLong,
    PnpStringOutOfRange {
        which: StringField,
        pointer: u16,
        limit: usize,
    },
    PnpVectorOutOfRange {
        which: Vector,
        pointer: u16,
        limit: usize,
    },
    BadChecksum {
        sum: u8,
    },
    LastImageMissing,
    TrailingData {
        offset: usize,
        len: usize,
    },
    NoX86Image,
    IdMismatch {
        expected: PciId,
        found: Option<PciId>,
    },
    ConfigCorrupt {
        offset: usize,
        error: ConfigError,
    },
    ConfigDuplicate {
        first: usize,
        second: usize,
    },
    /// The packed-body descriptor at `offset` (in the image) or its stream.
    PackCorrupt {
        offset: usize,
        error: PackError,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Problem::*;
        match *self {
            Empty => f.write_str("file is empty"),
            HeaderTruncated { len } => {
                write!(f, "only {len} bytes, too short for a ROM header ({HEADER_LEN} bytes)")
            }
            BadSignature { found } => write!(
                f,
                "signature is {:02x} {:02x}, expected 55 aa",
                found[0], found[1]
            ),
            SizeByteZero => f.write_str("size byte (offset 2) is 0"),
            InitBeyondData { init_len, available } => write!(
                f,
                "truncated: size byte declares {init_len} bytes but only {available} are present"
            ),
            EntryOutOfRange { target, limit } => write!(
                f,
                "init entry (offset 3) jumps to 0x{target:04x}, outside the {limit}-byte image"
            ),
            PcirMissing => f.write_str("no PCI data structure: the PCIR pointer at 0x18 is 0"),
            PcirMisaligned { offset } => {
                write!(f, "PCIR pointer 0x{offset:04x} is not {}-byte aligned", pcir::ALIGN)
            }
            PcirOutOfRange { offset, limit } => write!(
                f,
                "PCIR pointer 0x{offset:04x} leaves no room for the structure in the {limit}-byte image"
            ),
            PcirBadSignature { found } => {
                write!(f, "PCIR signature is {}, expected \"PCIR\"", Printable(&found))
            }
            PcirBadLength { length, revision, expected } => write!(
                f,
                "PCIR length is 0x{length:02x}, expected 0x{expected:02x} for revision {revision}"
            ),
            ImageLengthZero => f.write_str("PCIR image length (PCIR+0x10) is 0"),
            ImageBeyondData { image_len, available } => write!(
                f,
                "truncated: PCIR image length is {image_len} bytes but only {available} are present"
            ),
            InitExceedsImage { init_len, image_len } => write!(
                f,
                "size byte declares {init_len} bytes, more than the PCIR image length of {image_len}"
            ),
            DeviceListUnterminated { offset } => write!(
                f,
                "PCIR device list at 0x{offset:04x} runs off the image without a 0 terminator"
            ),
            EfiBadSignature { found } => write!(
                f,
                "EFI signature (offset 4) is 0x{found:08x}, expected 0x{:08x}",
                efi::EFI_SIGNATURE
            ),
            PnpMisaligned { offset } => write!(
                f,
                "$PnP header at 0x{offset:04x} is not {}-byte aligned",
                pnp::ALIGN
            ),
            PnpOutOfRange { offset, limit } => write!(
                f,
                "expansion header pointer 0x{offset:04x} leaves no room for a header in the {limit}-byte image"
            ),
            PnpBadSignature { offset, found } => write!(
                f,
                "expansion header at 0x{offset:04x} has signature {}, expected \"$PnP\"",
                Printable(&found)
            ),
            PnpBadRevision { offset, revision } => write!(
                f,
                "$PnP header at 0x{offset:04x} has revision {revision}, expected {}",
                pnp::REVISION
            ),
            PnpBadLength { offset, units } => write!(
                f,
                "$PnP header at 0x{offset:04x} declares {units} x 16 bytes (needs at least 2, inside the image)"
            ),
            PnpBadChecksum { offset, sum } => write!(
                f,
                "$PnP header at 0x{offset:04x} checksum is wrong: bytes sum to 0x{sum:02x}, not 0"
            ),
            PnpChainTooLong => write!(
                f,
                "expansion header chain is longer than {} headers (a loop?)",
                pnp::MAX_CHAIN
            ),
            PnpStringOutOfRange { which, pointer, limit } => write!(
                f,
                "$PnP {which} string pointer 0x{pointer:04x} is outside the {limit}-byte image or unterminated"
            ),
            PnpVectorOutOfRange { which, pointer, limit } => write!(
                f,
                "$PnP {which} 0x{pointer:04x} is outside the {limit}-byte image"
            ),
            BadChecksum { sum } => {
                write!(f, "image checksum is wrong: bytes sum to 0x{sum:02x}, not 0")
            }
            LastImageMissing => f.write_str(
                "the final image does not set the last-image bit (PCIR indicator 0x80)"
            ),
            TrailingData { offset, len } => {
                write!(f, "{len} bytes of data after the last image (from 0x{offset:x})")
            }
            NoX86Image => f.write_str("no x86 BIOS image (PCIR code type 0)"),
            IdMismatch { expected, found: Some(found) } => {
                write!(f, "PCIR vendor:device is {found}, expected {expected}")
            }
            IdMismatch { expected, found: None } => {
                write!(f, "no x86 image with a PCIR to match {expected}")
            }
            ConfigCorrupt { offset, error } => write!(f, "{error} (block at 0x{offset:x})"),
            ConfigDuplicate { first, second } => write!(
                f,
                "second config block at 0x{second:x} (first at 0x{first:x}); the ROM must hold one"
            ),
            PackCorrupt { offset, error } => write!(f, "{error} (descriptor at 0x{offset:x})"),
        }
    }
}

/// Checks a whole ROM, calling `report` once per problem. Returns the
/// number of problems; 0 means the ROM is valid. With `expect`, some x86
/// image must carry that PCIR vendor:device (SeaBIOS matches only these, not
/// the PCI 3.0 device list). Never panics, whatever `rom` holds.
pub fn verify(rom: &[u8], expect: Option<PciId>, report: &mut dyn FnMut(Finding)) -> usize {
    let mut count = 0;
    let mut emit = |image: Option<ImageAt>, problem: Problem| {
        count += 1;
        report(Finding { image, problem });
    };
    if rom.is_empty() {
        emit(None, Problem::Empty);
        return count;
    }

    let mut final_image = None;
    let (mut any_x86, mut first_id, mut matched) = (false, None, false);
    for image in Images::new(rom) {
        let at = ImageAt {
            index: image.index,
            offset: image.offset,
        };
        check_image(&image, &rom[image.offset..], &mut |p| emit(Some(at), p));
        if image.is_x86() && image.header().is_some_and(|h| h.has_signature()) {
            any_x86 = true;
            if let Some((_, p)) = image.pcir().filter(|(_, p)| p.has_signature()) {
                first_id.get_or_insert(p.id());
                matched |= Some(p.id()) == expect;
            }
        }
        final_image = Some((
            image.offset.saturating_add(image.extent),
            image.extent_from,
            image.last,
        ));
    }

    if let Some((end, from, last)) = final_image {
        if from == ExtentFrom::PcirImageLength && !last && end == rom.len() {
            emit(None, Problem::LastImageMissing);
        }
        // An image of unknown length was given all the data, so nothing trails it.
        if from != ExtentFrom::RestOfData && last && end < rom.len() {
            emit(
                None,
                Problem::TrailingData {
                    offset: end,
                    len: rom.len() - end,
                },
            );
        }
    }
    if !any_x86 {
        emit(None, Problem::NoX86Image);
    }
    if let Some(expected) = expect {
        if any_x86 && !matched {
            emit(
                None,
                Problem::IdMismatch {
                    expected,
                    found: first_id,
                },
            );
        }
    }
    check_config(rom, &mut |p| emit(None, p));
    count
}

/// Verifies into a vector.
#[cfg(any(test, feature = "std"))]
pub fn verify_to_vec(rom: &[u8], expect: Option<PciId>) -> std::vec::Vec<Finding> {
    let mut found = std::vec::Vec::new();
    verify(rom, expect, &mut |f| found.push(f));
    found
}

/// Checks one image. `rest` runs from the image start to the end of data.
fn check_image(image: &Image<'_>, rest: &[u8], emit: &mut dyn FnMut(Problem)) {
    let Some(header) = image.header() else {
        emit(Problem::HeaderTruncated {
            len: image.bytes.len(),
        });
        return;
    };
    if !header.has_signature() {
        // Nothing else in a block without the signature means anything.
        emit(Problem::BadSignature {
            found: header.signature(),
        });
        return;
    }
    let init_len = image.init_len().unwrap_or(0);
    check_pcir(image, rest.len(), init_len, emit);

    if init_len == 0 {
        emit(Problem::SizeByteZero);
    } else if init_len > rest.len() && image.extent_from != ExtentFrom::PcirImageLength {
        // With a usable PCIR, truncation shows as ImageBeyondData or
        // InitExceedsImage instead; one line per cause.
        emit(Problem::InitBeyondData {
            init_len,
            available: rest.len(),
        });
    }

    if let Some(efi) = image.efi_header() {
        if efi.efi_signature() != efi::EFI_SIGNATURE {
            emit(Problem::EfiBadSignature {
                found: efi.efi_signature(),
            });
        }
        // EFI images carry no PnP header and no checksum requirement.
        return;
    }
    if !image.is_x86() {
        return;
    }

    // What the BIOS copies to shadow RAM; every entry point must be inside.
    let limit = if init_len == 0 {
        rest.len()
    } else {
        init_len.min(rest.len())
    };
    if let Some(target) = header.entry().target() {
        if usize::from(target) >= limit {
            emit(Problem::EntryOutOfRange { target, limit });
        }
    }
    check_pnp_chain(image, &rest[..limit], emit);
    // A packed body (srpboot's SRPZ descriptor) must unpack exactly within
    // what the BIOS copies.
    if let Some((offset, desc)) = pack::descriptor(&rest[..limit]) {
        if let Err(error) = desc.and_then(|d| d.check(&rest[..limit])) {
            emit(Problem::PackCorrupt { offset, error });
        }
    }
    if init_len > 0 && init_len <= rest.len() {
        let sum = sum8(&rest[..init_len]);
        if sum != 0 {
            emit(Problem::BadChecksum { sum });
        }
    }
}

/// PCIR checks.
fn check_pcir(image: &Image<'_>, available: usize, init_len: usize, emit: &mut dyn FnMut(Problem)) {
    let Some(header) = image.header() else { return };
    let offset = usize::from(header.pcir_offset());
    if offset == 0 {
        emit(Problem::PcirMissing);
        return;
    }
    if !offset.is_multiple_of(pcir::ALIGN) {
        emit(Problem::PcirMisaligned { offset });
    }
    let Some((_, p)) = image.pcir() else {
        emit(Problem::PcirOutOfRange {
            offset,
            limit: image.bytes.len(),
        });
        return;
    };
    if !p.has_signature() {
        emit(Problem::PcirBadSignature {
            found: p.signature(),
        });
        return;
    }
    let expected = p.expected_length();
    if usize::from(p.length()) != expected {
        emit(Problem::PcirBadLength {
            length: p.length(),
            revision: p.revision(),
            expected,
        });
    } else if offset + expected > image.bytes.len() {
        emit(Problem::PcirOutOfRange {
            offset,
            limit: image.bytes.len(),
        });
    }
    let image_len = p.image_len();
    if image_len == 0 {
        emit(Problem::ImageLengthZero);
    } else if image_len > available {
        emit(Problem::ImageBeyondData {
            image_len,
            available,
        });
    }
    if image_len > 0 && init_len > image_len {
        emit(Problem::InitExceedsImage {
            init_len,
            image_len,
        });
    }
    if p.revision() >= 3 && p.device_list_offset() != 0 {
        let mut list = DeviceList::new(image.bytes, offset, p.device_list_offset());
        list.by_ref().take(image.bytes.len()).for_each(drop);
        if list.unterminated() {
            emit(Problem::DeviceListUnterminated {
                offset: offset + usize::from(p.device_list_offset()),
            });
        }
    }
}

/// $PnP chain checks; `shadowed` is the part of the image the BIOS copies.
fn check_pnp_chain(image: &Image<'_>, shadowed: &[u8], emit: &mut dyn FnMut(Problem)) {
    let limit = shadowed.len();
    for link in image.pnp_chain() {
        let (offset, header) = match link {
            PnpLink::Header { offset, header } => (offset, header),
            PnpLink::OutOfRange { offset } => {
                emit(Problem::PnpOutOfRange { offset, limit });
                continue;
            }
            PnpLink::TooLong => {
                emit(Problem::PnpChainTooLong);
                continue;
            }
        };
        if !header.has_signature() {
            emit(Problem::PnpBadSignature {
                offset,
                found: header.signature(),
            });
            continue;
        }
        if !offset.is_multiple_of(pnp::ALIGN) {
            emit(Problem::PnpMisaligned { offset });
        }
        if offset + pnp::HEADER_LEN > limit {
            emit(Problem::PnpOutOfRange { offset, limit });
            continue;
        }
        if header.revision() != pnp::REVISION {
            emit(Problem::PnpBadRevision {
                offset,
                revision: header.revision(),
            });
        }
        let units = header.length_units();
        if header.header_len() < pnp::HEADER_LEN || offset + header.header_len() > limit {
            emit(Problem::PnpBadLength { offset, units });
        } else if let Some(sum) = header.sum().filter(|&s| s != 0) {
            emit(Problem::PnpBadChecksum { offset, sum });
        }
        for which in [StringField::Manufacturer, StringField::Product] {
            let pointer = header.string_offset(which);
            if pointer != 0 && get_cstr(shadowed, usize::from(pointer)).is_none() {
                emit(Problem::PnpStringOutOfRange {
                    which,
                    pointer,
                    limit,
                });
            }
        }
        for which in [
            Vector::Bcv,
            Vector::Dv,
            Vector::Bev,
            Vector::StaticResources,
        ] {
            let pointer = header.vector(which);
            if pointer != 0 && usize::from(pointer) >= limit {
                emit(Problem::PnpVectorOutOfRange {
                    which,
                    pointer,
                    limit,
                });
            }
        }
    }
}

fn check_config(rom: &[u8], emit: &mut dyn FnMut(Problem)) {
    let mut first = None;
    for offset in config::find_blocks(rom) {
        match first {
            None => {
                first = Some(offset);
                let block = ConfigBlock::new_unchecked(&rom[offset..]);
                if let Err(error) = block.check() {
                    emit(Problem::ConfigCorrupt { offset, error });
                }
            }
            Some(first) => emit(Problem::ConfigDuplicate {
                first,
                second: offset,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EMPTY_CONFIG_BLOCK;
    use crate::testrom::{self, CONFIG_OFFSET, PCIR_OFFSET, PNP_OFFSET};

    const VIRTIO: PciId = PciId {
        vendor: 0x1af4,
        device: 0x1000,
    };

    fn problems(rom: &[u8], expect: Option<PciId>) -> Vec<Problem> {
        verify_to_vec(rom, expect)
            .into_iter()
            .map(|f| f.problem)
            .collect()
    }

    /// A one-image ROM after `damage`, with the $PnP and image checksums
    /// fixed again so only the intended problem remains.
    fn damaged(blocks: u8, damage: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut rom = testrom::build(blocks, 0x80);
        damage(&mut rom);
        let pnp = &mut rom[PNP_OFFSET..PNP_OFFSET + 0x20];
        pnp[9] = 0;
        pnp[9] = crate::field::fix_byte(sum8(pnp), 0);
        testrom::fix_checksum(&mut rom);
        rom
    }

    fn set16(rom: &mut [u8], at: usize, value: u16) {
        rom[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }

    #[test]
    fn valid_images_have_no_findings() {
        assert_eq!(problems(&testrom::build(1, 0x80), Some(VIRTIO)), []);
        assert_eq!(problems(&testrom::build(255, 0x80), None), []);
        let mut multi = testrom::build(2, 0x00);
        multi.extend(testrom::build_efi(3, 0x80));
        assert_eq!(problems(&multi, Some(VIRTIO)), []);
    }

    #[test]
    fn findings_name_their_image() {
        let mut multi = testrom::build(1, 0x00);
        let mut efi = testrom::build_efi(1, 0x80);
        efi[4] = 0;
        multi.extend(efi);
        let found = verify_to_vec(&multi, None);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].image,
            Some(ImageAt {
                index: 1,
                offset: 512
            })
        );
        assert_eq!(
            found[0].to_string(),
            "image 1 at 0x200: EFI signature (offset 4) is 0x00000e00, expected 0x00000ef1"
        );
    }

    #[test]
    fn reports_every_problem_not_just_the_first() {
        let mut rom = testrom::build(1, 0x80);
        rom[PCIR_OFFSET] = b'X';
        rom[PNP_OFFSET + 9] ^= 0xff;
        rom[CONFIG_OFFSET + 8] = 9;
        let found = problems(&rom, None);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(matches!(found[0], Problem::PcirBadSignature { .. }));
        assert!(matches!(found[1], Problem::PnpBadChecksum { .. }));
        assert!(matches!(found[2], Problem::BadChecksum { .. }));
        assert!(matches!(found[3], Problem::ConfigCorrupt { .. }));
    }

    #[test]
    fn rejects_empty_short_and_unsigned_data() {
        use Problem::*;
        assert_eq!(problems(&[], None), [Empty]);
        assert_eq!(
            problems(&testrom::build(1, 0x80)[..20], None),
            [HeaderTruncated { len: 20 }, NoX86Image]
        );
        let rom = damaged(1, |r| r[0] = 0x54);
        assert_eq!(
            problems(&rom, None),
            [
                BadSignature {
                    found: [0x54, 0xaa]
                },
                NoX86Image
            ]
        );
    }

    #[test]
    fn rejects_size_byte_problems() {
        use Problem::*;
        assert_eq!(problems(&damaged(2, |r| r[2] = 0), None), [SizeByteZero]);
        assert_eq!(
            problems(&damaged(2, |r| r[2] = 3), None),
            [InitExceedsImage {
                init_len: 1536,
                image_len: 1024
            }]
        );
        // Truncation, with and without a PCIR to measure by.
        let rom = testrom::build(4, 0x80);
        assert_eq!(
            problems(&rom[..1024], None),
            [ImageBeyondData {
                image_len: 2048,
                available: 1024
            }]
        );
        let mut isa = damaged(4, |r| r[0x18] = 0);
        isa.truncate(1024);
        assert_eq!(
            problems(&isa, None),
            [
                PcirMissing,
                InitBeyondData {
                    init_len: 2048,
                    available: 1024
                }
            ]
        );
    }

    #[test]
    fn rejects_pcir_problems() {
        use Problem::*;
        assert_eq!(problems(&damaged(1, |r| r[0x18] = 0), None), [PcirMissing]);
        let moved = damaged(1, |r| {
            r.copy_within(PCIR_OFFSET..PCIR_OFFSET + 0x18, 0x1c2);
            set16(r, 0x18, 0x1c2);
        });
        assert_eq!(problems(&moved, None), [PcirMisaligned { offset: 0x1c2 }]);
        assert_eq!(
            problems(&damaged(1, |r| set16(r, 0x18, 0x1f0)), None),
            [PcirOutOfRange {
                offset: 0x1f0,
                limit: 512
            }]
        );
        assert_eq!(
            problems(&damaged(1, |r| r[PCIR_OFFSET + 3] = b'X'), None),
            [PcirBadSignature { found: *b"PCIX" }]
        );
        assert_eq!(
            problems(&damaged(1, |r| r[PCIR_OFFSET + 0x0a] = 0x1c), None),
            [PcirBadLength {
                length: 0x1c,
                revision: 0,
                expected: 0x18
            }]
        );
        assert_eq!(
            problems(&damaged(1, |r| r[PCIR_OFFSET + 0x10] = 0), None),
            [ImageLengthZero]
        );
        let list = damaged(1, |r| {
            r[PCIR_OFFSET + 0x0a] = 0x1c;
            r[PCIR_OFFSET + 0x0c] = 3;
            set16(r, PCIR_OFFSET + 8, (0x1c0 - PCIR_OFFSET) as u16);
            r[0x1c0..].fill(0x11);
        });
        assert_eq!(
            problems(&list, None),
            [DeviceListUnterminated { offset: 0x1c0 }]
        );
    }

    #[test]
    fn rejects_entry_outside_the_image() {
        let rom = damaged(1, |r| set16(r, 4, 0x0300));
        assert_eq!(
            problems(&rom, None),
            [Problem::EntryOutOfRange {
                target: 0x306,
                limit: 512
            }]
        );
    }

    #[test]
    fn rejects_pnp_problems() {
        use Problem::*;
        let moved = damaged(1, |r| {
            r.copy_within(PNP_OFFSET..PNP_OFFSET + 0x20, 0x1c8);
            set16(r, 0x1a, 0x1c8);
        });
        assert_eq!(problems(&moved, None), [PnpMisaligned { offset: 0x1c8 }]);
        assert_eq!(
            problems(&damaged(1, |r| set16(r, 0x1a, 0x1f0)), None),
            [PnpOutOfRange {
                offset: 0x1f0,
                limit: 512
            }]
        );
        assert_eq!(
            problems(&damaged(1, |r| r[PNP_OFFSET + 1] = b'p'), None),
            [PnpBadSignature {
                offset: PNP_OFFSET,
                found: *b"$pnP"
            }]
        );
        assert_eq!(
            problems(&damaged(1, |r| r[PNP_OFFSET + 4] = 2), None),
            [PnpBadRevision {
                offset: PNP_OFFSET,
                revision: 2
            }]
        );
        for units in [0u8, 1, 40] {
            assert_eq!(
                problems(&damaged(1, |r| r[PNP_OFFSET + 5] = units), None),
                [PnpBadLength {
                    offset: PNP_OFFSET,
                    units
                }]
            );
        }
        let mut rom = testrom::build(1, 0x80);
        rom[PNP_OFFSET + 9] = rom[PNP_OFFSET + 9].wrapping_add(3);
        testrom::fix_checksum(&mut rom);
        assert_eq!(
            problems(&rom, None),
            [PnpBadChecksum {
                offset: PNP_OFFSET,
                sum: 3
            }]
        );
        let looped = damaged(1, |r| set16(r, PNP_OFFSET + 6, PNP_OFFSET as u16));
        assert_eq!(problems(&looped, None), [PnpChainTooLong]);
    }

    #[test]
    fn rejects_pnp_pointers_outside_the_image() {
        use Problem::*;
        assert_eq!(
            problems(&damaged(1, |r| set16(r, PNP_OFFSET + 0x10, 0x7fff)), None),
            [PnpStringOutOfRange {
                which: StringField::Product,
                pointer: 0x7fff,
                limit: 512
            }]
        );
        // A string that runs to the end of the image without a NUL: the
        // checksum byte is the last chance of a terminator, so make it 'a'
        // too by balancing the sum in a free byte.
        let mut open = damaged(1, |r| {
            set16(r, PNP_OFFSET + 0x0e, 0x1f0);
            r[0x1f0..0x1ff].fill(b'a');
        });
        open[0x1c0] = open[0x1c0].wrapping_add(open[0x1ff]).wrapping_sub(b'a');
        open[0x1ff] = b'a';
        assert_eq!(
            problems(&open, None),
            [PnpStringOutOfRange {
                which: StringField::Manufacturer,
                pointer: 0x1f0,
                limit: 512
            }]
        );
        assert_eq!(
            problems(&damaged(1, |r| set16(r, PNP_OFFSET + 0x16, 0x200)), None),
            [PnpVectorOutOfRange {
                which: Vector::Bcv,
                pointer: 0x200,
                limit: 512
            }]
        );
        assert_eq!(
            problems(&damaged(1, |r| set16(r, PNP_OFFSET + 0x1a, 0xffff)), None),
            [PnpVectorOutOfRange {
                which: Vector::Bev,
                pointer: 0xffff,
                limit: 512
            }]
        );
        // A BCV past the size byte but inside the PCIR image length is
        // still outside what the BIOS shadows.
        let rom = damaged(2, |r| {
            r[2] = 1;
            set16(r, PNP_OFFSET + 0x16, 0x300);
        });
        let found = problems(&rom, None);
        assert!(found.contains(&PnpVectorOutOfRange {
            which: Vector::Bcv,
            pointer: 0x300,
            limit: 512
        }));
    }

    #[test]
    fn rejects_bad_image_checksums() {
        // Outside every structure: only the image checksum notices.
        let mut rom = testrom::build(1, 0x80);
        rom[0x1d0] = 0x10;
        assert_eq!(problems(&rom, None), [Problem::BadChecksum { sum: 0x10 }]);
        let mut rom = testrom::build(1, 0x80);
        rom[511] ^= 0x01;
        assert_eq!(problems(&rom, None), [Problem::BadChecksum { sum: 0x01 }]);
    }

    #[test]
    fn rejects_chaining_problems() {
        use Problem::*;
        assert_eq!(problems(&testrom::build(1, 0x00), None), [LastImageMissing]);
        let mut rom = testrom::build(1, 0x80);
        rom.extend([0xffu8; 100]);
        assert_eq!(
            problems(&rom, None),
            [TrailingData {
                offset: 512,
                len: 100
            }]
        );
        // A non-last image followed by something that is not an image.
        let mut rom = testrom::build(1, 0x00);
        rom.extend([0u8; 512]);
        let found = verify_to_vec(&rom, None);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].image,
            Some(ImageAt {
                index: 1,
                offset: 512
            })
        );
        assert_eq!(found[0].problem, BadSignature { found: [0, 0] });
        assert_eq!(problems(&testrom::build_efi(2, 0x80), None), [NoX86Image]);
    }

    #[test]
    fn checks_the_expected_id() {
        let rom = testrom::build(1, 0x80);
        let e1000 = PciId {
            vendor: 0x8086,
            device: 0x100e,
        };
        assert_eq!(problems(&rom, Some(VIRTIO)), []);
        assert_eq!(
            problems(&rom, Some(e1000)),
            [Problem::IdMismatch {
                expected: e1000,
                found: Some(VIRTIO)
            }]
        );
        let isa = damaged(1, |r| r[0x18] = 0);
        assert_eq!(
            problems(&isa, Some(e1000)),
            [
                Problem::PcirMissing,
                Problem::IdMismatch {
                    expected: e1000,
                    found: None
                }
            ]
        );
    }

    #[test]
    fn checks_the_config_block() {
        let rom = damaged(1, |r| r[CONFIG_OFFSET + 8] = 2);
        assert_eq!(
            problems(&rom, None),
            [Problem::ConfigCorrupt {
                offset: CONFIG_OFFSET,
                error: ConfigError::BadVersion(2)
            }]
        );
        let mut rom = testrom::build(2, 0x80);
        rom[0x200..0x300].copy_from_slice(&EMPTY_CONFIG_BLOCK);
        testrom::fix_checksum(&mut rom);
        assert_eq!(
            problems(&rom, None),
            [Problem::ConfigDuplicate {
                first: CONFIG_OFFSET,
                second: 0x200
            }]
        );
        let rom = damaged(2, |r| r[CONFIG_OFFSET..CONFIG_OFFSET + 256].fill(0));
        assert_eq!(problems(&rom, None), [], "a ROM without a block is fine");
    }

    #[test]
    fn every_problem_prints_one_line() {
        let mut rom = testrom::build(1, 0x80);
        rom[0x18] = 0x1d;
        rom[0x1a] = 0x41;
        rom[2] = 9;
        rom.extend([1u8; 7]);
        for finding in verify_to_vec(
            &rom,
            Some(PciId {
                vendor: 1,
                device: 2,
            }),
        ) {
            let line = finding.to_string();
            assert!(!line.contains('\n') && line.len() < 160, "{line}");
        }
    }
}
