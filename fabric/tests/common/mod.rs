//! Helpers shared by the integration tests: finding and loading the golden
//! capture, and a small deterministic RNG.
#![allow(dead_code)]

pub mod pcap;

use std::path::PathBuf;

/// The shared directory: `$SRPBOOT_SHARED`, else `shared/` beside the
/// workspace root (that is how CI clones it; locally it is `/work/shared`).
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SRPBOOT_SHARED") {
        return PathBuf::from(dir);
    }
    // CARGO_MANIFEST_DIR is <workspace>/fabric.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("shared")
}

/// The golden capture's bytes. Panics with a pointed message if missing.
pub fn golden_pcap_bytes() -> Vec<u8> {
    let path = shared_dir().join("golden").join("srp-session.pcap");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the golden capture at {}: {e} \
             (set SRPBOOT_SHARED to the directory holding golden/srp-session.pcap)",
            path.display()
        )
    })
}

/// xorshift64*: small, deterministic, good enough to shake parsers.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.byte();
        }
    }
}
