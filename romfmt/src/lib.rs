//! Legacy PCI expansion ROM formats: parse, verify and patch option ROM
//! images, and read or write the srpboot config block.
//!
//! The crate is `no_std` without an allocator so the ROM itself can read its
//! config block with it; the `std` feature only adds conveniences for the
//! host tools. Parsers never panic: every view is created with
//! `new_checked` (a length check first, smoltcp style) and every pointer
//! taken from the data is bounds-checked before use.
//!
//! - [`header`]: the `55 AA` header; [`efi`]: its EFI variant
//! - [`pcir`]: the PCI data structure; [`pnp`]: the `$PnP` expansion header
//! - [`image`]: walking the images of a multi-image ROM
//! - [`config`]: the srpboot config block
//! - [`verify`]: every problem in a ROM, one line each
//! - [`patch`]: the fixes a build applies (sizes, IDs, checksums)
//! - [`pack`]: the packed ROM body (SRPZ): descriptor, decoder, host encoder
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

pub mod config;
pub mod efi;
pub mod field;
pub mod header;
pub mod image;
pub mod pack;
pub mod patch;
pub mod pcir;
pub mod pnp;
pub mod verify;

#[cfg(test)]
mod robustness;
#[cfg(test)]
mod testrng;
#[cfg(test)]
mod testrom;

pub use config::{ConfigBlock, ConfigError, ConfigRepr, EMPTY_CONFIG_BLOCK};
pub use header::RomHeader;
pub use image::{Image, Images};
pub use pcir::{PciId, Pcir};
pub use pnp::PnpHeader;
pub use verify::{verify, Finding, Problem};
