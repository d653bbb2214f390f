//! BIOS data area fields we read or maintain.

use super::phys;

const BDA: u32 = 0x400;
/// 40:13 base memory size in KiB (we lowered it at POST).
const BASE_MEM_KB: u32 = BDA + 0x13;
/// 40:74 status of the last hard-disk operation (INT 13h AH=01).
const HDD_STATUS: u32 = BDA + 0x74;
/// 40:75 number of hard disks.
const HDD_COUNT: u32 = BDA + 0x75;
/// 40:6C timer ticks since midnight (18.2 Hz).
const TICKS: u32 = BDA + 0x6c;

/// Base memory size in KiB.
pub fn base_mem_kb() -> u16 {
    phys::read16(BASE_MEM_KB)
}

/// Number of hard disks the BIOS knows about.
pub fn hdd_count() -> u8 {
    phys::read8(HDD_COUNT)
}

/// Sets the number of hard disks.
pub fn set_hdd_count(n: u8) {
    phys::write8(HDD_COUNT, n)
}

/// Last hard-disk status byte.
pub fn hdd_status() -> u8 {
    phys::read8(HDD_STATUS)
}

/// Records the last hard-disk status byte.
pub fn set_hdd_status(v: u8) {
    phys::write8(HDD_STATUS, v)
}

/// BIOS timer ticks (only advances while interrupts run, i.e. not inside our handler).
pub fn ticks() -> u32 {
    phys::read32(TICKS)
}
