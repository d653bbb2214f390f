//! INT 13h AH=48h "get drive parameters" result buffer (EDD 1.1 / 2.0 / 3.0),
//! sized by the caller's buffer exactly as SeaBIOS fills it: 26 bytes (EDD
//! 1.x), 30 (adds the DPTE pointer), 66 (Phoenix EDD 3.0 device path) or 74
//! (T13 EDD-3 device path).

use crate::blockdev::Identity;
use crate::geometry::Chs;

/// Result sizes.
pub const EDD1_LEN: u16 = 26;
/// With a DPTE pointer.
pub const EDD2_LEN: u16 = 30;
/// Phoenix EDD 3.0 with device path.
pub const EDD3_PHOENIX_LEN: u16 = 66;
/// T13 EDD-3 with the longer device path.
pub const EDD3_T13_LEN: u16 = 74;

mod field {
    pub const SIZE: usize = 0;
    pub const INFO: usize = 2;
    pub const CYLINDERS: usize = 4;
    pub const HEADS: usize = 8;
    pub const SPT: usize = 12;
    pub const SECTORS: usize = 16;
    pub const BLOCK_SIZE: usize = 24;
    pub const DPTE: usize = 26;
    pub const KEY: usize = 30;
    pub const DPI_LEN: usize = 32;
    pub const HOST_BUS: usize = 36;
    pub const INTERFACE: usize = 40;
    pub const IFACE_PATH: usize = 48;
    pub const DEVICE_PATH: usize = 56;
}

/// Info word bit: the CHS fields are valid.
const INFO_CHS_VALID: u16 = 0x02;

/// Builds the result for a caller buffer of `caller_size` bytes. Returns the
/// bytes to copy back (the first `len` of `out`), or `None` when the buffer
/// is too small (the caller gets AH=01).
pub fn fill(
    caller_size: u16,
    chs: &Chs,
    sectors: u64,
    block_size: u32,
    id: &Identity,
    out: &mut [u8; 74],
) -> Option<usize> {
    if caller_size < EDD1_LEN {
        return None;
    }
    out.fill(0);
    let put16 =
        |o: &mut [u8; 74], at: usize, v: u16| o[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |o: &mut [u8; 74], at: usize, v: u32| o[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put16(out, field::SIZE, EDD1_LEN);
    // Like SeaBIOS: CHS is "valid" only while it can describe the disk.
    if sectors > chs.sectors as u64 * chs.heads as u64 * 0x3fff {
        put16(out, field::INFO, 0);
        put32(out, field::CYLINDERS, 0x3fff);
    } else {
        put16(out, field::INFO, INFO_CHS_VALID);
        put32(out, field::CYLINDERS, chs.cylinders);
    }
    put32(out, field::HEADS, chs.heads);
    put32(out, field::SPT, chs.sectors);
    out[field::SECTORS..field::SECTORS + 8].copy_from_slice(&sectors.to_le_bytes());
    put16(out, field::BLOCK_SIZE, block_size as u16);
    if caller_size < EDD2_LEN {
        return Some(EDD1_LEN as usize);
    }
    // No ATA-style device parameter table exists for a network disk.
    put16(out, field::SIZE, EDD2_LEN);
    put32(out, field::DPTE, 0xffff_ffff);
    if caller_size < EDD3_PHOENIX_LEN {
        return Some(EDD2_LEN as usize);
    }
    let t13 = caller_size == EDD3_T13_LEN;
    put16(out, field::KEY, 0xbedd);
    out[field::DPI_LEN] = if t13 { 44 } else { 36 };
    out[field::HOST_BUS..field::HOST_BUS + 4].copy_from_slice(b"PCI ");
    out[field::INTERFACE..field::INTERFACE + 8].copy_from_slice(b"SCSI    ");
    // Interface path: PCI bus, device, function, channel 0.
    out[field::IFACE_PATH] = (id.pci_bdf >> 8) as u8;
    out[field::IFACE_PATH + 1] = ((id.pci_bdf >> 3) & 0x1f) as u8;
    out[field::IFACE_PATH + 2] = (id.pci_bdf & 7) as u8;
    // Device path: SCSI target ID (u16) then LUN (u64), as Linux's edd reads it.
    put16(out, field::DEVICE_PATH, id.scsi_id);
    let lun_end = if t13 {
        field::DEVICE_PATH + 10
    } else {
        field::DEVICE_PATH + 8
    };
    let lun = id.lun.to_le_bytes();
    out[field::DEVICE_PATH + 2..lun_end].copy_from_slice(&lun[..lun_end - field::DEVICE_PATH - 2]);
    let (len, sum_end) = if t13 {
        (EDD3_T13_LEN, 73)
    } else {
        (EDD3_PHOENIX_LEN, 65)
    };
    put16(out, field::SIZE, len);
    // Checksum over the device path information (key .. checksum byte).
    let sum = out[field::KEY..sum_end]
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b));
    out[sum_end] = sum.wrapping_neg();
    Some(len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHS: Chs = Chs {
        cylinders: 16,
        heads: 16,
        sectors: 63,
    };
    const ID: Identity = Identity {
        pci_bdf: 0x0018,
        scsi_id: 0,
        lun: 2,
    };

    #[test]
    fn too_small_buffer_is_refused() {
        let mut o = [0; 74];
        assert_eq!(fill(0x18, &CHS, 16128, 512, &ID, &mut o), None);
    }

    #[test]
    fn sizes_follow_the_caller_buffer() {
        let mut o = [0; 74];
        for (size, want) in [
            (0x1a, 26),
            (0x1c, 26),
            (0x1e, 30),
            (0x40, 30),
            (0x42, 66),
            (0x4a, 74),
            (0x50, 66),
        ] {
            assert_eq!(
                fill(size, &CHS, 16128, 512, &ID, &mut o),
                Some(want),
                "size {size:#x}"
            );
            assert_eq!(u16::from_le_bytes([o[0], o[1]]) as usize, want);
        }
    }

    #[test]
    fn edd3_path_and_checksum() {
        let mut o = [0; 74];
        let n = fill(0x42, &CHS, 16128, 512, &ID, &mut o).unwrap();
        assert_eq!(&o[36..40], b"PCI ");
        assert_eq!(&o[40..48], b"SCSI    ");
        assert_eq!(&o[48..52], &[0, 3, 0, 0]); // 00:03.0
        assert_eq!(
            o[56..66]
                .iter()
                .fold(0u8, |a, b| a.wrapping_add(*b))
                .wrapping_add(o[30..56].iter().fold(0u8, |a, b| a.wrapping_add(*b))),
            0
        );
        assert_eq!(o[58], 2); // LUN
        assert_eq!(n, 66);
        assert_eq!(u64::from_le_bytes(o[16..24].try_into().unwrap()), 16128);
        assert_eq!(
            u32::from_le_bytes(o[26..30].try_into().unwrap()),
            0xffff_ffff
        );
    }
}
