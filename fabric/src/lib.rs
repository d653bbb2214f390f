//! The srpboot fabric stack: everything between a plain Ethernet NIC and an
//! SRP/SCSI block device, shared by the option ROM (`rom16`) and the OS boot
//! driver (`oskernel`).
//!
//! Layering (iPXE's chain, smoltcp's wire style, rxe's transport split):
//! `srp` (session, SCSI) → `cm` (connection setup over QP1) → `transport`
//! (soft HCA: RC queue pairs, requester/responder/completer) → `wire`
//! (typed zero-copy views over byte slices) → `nic` (one frame at a time).
//!
//! Rules: no heap, no global state, never blocks, never reads a clock (time is
//! passed in), parsers never panic on hostile input.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

pub mod boot;
pub mod channel;
pub mod cm;
pub mod memory;
pub mod nic;
pub mod srp;
pub mod time;
pub mod transport;
pub mod uri;
pub mod wire;
