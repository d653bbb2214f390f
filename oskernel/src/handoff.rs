//! The handoff from the ROM: find the SRP boot firmware table (sBFT) the ROM
//! left in reserved base memory and turn it into a [`BootTarget`], the one
//! description of the session the OS driver must re-establish.
//!
//! The platform maps physical memory below 0xA0000 (or just the EBDA/low
//! region) and hands us the bytes; we never touch memory ourselves. Tables
//! start on 16-byte boundaries (how an OS scans low memory for ACPI-style
//! tables). Nothing in the window is trusted: every candidate goes through
//! `fabric::wire::sbft`'s checks, and the reason a candidate was refused is
//! kept so that "no usable table" says *why* ([`TableError`]).
//!
//! A table without the srpboot RoCE subtable (iPXE's layout, IB only) is
//! valid but useless here: over RoCE we need MACs, IPs and the rdma_cm port,
//! which only that subtable carries. A RoCE table wins over such a table
//! wherever the two lie.

use core::fmt;

use fabric::wire::cm::PathMtu;
use fabric::wire::sbft::{Packet, SbftRepr, SIGNATURE};
use fabric::wire::scsi::Lun;
use fabric::wire::srp::PortId;
use fabric::wire::{EthernetAddress, Ipv4Address};

/// Table alignment in memory (what the ROM guarantees and an OS scans).
pub const ALIGN: usize = 16;

/// Where the ROM puts the table: its low copy sits in the top of base
/// memory, below the EBDA. The window an OS should map and scan.
pub const LOW_MEMORY: core::ops::Range<u64> = 0x8_0000..0xA_0000;

/// Everything the OS driver needs to log in again as the ROM did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootTarget {
    /// Initiator port ID the ROM logged in with (the target's ACL and its
    /// "same initiator replaces the old channel" rule both key on it).
    pub initiator_port_id: PortId,
    /// Target port ID the ROM logged in to.
    pub target_port_id: PortId,
    /// The boot LUN.
    pub lun: Lun,
    /// The ROM's NIC; the OS driver must use the same NIC (and so MAC).
    pub initiator_mac: EthernetAddress,
    /// Our IPv4 address.
    pub initiator_ip: Ipv4Address,
    /// The target's MAC as the ROM's ARP resolved it.
    pub target_mac: EthernetAddress,
    /// The target's IPv4 address.
    pub target_ip: Ipv4Address,
    /// The target's rdma_cm port.
    pub rdma_cm_port: u16,
    /// The target's service GUID.
    pub target_guid: u64,
    /// Path MTU (bytes) the ROM's session used, i.e. one the path is known
    /// to carry.
    pub path_mtu: usize,
    /// The RC QPN the ROM used: the OS driver must log in from another one
    /// or the target's CM takes the REQ for a stale one.
    pub rom_qpn: u32,
    /// Our prefix length (0: the table does not say — version 1 — and the
    /// target is taken to be on the link).
    pub prefix_len: u8,
    /// The router towards the target, if the ROM had one.
    pub gateway: Option<Ipv4Address>,
}

/// Why no usable table was found. Each carries the offset (in the window)
/// of the candidate it describes; when several candidates were refused, the
/// one that got furthest through the checks is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// No `sBFT` signature on any 16-byte boundary.
    NotFound,
    /// The table's length is shorter than its header or runs past the window.
    Truncated { at: usize },
    /// Subtable offsets point outside the table or overlap, a required
    /// subtable is missing, or the RoCE subtable's length/version is wrong.
    BadLayout { at: usize },
    /// The bytes do not sum to zero: the table was overwritten or torn.
    BadChecksum { at: usize },
    /// A valid table without the RoCE subtable (an IB-only, iPXE-style
    /// table): it cannot say how to reach the target over RoCE.
    NoRoce { at: usize },
    /// The RoCE subtable holds a value no login can use (`field` names it).
    Unusable { at: usize, field: &'static str },
}

