//! Property-style tests: whatever the bytes, parsing, walking, verifying and
//! patching return values or errors and never panic.
//!
//! A small xorshift generator keeps the runs reproducible without a
//! dependency; the fuzz target (`fuzz/`) explores further.

use crate::config::{ConfigBlock, ConfigRepr};
use crate::image::{Images, PnpLink};
use crate::patch::{self, Identity};
use crate::pcir::{DeviceList, PciId};
use crate::testrom;
use crate::verify::verify_to_vec;

use crate::testrng::XorShift;

/// Reads every field an inspector would, so a panic anywhere shows up.
fn touch_everything(rom: &[u8]) -> usize {
    let mut seen = 0usize;
    for image in Images::new(rom) {
        if let Some(h) = image.header() {
            seen += usize::from(h.init_blocks()) + h.entry().target().map_or(0, usize::from);
        }
        if let Some((at, p)) = image.pcir() {
            seen += usize::from(p.vendor())
                + p.image_len()
                + usize::from(p.max_runtime_blocks().unwrap_or(0));
            seen += DeviceList::new(image.bytes, at, p.device_list_offset())
                .take(64)
                .count();
        }
        if let Some(efi) = image.efi_header() {
            seen += usize::from(efi.machine());
        }
        seen += image.init_len().unwrap_or(0);
        for link in image.pnp_chain() {
            if let PnpLink::Header { header, .. } = link {
                seen += usize::from(header.sum().unwrap_or(0)) + usize::from(header.indicators().0);
            }
        }
    }
    for at in crate::config::find_blocks(rom) {
        if let Ok(block) = ConfigBlock::new_checked(&rom[at..]) {
            seen += usize::from(block.check().is_ok());
            seen += block.uri().len();
        }
        seen += usize::from(ConfigRepr::parse(&rom[at..]).is_ok());
    }
    seen + verify_to_vec(
        rom,
        Some(PciId {
            vendor: 0x1af4,
            device: 0x1000,
        }),
    )
    .len()
}

/// Also runs the patchers on a copy: they must fail cleanly, not panic.
fn patch_everything(rom: &[u8]) {
    let mut copy = rom.to_vec();
    let _ = patch::set_product_name(&mut copy, "x");
    let _ = patch::finalize(
        &mut copy,
        &Identity {
            id: PciId {
                vendor: 1,
                device: 2,
            },
            class: None,
            last_image: None,
        },
    );
    let _ = patch::write_config(&mut copy, None);
    let _ = patch::fix_pnp_checksums(&mut copy);
}

fn multi_image() -> Vec<u8> {
    let mut rom = testrom::build(2, 0x00);
    rom.extend(testrom::build_efi(2, 0x80));
    rom
}

#[test]
fn every_truncation_is_handled() {
    let rom = multi_image();
    for len in 0..=rom.len() {
        touch_everything(&rom[..len]);
        patch_everything(&rom[..len]);
    }
    // Every proper prefix of a valid ROM is reported as broken.
    for len in [0, 1, 27, 511, 1023, 1024, 2047] {
        assert!(!verify_to_vec(&rom[..len], None).is_empty(), "len {len}");
    }
}

#[test]
fn every_bit_flip_is_handled_and_most_are_caught() {
    let rom = testrom::build(1, 0x80);
    let mut caught = 0;
    for bit in 0..rom.len() * 8 {
        let mut bad = rom.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        touch_everything(&bad);
        patch_everything(&bad);
        caught += usize::from(!verify_to_vec(&bad, None).is_empty());
    }
    // A single flip always breaks the image checksum.
    assert_eq!(caught, rom.len() * 8);
}

#[test]
fn random_bytes_are_handled() {
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    for _ in 0..3000 {
        let len = rng.below(3000);
        let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Often start like a ROM, so the walk gets past the signature.
        if len >= 2 && rng.below(2) == 0 {
            data[..2].copy_from_slice(&[0x55, 0xAA]);
        }
        touch_everything(&data);
        patch_everything(&data);
    }
}

#[test]
fn random_structured_mutations_are_handled() {
    let mut rng = XorShift(0x0dd_f00d);
    let base = multi_image();
    // Bytes that steer the parsers: size, pointers, lengths, indicators.
    let hot = [
        2, 3, 4, 5, 0x18, 0x19, 0x1a, 0x1b, 0x24, 0x25, 0x26, 0x27, 0x2c, 0x2d, 0x31, 0x45, 0x46,
        0x47,
    ];
    for _ in 0..5000 {
        let mut rom = base.clone();
        for _ in 0..1 + rng.below(6) {
            let at = if rng.below(3) == 0 {
                rng.below(rom.len())
            } else {
                hot[rng.below(hot.len())] + 1024 * rng.below(2)
            };
            rom[at] = rng.next() as u8;
        }
        let cut = if rng.below(4) == 0 {
            rng.below(rom.len())
        } else {
            rom.len()
        };
        touch_everything(&rom[..cut]);
        patch_everything(&rom[..cut]);
    }
}
