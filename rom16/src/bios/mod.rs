//! The PC platform as the ROM sees it from 32-bit protected mode: physical
//! memory, I/O ports, the BIOS data area and the interrupt vector table. Each
//! unsafe access is wrapped once here.

pub mod bda;
pub mod ivt;
pub mod phys;
pub mod port;
