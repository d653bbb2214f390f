//! The drive we present: attach at BCV time, hook INT 13h, dispatch calls.

use crate::bios::{bda, ivt, phys};
use crate::console;
use crate::physmem::RomMem;
use crate::romstate::RomSlot;
use rom16::blockdev::BlockDevice;
use rom16::geometry;
use rom16::int13::{Drive, Frame, ACTION_CHAIN};

#[cfg(feature = "test-disk")]
type Backend = crate::testdisk::FwCfgDisk;
#[cfg(all(not(feature = "test-disk"), feature = "san"))]
type Backend = crate::srpdisk::SrpDisk;
#[cfg(all(not(feature = "test-disk"), not(feature = "san")))]
type Backend = NoBackend;

static DRIVE: RomSlot<Drive<Backend>> = RomSlot::empty();

extern "C" {
    /// Real-mode entry of our INT 13h handler (in the RAM copy).
    fn int13_entry();
    /// Previous INT 13h vector, stored inside the `$INT13SF` header.
    static old_int13: u32;
}

/// Opens the backend, claims the next hard-disk number and hooks INT 13h.
/// Claims nothing when the backend cannot serve a disk.
pub fn attach(pci_bdf: u16) {
    let dev = match open(pci_bdf) {
        Ok(d) => d,
        Err(why) => {
            console::str("srpboot: ");
            console::str(why);
            console::str("; not installing a drive\n");
            return;
        }
    };
    let mut mem = RomMem;
    let mut dev = dev;
    // Sector 0 tells the geometry (and proves the device reads).
    // The device writes this buffer by DMA: pass a *mut-derived address so
    // the compiler knows the bytes can change behind its back.
    let mut mbr = [0u8; 512];
    if dev
        .read(&mut mem, 0, 1, phys::addr_of(mbr.as_mut_ptr()))
        .is_err()
    {
        console::str("srpboot: cannot read sector 0; not installing a drive\n");
        return;
    }
    let sectors = dev.sectors();
    let chs = geometry::guess(&mbr, sectors);
    let count = bda::hdd_count();
    let number = 0x80 + count;
    bda::set_hdd_count(count + 1);
    // The real-mode entry and its `$INT13SF` slot for the previous vector
    // are in the low copy. INT 13h cannot run now (interrupts are off and we
    // are inside the BIOS's BCV call).
    let slot = phys::low_addr_of(core::ptr::addr_of!(old_int13));
    phys::write32(slot, ivt::get(0x13).to_u32());
    ivt::set(
        0x13,
        ivt::FarPtr {
            seg: (phys::low_base() >> 4) as u16,
            off: int13_entry as *const () as usize as u16,
        },
    );
    console::str("srpboot: drive ");
    console::hex(number as u32, 2);
    console::str(": ");
    console::dec(sectors);
    console::str(" sectors (");
    console::dec(sectors * dev.sector_size() as u64 >> 20);
    console::str(" MiB), CHS ");
    console::dec(chs.cylinders as u64);
    console::str("/");
    console::dec(chs.heads as u64);
    console::str("/");
    console::dec(chs.sectors as u64);
    console::str("\n");
    DRIVE.set(Drive { number, chs, dev });
}

/// One INT 13h call.
pub fn int13(f: &mut Frame) {
    if DRIVE.with(|drive| drive.handle(f, &mut RomMem)).is_none() {
        f.action = ACTION_CHAIN;
    }
}

#[cfg(feature = "test-disk")]
fn open(pci_bdf: u16) -> Result<Backend, &'static str> {
    crate::testdisk::FwCfgDisk::open(pci_bdf).map_err(|e| e.reason())
}

#[cfg(all(not(feature = "test-disk"), feature = "san"))]
fn open(pci_bdf: u16) -> Result<Backend, &'static str> {
    use crate::config::{self, Config};
    match config::read() {
        Config::Unconfigured => Err("no SRP target configured"),
        Config::Corrupt => Err("configuration block is corrupt"),
        Config::Configured(c) => match crate::srpdisk::SrpDisk::open(pci_bdf, &c) {
            Ok(d) => {
                d.describe();
                Ok(d)
            }
            Err(()) => Err("SAN disk unavailable, boot continues with the next device"),
        },
    }
}

#[cfg(all(not(feature = "test-disk"), not(feature = "san")))]
fn open(_pci_bdf: u16) -> Result<Backend, &'static str> {
    use crate::config::{self, Config};
    Err(match config::read() {
        Config::Unconfigured => "no SRP target configured",
        Config::Corrupt => "configuration block is corrupt",
        // The SAN backend (feature `san`) needs the high-memory layout
        // described in docs/architecture.md before it can ship.
        Config::Configured(_) => "this build has no SRP transport yet",
    })
}

/// The backend of a ROM built without one: never attaches.
#[cfg(all(not(feature = "test-disk"), not(feature = "san")))]
pub enum NoBackend {}

#[cfg(all(not(feature = "test-disk"), not(feature = "san")))]
impl BlockDevice for NoBackend {
    fn sector_size(&self) -> u32 {
        match *self {}
    }
    fn sectors(&self) -> u64 {
        match *self {}
    }
    fn read_only(&self) -> bool {
        match *self {}
    }
    fn identity(&self) -> rom16::blockdev::Identity {
        match *self {}
    }
    fn read<M: rom16::mem::PhysMem>(
        &mut self,
        _: &mut M,
        _: u64,
        _: u32,
        _: u32,
    ) -> Result<(), rom16::blockdev::IoError> {
        match *self {}
    }
    fn write<M: rom16::mem::PhysMem>(
        &mut self,
        _: &mut M,
        _: u64,
        _: u32,
        _: u32,
    ) -> Result<(), rom16::blockdev::IoError> {
        match *self {}
    }
    fn flush(&mut self) -> Result<(), rom16::blockdev::IoError> {
        match *self {}
    }
    fn reset(&mut self) -> Result<(), rom16::blockdev::IoError> {
        match *self {}
    }
}
