//! The block-device boundary under INT 13h. INT 13h knows nothing about the
//! transport behind it (fw_cfg test disk, SRP over RoCEv2, ...).

use crate::mem::PhysMem;

/// Why a transfer failed, in terms INT 13h can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoError {
    /// The transport did not answer in time (INT 13h status 0x80).
    Timeout,
    /// The device is not ready or the connection is gone (status 0xAA).
    NotReady,
    /// The device reported a medium or data error (status 0x04 for reads,
    /// 0x0C for anything else).
    Media,
    /// Writes are refused (status 0x03).
    WriteProtected,
}

/// Where the device sits, for the EDD 3.0 device path (AH=48).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Identity {
    /// PCI bus/devfn of the adapter that carries the device (our NIC).
    pub pci_bdf: u16,
    /// SCSI target ID.
    pub scsi_id: u16,
    /// SCSI LUN.
    pub lun: u64,
}

/// A disk INT 13h can serve. Buffers are physical addresses: backends that
/// DMA (fw_cfg, NICs) write straight into the caller's buffer.
pub trait BlockDevice {
    /// Bytes per sector.
    fn sector_size(&self) -> u32;
    /// Number of sectors.
    fn sectors(&self) -> u64;
    /// Writes are refused.
    fn read_only(&self) -> bool;
    /// Location for EDD.
    fn identity(&self) -> Identity;
    /// Reads `count` sectors at `lba` into physical memory at `buf`.
    fn read<M: PhysMem>(
        &mut self,
        mem: &mut M,
        lba: u64,
        count: u32,
        buf: u32,
    ) -> Result<(), IoError>;
    /// Writes `count` sectors at `lba` from physical memory at `buf`.
    fn write<M: PhysMem>(
        &mut self,
        mem: &mut M,
        lba: u64,
        count: u32,
        buf: u32,
    ) -> Result<(), IoError>;
    /// Makes completed writes durable.
    fn flush(&mut self) -> Result<(), IoError>;
    /// INT 13h AH=00: recover the device (reconnect if needed).
    fn reset(&mut self) -> Result<(), IoError>;
}
