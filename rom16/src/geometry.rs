//! BIOS CHS geometry for a disk that has none: guessed from the MBR
//! partition table the way iPXE does, 255 heads / 63 sectors by default,
//! cylinders capped at 1024 (INT 13h's 10-bit cylinder field).

/// Logical cylinders/heads/sectors-per-track as INT 13h reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chs {
    /// Cylinders (1..=1024).
    pub cylinders: u32,
    /// Heads (1..=255).
    pub heads: u32,
    /// Sectors per track (1..=63).
    pub sectors: u32,
}

impl Chs {
    /// Sectors addressable through CHS.
    pub fn capacity(&self) -> u64 {
        self.cylinders as u64 * self.heads as u64 * self.sectors as u64
    }
}

const DEFAULT_HEADS: u32 = 255;
const DEFAULT_SECTORS: u32 = 63;
const MAX_CYLINDERS: u64 = 1024;

/// Guesses the geometry of a disk of `total` sectors from its first sector.
/// A sector without the 55 AA signature, or partitions that say nothing,
/// give the defaults.
pub fn guess(mbr: &[u8; 512], total: u64) -> Chs {
    let mut heads = 0u32;
    let mut sectors = 0u32;
    if mbr[510] == 0x55 && mbr[511] == 0xaa {
        for entry in mbr[446..510].chunks_exact(16) {
            if entry[4] == 0 {
                continue; // unused slot
            }
            let start_head = entry[1] as u32;
            let start_sector = (entry[2] & 0x3f) as u32;
            let start_cyl = (entry[3] as u32) | ((entry[2] as u32 & 0xc0) << 2);
            let end_head = entry[5] as u32;
            let end_sector = (entry[6] & 0x3f) as u32;
            let start_lba = u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]);
            // A partition starting in cylinder 0 on a head other than 0
            // reveals sectors per track: LBA = head * spt + sector - 1.
            if start_cyl == 0 && start_head != 0 && start_sector != 0 {
                let spt = (start_lba + 1).saturating_sub(start_sector) / start_head;
                if (1..=63).contains(&spt) {
                    sectors = sectors.max(spt);
                }
            }
            heads = heads.max(end_head + 1);
            sectors = sectors.max(end_sector);
        }
    }
    if heads == 0 || heads > 255 {
        heads = DEFAULT_HEADS;
    }
    if sectors == 0 || sectors > 63 {
        sectors = DEFAULT_SECTORS;
    }
    let cylinders = (total / (heads as u64 * sectors as u64)).clamp(1, MAX_CYLINDERS) as u32;
    Chs {
        cylinders,
        heads,
        sectors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbr_with(entry: [u8; 16]) -> [u8; 512] {
        let mut m = [0u8; 512];
        m[446..462].copy_from_slice(&entry);
        m[510] = 0x55;
        m[511] = 0xaa;
        m
    }

    #[test]
    fn blank_disk_gets_defaults() {
        let g = guess(&[0; 512], 16 * 1024 * 1024 / 512);
        assert_eq!(
            g,
            Chs {
                cylinders: 2,
                heads: 255,
                sectors: 63
            }
        );
    }

    #[test]
    fn dos_style_partition_at_head_1() {
        // Starts at C/H/S 0/1/1 = LBA 63, ends at 9/254/63 (255 x 63 disk).
        let e = [
            0x80, 1, 1, 0, 0x06, 254, 63, // sector 63; cylinder bits 8-9 (top two bits) zero
            9, 63, 0, 0, 0, 0, 0, 0, 0,
        ];
        let g = guess(&mbr_with(e), 10 * 255 * 63);
        assert_eq!(
            g,
            Chs {
                cylinders: 10,
                heads: 255,
                sectors: 63
            }
        );
    }

    #[test]
    fn small_geometry_from_partition_table() {
        // 16 heads x 32 sectors: starts at 0/1/1 = LBA 32, ends at 19/15/32.
        let e = [0x80, 1, 1, 0, 0x06, 15, 32, 19, 32, 0, 0, 0, 0, 0, 0, 0];
        let g = guess(&mbr_with(e), 20 * 16 * 32);
        assert_eq!(
            g,
            Chs {
                cylinders: 20,
                heads: 16,
                sectors: 32
            }
        );
    }

    #[test]
    fn cylinders_are_capped() {
        let g = guess(&[0; 512], 100 * 1024 * 1024 * 1024 / 512);
        assert_eq!(g.cylinders, 1024);
    }

    #[test]
    fn tiny_disk_keeps_one_cylinder() {
        assert_eq!(guess(&[0; 512], 1).cylinders, 1);
    }
}
