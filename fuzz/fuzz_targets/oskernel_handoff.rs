//! Arbitrary low memory through `oskernel::find`, the OS driver's first
//! look at the ROM's handoff table. Built with `--cfg fuzzing`, under which
//! the sBFT checksum always passes, so the input reaches every layout check.
//! Properties: nothing panics; a found table lies inside the window, on a
//! 16-byte boundary, and describes a usable login; a refusal names a
//! candidate that is in the window.
//!
//! Run: `cargo +nightly fuzz run oskernel_handoff` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oskernel::{find, TableError};

fuzz_target!(|data: &[u8]| {
    match find(data) {
        Ok((at, t)) => {
            assert!(at < data.len() && at % 16 == 0);
            assert!(t.rdma_cm_port != 0);
            assert!([256, 512, 1024, 2048, 4096].contains(&t.path_mtu));
        }
        Err(TableError::NotFound) => {}
        Err(
            TableError::Truncated { at }
            | TableError::BadLayout { at }
            | TableError::BadChecksum { at }
            | TableError::NoRoce { at }
            | TableError::Unusable { at, .. },
        ) => assert!(at < data.len() && at % 16 == 0),
    }
});
