//! Arbitrary bytes as the ELF that `romtool build` flattens: goblin's
//! parser plus our section layout checks must reject, never crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(flat) = tools::romtool::build::flatten(data) {
        assert!(flat.bytes.len() % 512 == 0 && flat.bytes.len() >= flat.loaded_end);
    }
});
