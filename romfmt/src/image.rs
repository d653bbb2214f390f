//! Walking the images of a (possibly multi-image) ROM.
//!
//! A PCI ROM may hold several images back to back, for example iPXE's
//! combined x86 BIOS + EFI ROMs. Each image starts with `55 AA` on a
//! 512-byte boundary; its PCIR image length says where the next one starts
//! and PCIR indicator bit 7 marks the last one (PCI Firmware 3.0, 5.1).
//! Images without a PCIR (ISA-style ROMs) are measured by their size byte
//! and end the walk, because nothing links them to a next image.

use crate::efi::EfiHeader;
use crate::header::RomHeader;
use crate::pcir::{CodeType, Pcir};
use crate::pnp::{self, PnpHeader};

/// Where an image's length came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtentFrom {
    /// PCIR image length (the normal case).
    PcirImageLength,
    /// The size byte, because there is no usable PCIR.
    SizeByte,
    /// Neither is usable; the image is taken to run to the end of the data.
    RestOfData,
}

/// One image of a ROM.
#[derive(Debug, Clone)]
pub struct Image<'a> {
    /// Position in the ROM, from 0.
    pub index: usize,
    /// Byte offset of the image in the ROM.
    pub offset: usize,
    /// The image's bytes: its declared extent, clipped to the data present.
    pub bytes: &'a [u8],
    /// Declared length in bytes (may exceed `bytes.len()` if truncated).
    pub extent: usize,
    pub extent_from: ExtentFrom,
    /// True if the PCIR marks this as the last image, or if there is no
    /// PCIR to link a further image.
    pub last: bool,
}

impl<'a> Image<'a> {
    /// Measures the image starting at `rest[0]`.
    fn measure(index: usize, offset: usize, rest: &'a [u8]) -> Image<'a> {
        let (extent, extent_from, last) = match pcir_in(rest) {
            Some((_, p)) if p.has_signature() && p.image_blocks() > 0 => (
                p.image_len(),
                ExtentFrom::PcirImageLength,
                p.is_last_image(),
            ),
            _ => match RomHeader::new_checked(rest) {
                Ok(h) if h.has_signature() && h.init_blocks() > 0 => {
                    (h.init_len(), ExtentFrom::SizeByte, true)
                }
                _ => (rest.len(), ExtentFrom::RestOfData, true),
            },
        };
        let bytes = &rest[..extent.min(rest.len())];
        Image {
            index,
            offset,
            bytes,
            extent,
            extent_from,
            last,
        }
    }

    /// The ROM header, if the image is long enough to hold one.
    pub fn header(&self) -> Option<RomHeader<&'a [u8]>> {
        RomHeader::new_checked(self.bytes).ok()
    }

    /// The PCIR offset and view, if the pointer is non-zero and the
    /// structure fits in the image. The signature is not checked.
    pub fn pcir(&self) -> Option<(usize, Pcir<&'a [u8]>)> {
        pcir_in(self.bytes)
    }

    /// The code type, if the image has a PCIR with a good signature.
    pub fn code_type(&self) -> Option<CodeType> {
        self.pcir()
            .filter(|(_, p)| p.has_signature())
            .map(|(_, p)| p.code_type())
    }

    /// True for EFI images, which use the EFI header layout.
    pub fn is_efi(&self) -> bool {
        self.code_type() == Some(CodeType::Efi)
    }

    /// True for x86 BIOS images, including ISA-style images with no PCIR.
    pub fn is_x86(&self) -> bool {
        matches!(self.code_type(), None | Some(CodeType::X86Bios))
    }

    /// The EFI header, for EFI images.
    pub fn efi_header(&self) -> Option<EfiHeader<&'a [u8]>> {
        if self.is_efi() {
            EfiHeader::new_checked(self.bytes).ok()
        } else {
            None
        }
    }

    /// Initialization size in bytes: the size byte, or the 16-bit EFI field.
    pub fn init_len(&self) -> Option<usize> {
        match self.efi_header() {
            Some(efi) => Some(efi.init_len()),
            None => self.header().map(|h| h.init_len()),
        }
    }

    /// The chain of expansion headers, starting at the pointer at 0x1A.
    /// EFI images have no such pointer and yield nothing.
    pub fn pnp_chain(&self) -> PnpChain<'a> {
        let first = match self.header() {
            Some(h) if !self.is_efi() => h.expansion_offset(),
            _ => 0,
        };
        PnpChain {
            image: self.bytes,
            next: first,
            count: 0,
        }
    }
}

fn pcir_in(bytes: &[u8]) -> Option<(usize, Pcir<&[u8]>)> {
    let at = usize::from(RomHeader::new_checked(bytes).ok()?.pcir_offset());
    if at == 0 {
        return None;
    }
    Pcir::new_checked(bytes.get(at..)?).ok().map(|p| (at, p))
}

/// Iterates the images of a ROM in order.
#[derive(Debug, Clone)]
pub struct Images<'a> {
    rom: &'a [u8],
    next: Option<usize>,
    index: usize,
}

