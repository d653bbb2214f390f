//! srpboot OS boot driver core (no_std, no heap, no unsafe). After the BIOS
//! is gone it finds the boot firmware table the ROM left ([`handoff`]),
//! re-establishes the same SRP session — same initiator port ID, same
//! target, same LUN — and serves block I/O under boot-driver rules
//! ([`disk`]): poll-driven, time passed in, bounded waits only.
//!
//! An OS driver shell (Linux, Windows) maps low memory, calls
//! [`handoff::find`], builds a [`disk::BootDisk`] on its NIC driver and
//! physical-memory view (`fabric::nic::Nic`, `fabric::memory::Memory`), and
//! polls it.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod disk;
pub mod handoff;

pub use disk::{BootDisk, DiskConfig, DiskError, DiskState, Identity};
pub use handoff::{find, BootTarget, TableError};

#[cfg(test)]
mod disk_tests;
#[cfg(test)]
pub(crate) mod handoff_tests;
