//! Test-only block device: the QEMU fw_cfg file `opt/srpboot/disk`, read by
//! DMA straight into the caller's buffer. Writes are kept in a small RAM
//! overlay (fw_cfg files are read-only), so they last until reset.

use crate::fwcfg;
use crate::romstate::RomCell;
use rom16::blockdev::{BlockDevice, Identity, IoError};
use rom16::mem::PhysMem;

/// The fw_cfg file name.
pub const FILE_NAME: &[u8] = b"opt/srpboot/disk";
const SECTOR: u32 = 512;
/// Sectors that may differ from the file (16 KiB of writes).
const OVERLAY_SLOTS: usize = 32;

/// Written sectors. A static, not a field: 16 KiB would not fit on the
/// ROM's 8 KiB stack while the disk is being constructed.
static OVERLAY: RomCell<[[u8; SECTOR as usize]; OVERLAY_SLOTS]> =
    RomCell::new([[0; SECTOR as usize]; OVERLAY_SLOTS]);

/// The fw_cfg-backed disk.
pub struct FwCfgDisk {
    file: fwcfg::File,
    pci_bdf: u16,
    overlay_lba: [u64; OVERLAY_SLOTS],
    overlay_used: usize,
}

/// Why the test disk cannot be used.
pub enum OpenError {
    NoFwCfg,
    NoFile,
    Empty,
}

impl OpenError {
    pub fn reason(&self) -> &'static str {
        match self {
            OpenError::NoFwCfg => "QEMU fw_cfg with DMA not found",
            OpenError::NoFile => "fw_cfg file opt/srpboot/disk not found",
            OpenError::Empty => "fw_cfg file opt/srpboot/disk is smaller than one sector",
        }
    }
}

impl FwCfgDisk {
    /// Finds the disk file.
    pub fn open(pci_bdf: u16) -> Result<Self, OpenError> {
        if !fwcfg::present() {
            return Err(OpenError::NoFwCfg);
        }
        let file = fwcfg::find(FILE_NAME).ok_or(OpenError::NoFile)?;
        if file.size < SECTOR {
            return Err(OpenError::Empty);
        }
        Ok(FwCfgDisk {
            file,
            pci_bdf,
            overlay_lba: [0; OVERLAY_SLOTS],
            overlay_used: 0,
        })
    }

    fn slot(&self, lba: u64) -> Option<usize> {
        self.overlay_lba[..self.overlay_used]
            .iter()
            .position(|&l| l == lba)
    }
}

impl BlockDevice for FwCfgDisk {
    fn sector_size(&self) -> u32 {
        SECTOR
    }
    fn sectors(&self) -> u64 {
        (self.file.size / SECTOR) as u64
    }
    fn read_only(&self) -> bool {
        false
    }
    fn identity(&self) -> Identity {
        Identity {
            pci_bdf: self.pci_bdf,
            scsi_id: 0,
            lun: 0,
        }
    }
    fn read<M: PhysMem>(
        &mut self,
        mem: &mut M,
        lba: u64,
        count: u32,
        buf: u32,
    ) -> Result<(), IoError> {
        if !fwcfg::read(self.file, lba as u32 * SECTOR, count * SECTOR, buf) {
            return Err(IoError::Media);
        }
        OVERLAY.with(|overlay| {
            for (i, &l) in self.overlay_lba[..self.overlay_used].iter().enumerate() {
                if l >= lba && l < lba + count as u64 {
                    mem.write(buf + (l - lba) as u32 * SECTOR, &overlay[i]);
                }
            }
        });
        Ok(())
    }
    fn write<M: PhysMem>(
        &mut self,
        mem: &mut M,
        lba: u64,
        count: u32,
        buf: u32,
    ) -> Result<(), IoError> {
        // Check room first so a failed write changes nothing.
        let new = (0..count as u64)
            .filter(|i| self.slot(lba + i).is_none())
            .count();
        if self.overlay_used + new > OVERLAY_SLOTS {
            return Err(IoError::Media);
        }
        for i in 0..count {
            let l = lba + i as u64;
            let s = match self.slot(l) {
                Some(s) => s,
                None => {
                    self.overlay_lba[self.overlay_used] = l;
                    self.overlay_used += 1;
                    self.overlay_used - 1
                }
            };
            OVERLAY.with(|overlay| mem.read(buf + i * SECTOR, &mut overlay[s]));
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
    fn reset(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}
