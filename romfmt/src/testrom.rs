//! Synthetic images for the unit tests, laid out like srpboot's assembly.
//!
//! | offset | content |
//! |---|---|
//! | 0x00 | `55 AA`, size byte, `jmp near 0x60` |
//! | 0x18 | PCIR pointer 0x1C, $PnP pointer 0x40 |
//! | 0x1C | PCIR revision 0 for 1af4:1000, class 020000 |
//! | 0x40 | $PnP with BCV 0x61 and two strings |
//! | 0x60 | `retf` (init), `retf` (BCV) |
//! | 0x80 | manufacturer string, 0x90 product string |
//! | 0xC0 | an empty srpboot config block |
//! | last byte | image checksum |

use crate::config::EMPTY_CONFIG_BLOCK;
use crate::field::{fix_byte, sum8};

pub const PCIR_OFFSET: usize = 0x1c;
pub const PNP_OFFSET: usize = 0x40;
pub const BCV: u16 = 0x61; // just after the init retf
pub const CONFIG_OFFSET: usize = 0xc0;

/// A valid x86 image of `blocks` 512-byte blocks with the given PCIR
/// indicator byte (0x80 = last image).
pub fn build(blocks: u8, indicator: u8) -> Vec<u8> {
    let len = usize::from(blocks) * 512;
    let mut rom = vec![0u8; len];
    rom[..6].copy_from_slice(&[0x55, 0xAA, blocks, 0xE9, 0x5A, 0x00]);
    rom[0x18..0x1c].copy_from_slice(&[PCIR_OFFSET as u8, 0, PNP_OFFSET as u8, 0]);
    let pcir = &mut rom[PCIR_OFFSET..PCIR_OFFSET + 0x18];
    pcir[..4].copy_from_slice(b"PCIR");
    pcir[4..8].copy_from_slice(&[0xf4, 0x1a, 0x00, 0x10]);
    pcir[0x0a] = 0x18;
    pcir[0x0d..0x10].copy_from_slice(&[0x00, 0x00, 0x02]);
    pcir[0x10..0x12].copy_from_slice(&u16::from(blocks).to_le_bytes());
    pcir[0x12] = 1;
    pcir[0x15] = indicator;
    let pnp = &mut rom[PNP_OFFSET..PNP_OFFSET + 0x20];
    pnp[..6].copy_from_slice(&[b'$', b'P', b'n', b'P', 1, 2]);
    pnp[0x0e..0x12].copy_from_slice(&[0x80, 0, 0x90, 0]);
    pnp[0x12..0x16].copy_from_slice(&[0x01, 0x80, 0x00, 0x44]);
    pnp[0x16..0x18].copy_from_slice(&BCV.to_le_bytes());
    pnp[9] = fix_byte(sum8(pnp), 0);
    rom[0x60] = 0xCB;
    rom[0x61] = 0xCB;
    rom[0x80..0x88].copy_from_slice(b"srpboot\0");
    rom[0x90..0x99].copy_from_slice(b"test rom\0");
    rom[CONFIG_OFFSET..CONFIG_OFFSET + 256].copy_from_slice(&EMPTY_CONFIG_BLOCK);
    fix_checksum(&mut rom);
    rom
}

/// An EFI image of `blocks` blocks (no checksum, no PnP, as iPXE's).
pub fn build_efi(blocks: u16, indicator: u8) -> Vec<u8> {
    let mut rom = vec![0u8; usize::from(blocks) * 512];
    rom[..2].copy_from_slice(&[0x55, 0xAA]);
    rom[2..4].copy_from_slice(&blocks.to_le_bytes());
    rom[4..12].copy_from_slice(&[0xf1, 0x0e, 0, 0, 0x0b, 0, 0x64, 0x86]);
    rom[0x16..0x1a].copy_from_slice(&[0x38, 0, 0x1c, 0]);
    let pcir = &mut rom[0x1c..0x34];
    pcir[..4].copy_from_slice(b"PCIR");
    pcir[4..8].copy_from_slice(&[0xf4, 0x1a, 0x00, 0x10]);
    pcir[0x0a] = 0x18;
    pcir[0x0d..0x10].copy_from_slice(&[0x00, 0x00, 0x02]);
    pcir[0x10..0x12].copy_from_slice(&blocks.to_le_bytes());
    pcir[0x14] = 3;
    pcir[0x15] = indicator;
    rom[0x38..0x3a].copy_from_slice(b"MZ");
    rom
}

/// Rewrites the last byte so the image sums to 0.
pub fn fix_checksum(image: &mut [u8]) {
    let last = image.len() - 1;
    image[last] = 0;
    image[last] = fix_byte(sum8(image), 0);
}
