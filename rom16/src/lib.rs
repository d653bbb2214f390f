//! Portable parts of the srpboot ROM, testable on the host: the INT 13h
//! register ABI and the block-device boundary it serves from. The ROM binary
//! (`main.rs`) supplies the platform: physical memory, the BIOS data area and
//! a concrete block device.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod blockdev;
pub mod edd;
pub mod geometry;
pub mod int13;
pub mod mem;
pub mod readahead;