impl TableError {
    /// How far through the checks the candidate got (higher wins).
    fn rank(&self) -> u8 {
        match self {
            TableError::NotFound => 0,
            TableError::Truncated { .. } => 1,
            TableError::BadLayout { .. } => 2,
            TableError::BadChecksum { .. } => 3,
            TableError::Unusable { .. } => 4,
            TableError::NoRoce { .. } => 5,
        }
    }
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::NotFound => write!(f, "no sBFT in low memory (not booted by srpboot?)"),
            TableError::Truncated { at } => {
                write!(f, "sBFT at +{at:#x}: length outside the table window")
            }
            TableError::BadLayout { at } => write!(f, "sBFT at +{at:#x}: subtables misplaced"),
            TableError::BadChecksum { at } => write!(f, "sBFT at +{at:#x}: bad checksum"),
            TableError::NoRoce { at } => write!(f, "sBFT at +{at:#x}: no RoCE subtable"),
            TableError::Unusable { at, field } => {
                write!(f, "sBFT at +{at:#x}: unusable {field}")
            }
        }
    }
}

/// Scans `window` (physical memory from some base, mapped by the platform)
/// for the boot table and returns its offset in the window and the target.
///
/// # Errors
/// [`TableError`]: nothing found, or why the best candidate was refused.
pub fn find(window: &[u8]) -> Result<(usize, BootTarget), TableError> {
    let mut best = TableError::NotFound;
    for at in (0..window.len()).step_by(ALIGN) {
        let b = &window[at..];
        if b.len() < SIGNATURE.len() || b[..SIGNATURE.len()] != SIGNATURE {
            continue;
        }
        match candidate(b, at) {
            Ok(t) => return Ok((at, t)),
            Err(e) if e.rank() > best.rank() => best = e,
            Err(_) => {}
        }
    }
    Err(best)
}

/// Checks one candidate starting at `b[0]` (offset `at` in the window).
fn candidate(b: &[u8], at: usize) -> Result<BootTarget, TableError> {
    // Length first, so the later errors are about a table that is all there.
    let header = Packet::new_unchecked(b);
    if b.len() < SbftRepr::HEADER_LEN {
        return Err(TableError::Truncated { at });
    }
    let len = header.length() as usize;
    if len < SbftRepr::HEADER_LEN || len > b.len() {
        return Err(TableError::Truncated { at });
    }
    let p = Packet::new_checked(&b[..len]).map_err(|_| TableError::BadLayout { at })?;
    if !p.verify_checksum() {
        return Err(TableError::BadChecksum { at });
    }
    let repr = SbftRepr::parse(&p).map_err(|_| TableError::BadLayout { at })?;
    target_of(&repr, at)
}

/// The target a parsed table describes.
fn target_of(repr: &SbftRepr, at: usize) -> Result<BootTarget, TableError> {
    let r = repr.roce.ok_or(TableError::NoRoce { at })?;
    let unusable = |field| TableError::Unusable { at, field };
    let path_mtu = PathMtu::from(r.path_mtu)
        .bytes()
        .ok_or(unusable("path MTU"))?;
    if r.rdma_cm_port == 0 {
        return Err(unusable("rdma_cm port"));
    }
    if r.target_ip.is_unspecified() || r.initiator_ip.is_unspecified() {
        return Err(unusable("IPv4 address"));
    }
    if !r.initiator_mac.is_unicast() {
        return Err(unusable("initiator MAC"));
    }
    Ok(BootTarget {
        initiator_port_id: repr.initiator_port_id,
        target_port_id: repr.target_port_id,
        lun: repr.lun,
        initiator_mac: r.initiator_mac,
        initiator_ip: r.initiator_ip,
        target_mac: r.target_mac,
        target_ip: r.target_ip,
        rdma_cm_port: r.rdma_cm_port,
        target_guid: r.target_guid,
        path_mtu,
        rom_qpn: r.qpn_hint,
        prefix_len: r.prefix_len,
        gateway: r.gateway,
    })
}
