//! Arbitrary bytes as the ELF that `romtool build` flattens: goblin's
//! parser plus our section layout checks must reject, never crash. An ELF
//! that asks for packing gets packed, and the result must check out.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(flat) = tools::romtool::build::flatten(data) {
        assert!(flat.bytes.len() % 512 == 0 && flat.bytes.len() >= flat.loaded_end);
        if let Some((start, end)) = flat.pack_range {
            assert!(start <= end && end <= flat.bytes.len());
            if end - start <= 1 << 16 {
                if let Ok((image, packed)) =
                    tools::romtool::build::pack_image(&flat.bytes, start, end)
                {
                    assert_eq!(packed.descriptor.check(&image), Ok(()));
                }
            }
        }
    }
});
