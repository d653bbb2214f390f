//! Arbitrary bytes through everything romtool does to a ROM file: the
//! image walk and verification (romfmt), the inspector's full description
//! in text and JSON (romtool), config block parsing, the patchers, and the
//! target URI parser. The property is simply: no panic, no hang, no
//! out-of-bounds access.
#![no_main]

use libfuzzer_sys::fuzz_target;
use romfmt::config::{self, ConfigRepr, BLOCK_LEN};
use romfmt::patch::{self, Identity};
use romfmt::pcir::PciId;

const VIRTIO: PciId = PciId {
    vendor: 0x1af4,
    device: 0x1000,
};

fuzz_target!(|data: &[u8]| {
    let findings = romfmt::verify::verify_to_vec(data, Some(VIRTIO));
    for finding in &findings {
        let _ = finding.to_string();
    }

    let description = tools::romtool::inspect::describe("fuzz", data, None);
    let _ = description.to_text();
    let _ = description.to_json();

    for offset in config::find_blocks(data) {
        let _ = ConfigRepr::parse(&data[offset..]);
    }
    let _ = ConfigRepr::parse(data);
    // A checksum-valid header makes the field checks reachable: the raw
    // input would almost never get past the magic and checksum.
    if data.len() >= BLOCK_LEN {
        let mut block = [0u8; BLOCK_LEN];
        block.copy_from_slice(&data[..BLOCK_LEN]);
        block[..12].copy_from_slice(&config::EMPTY_CONFIG_BLOCK[..12]);
        block[14] = 0;
        block[14] = 0u8.wrapping_sub(block.iter().fold(0u8, |a, &b| a.wrapping_add(b)));
        if let Ok(Some(repr)) = ConfigRepr::parse(&block) {
            let mut again = [0u8; BLOCK_LEN];
            repr.emit(&mut again).expect("a parsed block re-emits");
            assert_eq!(ConfigRepr::parse(&again), Ok(Some(repr)), "round trip");
        }
    }

    let mut copy = data.to_vec();
    let _ = patch::set_product_name(&mut copy, "fuzz");
    let _ = patch::finalize(
        &mut copy,
        &Identity {
            id: VIRTIO,
            class: None,
            last_image: Some(true),
        },
    );
    let _ = patch::write_config(&mut copy, None);

    if let Ok(text) = core::str::from_utf8(data) {
        let _ = tools::romtool::uri::parse_srp_uri(text);
        let _ = tools::romtool::uri::parse_cidr(text);
    }
});
