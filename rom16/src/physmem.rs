//! `PhysMem` for the ROM: physical memory through our flat segments.

use crate::bios::phys;
use rom16::mem::PhysMem;

/// All of physical memory below 4 GiB.
pub struct RomMem;

impl PhysMem for RomMem {
    fn read(&self, addr: u32, dst: &mut [u8]) {
        phys::read(addr, dst)
    }
    fn write(&mut self, addr: u32, src: &[u8]) {
        phys::write(addr, src)
    }
}