impl<'a> Images<'a> {
    pub fn new(rom: &'a [u8]) -> Self {
        Images {
            rom,
            next: if rom.is_empty() { None } else { Some(0) },
            index: 0,
        }
    }
}

impl<'a> Iterator for Images<'a> {
    type Item = Image<'a>;
    fn next(&mut self) -> Option<Image<'a>> {
        let offset = self.next.take()?;
        let image = Image::measure(self.index, offset, self.rom.get(offset..)?);
        self.index += 1;
        let after = offset.saturating_add(image.extent);
        // Every extent is at least one block here, so the walk always ends.
        if !image.last && image.extent > 0 && after < self.rom.len() {
            self.next = Some(after);
        }
        Some(image)
    }
}

/// One entry of an expansion header chain.
#[derive(Debug, Clone)]
pub enum PnpLink<'a> {
    /// A header whose fixed fields fit in the image (signature unchecked).
    Header {
        offset: usize,
        header: PnpHeader<&'a [u8]>,
    },
    /// A pointer to a header that does not fit in the image.
    OutOfRange { offset: usize },
    /// The chain has more than [`pnp::MAX_CHAIN`] headers (likely a cycle).
    TooLong,
}

/// Follows expansion header `next` pointers. Stops after a header without
/// the `$PnP` signature, since its next pointer cannot be trusted.
#[derive(Debug, Clone)]
pub struct PnpChain<'a> {
    image: &'a [u8],
    next: u16,
    count: usize,
}

impl<'a> Iterator for PnpChain<'a> {
    type Item = PnpLink<'a>;
    fn next(&mut self) -> Option<PnpLink<'a>> {
        if self.next == 0 {
            return None;
        }
        let offset = usize::from(self.next);
        self.next = 0;
        if self.count == pnp::MAX_CHAIN {
            return Some(PnpLink::TooLong);
        }
        self.count += 1;
        let Some(header) = self
            .image
            .get(offset..)
            .and_then(|b| PnpHeader::new_checked(b).ok())
        else {
            return Some(PnpLink::OutOfRange { offset });
        };
        if header.has_signature() {
            self.next = header.next_offset();
        }
        Some(PnpLink::Header { offset, header })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrom;

    #[test]
    fn walks_a_single_image() {
        let rom = testrom::build(2, 0x80);
        let images: Vec<_> = Images::new(&rom).collect();
        assert_eq!(images.len(), 1);
        let img = &images[0];
        assert_eq!((img.offset, img.extent, img.last), (0, 1024, true));
        assert_eq!(img.extent_from, ExtentFrom::PcirImageLength);
        assert!(img.is_x86());
        assert_eq!(img.init_len(), Some(1024));
        assert_eq!(img.pnp_chain().count(), 1);
    }

    #[test]
    fn walks_multiple_images_until_the_last_flag() {
        let mut rom = testrom::build(1, 0x00);
        rom.extend(testrom::build(2, 0x00));
        rom.extend(testrom::build(1, 0x80));
        rom.extend([0u8; 512]); // trailing data is not an image
        let images: Vec<_> = Images::new(&rom).collect();
        let offsets: Vec<_> = images.iter().map(|i| i.offset).collect();
        assert_eq!(offsets, [0, 512, 1536]);
        assert!(images[2].last);
    }

    #[test]
    fn stops_at_the_end_of_data_without_a_last_flag() {
        let rom = testrom::build(1, 0x00);
        let images: Vec<_> = Images::new(&rom).collect();
        assert_eq!(images.len(), 1);
        assert!(!images[0].last);
    }

    #[test]
    fn measures_isa_images_by_size_byte() {
        let mut rom = vec![0u8; 1024];
        rom[..3].copy_from_slice(&[0x55, 0xAA, 1]);
        let img = Images::new(&rom).next().unwrap();
        assert_eq!(
            (img.extent, img.extent_from, img.last),
            (512, ExtentFrom::SizeByte, true)
        );
        assert_eq!(img.pcir().map(|p| p.0), None);
    }

    #[test]
    fn garbage_is_one_image_of_unknown_length() {
        assert_eq!(Images::new(&[]).count(), 0);
        let img = Images::new(&[1, 2, 3]).next().unwrap();
        assert_eq!((img.extent, img.extent_from), (3, ExtentFrom::RestOfData));
        assert!(img.header().is_none());
        assert_eq!(img.pnp_chain().count(), 0);
    }

    #[test]
    fn cyclic_pnp_chains_end() {
        let mut rom = testrom::build(2, 0x80);
        let pnp = testrom::PNP_OFFSET;
        rom[pnp + 6..pnp + 8].copy_from_slice(&(pnp as u16).to_le_bytes()); // next = itself
        let img = Images::new(&rom).next().unwrap();
        let links: Vec<_> = img.pnp_chain().collect();
        assert_eq!(links.len(), pnp::MAX_CHAIN + 1);
        assert!(matches!(links.last(), Some(PnpLink::TooLong)));
    }
}
