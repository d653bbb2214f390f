//! srpboot option ROM: protected-mode body.
//!
//! Entry points, each called from the real-mode stubs in `entry16.s` through
//! `pm_call` with one u32 argument:
//! * `rust_init`  — POST init: banner, configuration, device discovery.
//! * `rust_bcv`   — boot connection vector: attach the disk, hook INT 13h.
//! * `rust_int13` — every INT 13h call while hooked.
//!
//! On the host this binary is empty, so `cargo test --workspace` builds.
#![cfg_attr(target_os = "none", no_std, no_main)]

// Platform helpers: some are used only by feature-gated backends.
#[cfg(target_os = "none")]
#[allow(dead_code)]
mod bios;
#[cfg(target_os = "none")]
mod config;
#[cfg(target_os = "none")]
#[allow(dead_code)]
mod console;
#[cfg(target_os = "none")]
mod disk;
#[cfg(target_os = "none")]
mod entry;
#[cfg(all(target_os = "none", feature = "test-disk"))]
mod fwcfg;
#[cfg(target_os = "none")]
#[allow(dead_code)]
mod nichal;
#[cfg(all(target_os = "none", feature = "nic-selftest"))]
mod nicselftest;
#[cfg(target_os = "none")]
#[allow(dead_code)]
mod pci;
#[cfg(target_os = "none")]
mod physmem;
#[cfg(target_os = "none")]
mod profile;
#[cfg(target_os = "none")]
mod romstate;
#[cfg(all(target_os = "none", feature = "san", not(feature = "test-disk")))]
mod srpdisk;
#[cfg(all(target_os = "none", feature = "test-disk"))]
mod testdisk;

#[cfg(not(target_os = "none"))]
fn main() {}
