//! The srpboot config block: boot parameters embedded in the ROM image.
//!
//! The ROM links one 256-byte block, 16-byte aligned, holding
//! [`EMPTY_CONFIG_BLOCK`]; `romtool config` finds it by scanning 16-byte
//! aligned offsets for the magic and rewrites it in place. Because the block
//! carries its own checksum (its bytes sum to 0), rewriting it leaves the
//! image checksum unchanged.
//!
//! Layout, version 1. Multi-byte integers are little-endian unless noted;
//! addresses, LUN and GUID are stored as they appear on the wire.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x00 | 8 | magic `$SRPCFG\0` |
//! | 0x08 | 2 | version = 1 |
//! | 0x0A | 2 | length = 256 |
//! | 0x0C | 2 | flags: bit 0 = configured; other bits reserved (0) |
//! | 0x0E | 1 | checksum: all 256 bytes sum to 0 mod 256 |
//! | 0x0F | 1 | reserved (0) |
//! | 0x10 | 4 | our IPv4 address |
//! | 0x14 | 1 | our prefix length, 1..=32 |
//! | 0x15 | 3 | reserved (0) |
//! | 0x18 | 4 | gateway IPv4 address, 0.0.0.0 = none (must be on-link) |
//! | 0x1C | 4 | target IPv4 address |
//! | 0x20 | 2 | target port (RDMA CM port the service ID derives from; default 5000) |
//! | 0x22 | 6 | reserved (0), so the 8-byte fields below are 8-aligned |
//! | 0x28 | 8 | LUN, the 8 bytes that go into SRP_CMD |
//! | 0x30 | 8 | target port GUID, big-endian; 0 = derive from the target MAC (EUI-64) |
//! | 0x38 | 200 | target URI as given to romtool, ASCII, NUL-padded (display only) |
//!
//! An unconfigured block (flag bit 0 clear) has every field after the
//! header zero. A configured one has a non-zero local address, target
//! address and port.
//!
//! ## Embedding it in the ROM
//!
//! ```ignore
//! #[used]
//! #[link_section = ".rodata.srpboot_config"]
//! static SRPBOOT_CONFIG: romfmt::config::AlignedConfigBlock = romfmt::config::AlignedConfigBlock::EMPTY;
//!
//! // romtool changes these bytes after linking, so the compiler must not
//! // fold the initializer into the code: read through black_box.
//! let bytes: &[u8; 256] = &core::hint::black_box(&SRPBOOT_CONFIG).0;
//! match romfmt::config::ConfigRepr::parse(bytes) { .. }
//! ```
//!
//! The ROM must hold exactly one block: `verify` reports a second one.

use core::fmt;
use core::net::Ipv4Addr;

use crate::field::{self, le16, set_le16, sum8, TooShort};

/// The 8 bytes that start a block.
pub const MAGIC: [u8; 8] = *b"$SRPCFG\0";
/// The layout this crate reads and writes.
pub const VERSION: u16 = 1;
/// Total block length in bytes.
pub const BLOCK_LEN: usize = 256;
/// Blocks are found only at offsets that are multiples of this.
pub const ALIGN: usize = 16;
/// Target port when the URI gives none (policy: the srp-target default).
pub const DEFAULT_TARGET_PORT: u16 = 5000;
/// Flag bit 0: the block holds boot parameters.
pub const FLAG_CONFIGURED: u16 = 1 << 0;
/// Longest URI text; the field always keeps a NUL after it.
pub const URI_MAX_LEN: usize = offsets::URI.end - offsets::URI.start - 1;

/// The magic as one integer. Checking it this way compiles to immediate
/// compares, so the ROM's own code never stores the magic as data that a
/// scan could mistake for a second block.
const MAGIC_LE: u64 = u64::from_le_bytes(MAGIC);

mod offsets {
    use crate::field::Field;
    pub const MAGIC: Field = 0x00..0x08;
    pub const VERSION: Field = 0x08..0x0a;
    pub const LENGTH: Field = 0x0a..0x0c;
    pub const FLAGS: Field = 0x0c..0x0e;
    pub const CHECKSUM: usize = 0x0e;
    pub const RESERVED0: Field = 0x0f..0x10;
    pub const LOCAL_IP: Field = 0x10..0x14;
    pub const PREFIX_LEN: usize = 0x14;
    pub const RESERVED1: Field = 0x15..0x18;
    pub const GATEWAY: Field = 0x18..0x1c;
    pub const TARGET_IP: Field = 0x1c..0x20;
    pub const TARGET_PORT: Field = 0x20..0x22;
    pub const RESERVED2: Field = 0x22..0x28;
    pub const LUN: Field = 0x28..0x30;
    pub const TARGET_GUID: Field = 0x30..0x38;
    pub const URI: Field = 0x38..0x100;
    /// Everything after the header; zero in an unconfigured block.
    pub const BODY: Field = 0x10..0x100;
    pub const RESERVED: [Field; 3] = [RESERVED0, RESERVED1, RESERVED2];
}

static_assertions::const_assert_eq!(offsets::URI.end, BLOCK_LEN);
static_assertions::const_assert_eq!(offsets::LUN.start % 8, 0);
static_assertions::const_assert_eq!(offsets::TARGET_GUID.start % 8, 0);
static_assertions::const_assert_eq!(URI_MAX_LEN, 199);
static_assertions::const_assert_eq!(BLOCK_LEN % ALIGN, 0);

/// A valid, unconfigured block: what the ROM links in.
pub const EMPTY_CONFIG_BLOCK: [u8; BLOCK_LEN] = empty_block();

const fn empty_block() -> [u8; BLOCK_LEN] {
    let mut b = [0u8; BLOCK_LEN];
    let mut i = 0;
    while i < MAGIC.len() {
        b[i] = MAGIC[i];
        i += 1;
    }
    let version = VERSION.to_le_bytes();
    let length = (BLOCK_LEN as u16).to_le_bytes();
    b[offsets::VERSION.start] = version[0];
    b[offsets::VERSION.start + 1] = version[1];
    b[offsets::LENGTH.start] = length[0];
    b[offsets::LENGTH.start + 1] = length[1];
    let mut sum = 0u8;
    i = 0;
    while i < BLOCK_LEN {
        sum = sum.wrapping_add(b[i]);
        i += 1;
    }
    b[offsets::CHECKSUM] = 0u8.wrapping_sub(sum);
    b
}

/// The block with the alignment the scan requires, for the ROM's static.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct AlignedConfigBlock(pub [u8; BLOCK_LEN]);

impl AlignedConfigBlock {
    pub const EMPTY: AlignedConfigBlock = AlignedConfigBlock(EMPTY_CONFIG_BLOCK);
}

static_assertions::const_assert_eq!(core::mem::size_of::<AlignedConfigBlock>(), BLOCK_LEN);
static_assertions::const_assert_eq!(core::mem::align_of::<AlignedConfigBlock>(), ALIGN);

/// Why a config block was rejected. One variant per check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    Truncated {
        len: usize,
    },
    BadMagic,
    BadVersion(u16),
    BadLength(u16),
    BadChecksum {
        sum: u8,
    },
    ReservedFlags(u16),
    ReservedNotZero {
        offset: usize,
    },
    /// An unconfigured block with a non-zero byte after the header.
    UnconfiguredNotBlank {
        offset: usize,
    },
    LocalIpUnset,
    BadPrefixLen(u8),
    TargetIpUnset,
    TargetPortZero,
    GatewayOffLink {
        gateway: Ipv4Addr,
        local: Ipv4Addr,
        prefix_len: u8,
    },
    UriNotText {
        offset: usize,
    },
    UriNotPadded {
        offset: usize,
    },
    UriTooLong {
        len: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConfigError::*;
        match *self {
            Truncated { len } => {
                write!(
                    f,
                    "config block is cut off: {len} of {BLOCK_LEN} bytes present"
                )
            }
            BadMagic => f.write_str("config block does not start with $SRPCFG"),
            BadVersion(v) => write!(
                f,
                "config block version {v} is not supported (expected {VERSION})"
            ),
            BadLength(l) => write!(f, "config block length field is {l}, expected {BLOCK_LEN}"),
            BadChecksum { sum } => {
                write!(
                    f,
                    "config block checksum is wrong: bytes sum to 0x{sum:02x}, not 0"
                )
            }
            ReservedFlags(v) => write!(f, "config block sets reserved flag bits 0x{v:04x}"),
            ReservedNotZero { offset } => {
                write!(
                    f,
                    "config block reserved byte at +0x{offset:02x} is not zero"
                )
            }
            UnconfiguredNotBlank { offset } => write!(
                f,
                "config block is marked unconfigured but has data at +0x{offset:02x}"
            ),
            LocalIpUnset => f.write_str("config block has no local IPv4 address"),
            BadPrefixLen(p) => write!(f, "config block prefix length /{p} is not in 1..=32"),
            TargetIpUnset => f.write_str("config block has no target IPv4 address"),
            TargetPortZero => f.write_str("config block target port is 0"),
            GatewayOffLink {
                gateway,
                local,
                prefix_len,
            } => write!(
                f,
                "gateway {gateway} is not inside the local network {local}/{prefix_len}"
            ),
            UriNotText { offset } => write!(
                f,
                "config block URI has a non-printable byte at +0x{offset:02x}"
            ),
            UriNotPadded { offset } => write!(
                f,
                "config block URI has data after its NUL at +0x{offset:02x}"
            ),
            UriTooLong { len } => write!(f, "URI is {len} bytes, at most {URI_MAX_LEN} fit"),
        }
    }
}

/// An 8-byte SCSI LUN as carried in SRP_CMD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lun(pub [u8; 8]);

impl Lun {
    /// Encodes a LUN number with SAM single-level addressing: peripheral
    /// addressing below 256, flat space addressing below 16384 (the form
    /// Linux's LIO target reports). `None` for larger numbers.
    pub fn from_index(index: u16) -> Option<Lun> {
        let mut bytes = [0u8; 8];
        match index {
            0..=255 => bytes[1] = index as u8,
            256..=0x3fff => bytes[..2].copy_from_slice(&(0x4000 | index).to_be_bytes()),
            _ => return None,
        }
        Some(Lun(bytes))
    }

    /// The LUN number, if the bytes are a single-level peripheral or flat
    /// space address (the inverse of [`Lun::from_index`]).
    pub fn index(&self) -> Option<u16> {
        if self.0[2..].iter().any(|&b| b != 0) {
            return None;
        }
        let word = u16::from_be_bytes([self.0[0], self.0[1]]);
        match word >> 14 {
            0 if self.0[0] == 0 => Some(word),
            1 if word & 0x3fff >= 256 => Some(word & 0x3fff),
            _ => None,
        }
    }
}

impl fmt::Display for Lun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(index) = self.index() {
            return write!(f, "{index}");
        }
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            write!(f, "{:02x}{:02x}", pair[0], pair[1])?;
        }
        Ok(())
    }
}

/// A read/write view of a config block.
#[derive(Debug, Clone)]
pub struct ConfigBlock<T: AsRef<[u8]>> {
    buffer: T,
}

fn ipv4(bytes: &[u8], field: field::Field) -> Ipv4Addr {
    let b = &bytes[field];
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

impl<T: AsRef<[u8]>> ConfigBlock<T> {
    /// Wraps a buffer without checking its length; accessors may panic on a
    /// buffer shorter than [`BLOCK_LEN`].
    pub const fn new_unchecked(buffer: T) -> Self {
        ConfigBlock { buffer }
    }

    /// Wraps a buffer after checking it holds a whole block.
    pub fn new_checked(buffer: T) -> Result<Self, ConfigError> {
        let block = Self::new_unchecked(buffer);
        block.check_len()?;
        Ok(block)
    }

    pub fn check_len(&self) -> Result<(), ConfigError> {
        field::check_len(self.buffer.as_ref(), BLOCK_LEN)
            .map_err(|TooShort { len, .. }| ConfigError::Truncated { len })
    }

    fn bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..BLOCK_LEN]
    }

    pub fn has_magic(&self) -> bool {
        has_magic(self.bytes())
    }

    pub fn version(&self) -> u16 {
        le16(self.bytes(), offsets::VERSION)
    }

    pub fn length(&self) -> u16 {
        le16(self.bytes(), offsets::LENGTH)
    }

    pub fn flags(&self) -> u16 {
        le16(self.bytes(), offsets::FLAGS)
    }

    pub fn is_configured(&self) -> bool {
        self.flags() & FLAG_CONFIGURED != 0
    }

    pub fn checksum(&self) -> u8 {
        self.bytes()[offsets::CHECKSUM]
    }

    /// Byte sum of the block; 0 when the checksum is right.
    pub fn sum(&self) -> u8 {
        sum8(self.bytes())
    }

    pub fn local_ip(&self) -> Ipv4Addr {
        ipv4(self.bytes(), offsets::LOCAL_IP)
    }

    pub fn prefix_len(&self) -> u8 {
        self.bytes()[offsets::PREFIX_LEN]
    }

    /// The gateway, or `None` when the field is 0.0.0.0.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        Some(ipv4(self.bytes(), offsets::GATEWAY)).filter(|ip| !ip.is_unspecified())
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        ipv4(self.bytes(), offsets::TARGET_IP)
    }

    pub fn target_port(&self) -> u16 {
        le16(self.bytes(), offsets::TARGET_PORT)
    }

    pub fn lun(&self) -> Lun {
        let mut lun = [0u8; 8];
        lun.copy_from_slice(&self.bytes()[offsets::LUN]);
        Lun(lun)
    }

    /// The target port GUID, or `None` when it is to be derived from the
    /// target's MAC address.
    pub fn target_guid(&self) -> Option<u64> {
        let mut guid = [0u8; 8];
        guid.copy_from_slice(&self.bytes()[offsets::TARGET_GUID]);
        Some(u64::from_be_bytes(guid)).filter(|&g| g != 0)
    }

    /// The URI text up to its NUL (or the whole field if there is none).
    pub fn uri(&self) -> &[u8] {
        let field = &self.bytes()[offsets::URI];
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        &field[..end]
    }

    /// Checks everything a reader relies on: header, checksum, reserved
    /// bits, and the field rules for configured and unconfigured blocks.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.check_len()?;
        self.check_header()?;
        if self.is_configured() {
            self.check_fields()
        } else {
            match self.bytes()[offsets::BODY].iter().position(|&b| b != 0) {
                Some(i) => Err(ConfigError::UnconfiguredNotBlank {
                    offset: offsets::BODY.start + i,
                }),
                None => Ok(()),
            }
        }
    }

    fn check_header(&self) -> Result<(), ConfigError> {
        if !self.has_magic() {
            return Err(ConfigError::BadMagic);
        }
        if self.version() != VERSION {
            return Err(ConfigError::BadVersion(self.version()));
        }
        if usize::from(self.length()) != BLOCK_LEN {
            return Err(ConfigError::BadLength(self.length()));
        }
        if self.sum() != 0 {
            return Err(ConfigError::BadChecksum { sum: self.sum() });
        }
        if self.flags() & !FLAG_CONFIGURED != 0 {
            return Err(ConfigError::ReservedFlags(self.flags() & !FLAG_CONFIGURED));
        }
        for field in offsets::RESERVED {
            if let Some(i) = self.bytes()[field.clone()].iter().position(|&b| b != 0) {
                return Err(ConfigError::ReservedNotZero {
                    offset: field.start + i,
                });
            }
        }
        Ok(())
    }

    fn check_fields(&self) -> Result<(), ConfigError> {
        check_network(self.local_ip(), self.prefix_len(), self.gateway())?;
        if self.target_ip().is_unspecified() {
            return Err(ConfigError::TargetIpUnset);
        }
        if self.target_port() == 0 {
            return Err(ConfigError::TargetPortZero);
        }
        check_uri_field(&self.bytes()[offsets::URI])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ConfigBlock<T> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[..BLOCK_LEN]
    }

    /// Recomputes the checksum byte over the block.
    pub fn fill_checksum(&mut self) {
        let b = self.bytes_mut();
        b[offsets::CHECKSUM] = 0;
        b[offsets::CHECKSUM] = field::fix_byte(sum8(b), 0);
    }
}

fn has_magic(bytes: &[u8]) -> bool {
    match bytes.get(offsets::MAGIC) {
        Some(m) => u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]]) == MAGIC_LE,
        None => false,
    }
}

fn check_network(
    local: Ipv4Addr,
    prefix_len: u8,
    gateway: Option<Ipv4Addr>,
) -> Result<(), ConfigError> {
    if local.is_unspecified() {
        return Err(ConfigError::LocalIpUnset);
    }
    if !(1..=32).contains(&prefix_len) {
        return Err(ConfigError::BadPrefixLen(prefix_len));
    }
    if let Some(gateway) = gateway {
        let mask = u32::MAX << (32 - u32::from(prefix_len));
        if u32::from(gateway) & mask != u32::from(local) & mask {
            return Err(ConfigError::GatewayOffLink {
                gateway,
                local,
                prefix_len,
            });
        }
    }
    Ok(())
}

/// Printable ASCII up to the first NUL, zeros after it, and a NUL present.
fn check_uri_field(field: &[u8]) -> Result<(), ConfigError> {
    let Some(end) = field.iter().position(|&b| b == 0) else {
        return Err(ConfigError::UriTooLong { len: field.len() });
    };
    if let Some(i) = field[..end].iter().position(|b| !(0x20..0x7f).contains(b)) {
        return Err(ConfigError::UriNotText {
            offset: offsets::URI.start + i,
        });
    }
    if let Some(i) = field[end..].iter().position(|&b| b != 0) {
        return Err(ConfigError::UriNotPadded {
            offset: offsets::URI.start + end + i,
        });
    }
    Ok(())
}

/// The boot parameters of a configured block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigRepr<'a> {
    pub local_ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub target_ip: Ipv4Addr,
    pub target_port: u16,
    pub lun: Lun,
    /// `None`: derive the target port GUID from the target's MAC.
    pub target_guid: Option<u64>,
    /// The URI the parameters came from, for display.
    pub uri: &'a str,
}

impl<'a> ConfigRepr<'a> {
    /// Reads a block. `Ok(None)` for a valid unconfigured block; an error
    /// for anything that fails [`ConfigBlock::check`]. Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Option<ConfigRepr<'a>>, ConfigError> {
        let block = ConfigBlock::new_checked(bytes)?;
        block.check()?;
        if !block.is_configured() {
            return Ok(None);
        }
        let uri_field = &bytes[offsets::URI];
        let uri_len = uri_field.iter().position(|&b| b == 0).unwrap_or(0);
        // check() accepted only printable ASCII, so this cannot fail; an
        // error is still mapped rather than unwrapped.
        let uri =
            core::str::from_utf8(&uri_field[..uri_len]).map_err(|e| ConfigError::UriNotText {
                offset: offsets::URI.start + e.valid_up_to(),
            })?;
        Ok(Some(ConfigRepr {
            local_ip: block.local_ip(),
            prefix_len: block.prefix_len(),
            gateway: block.gateway(),
            target_ip: block.target_ip(),
            target_port: block.target_port(),
            lun: block.lun(),
            target_guid: block.target_guid(),
            uri,
        }))
    }

    /// Checks the values against the rules [`ConfigBlock::check`] applies.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_network(self.local_ip, self.prefix_len, self.gateway)?;
        if self.target_ip.is_unspecified() {
            return Err(ConfigError::TargetIpUnset);
        }
        if self.target_port == 0 {
            return Err(ConfigError::TargetPortZero);
        }
        if self.uri.len() > URI_MAX_LEN {
            return Err(ConfigError::UriTooLong {
                len: self.uri.len(),
            });
        }
        if let Some(i) = self.uri.bytes().position(|b| !(0x20..0x7f).contains(&b)) {
            return Err(ConfigError::UriNotText {
                offset: offsets::URI.start + i,
            });
        }
        Ok(())
    }

    /// Writes a complete configured block (header, fields, zeroed reserved
    /// bytes, checksum) into the first [`BLOCK_LEN`] bytes of `buffer`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<(), ConfigError> {
        self.validate()?;
        let mut block = ConfigBlock::new_checked(buffer)?;
        let b = block.bytes_mut();
        b.copy_from_slice(&EMPTY_CONFIG_BLOCK);
        set_le16(b, offsets::FLAGS, FLAG_CONFIGURED);
        b[offsets::LOCAL_IP].copy_from_slice(&self.local_ip.octets());
        b[offsets::PREFIX_LEN] = self.prefix_len;
        b[offsets::GATEWAY]
            .copy_from_slice(&self.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
        b[offsets::TARGET_IP].copy_from_slice(&self.target_ip.octets());
        set_le16(b, offsets::TARGET_PORT, self.target_port);
        b[offsets::LUN].copy_from_slice(&self.lun.0);
        b[offsets::TARGET_GUID].copy_from_slice(&self.target_guid.unwrap_or(0).to_be_bytes());
        let uri = offsets::URI.start;
        b[uri..uri + self.uri.len()].copy_from_slice(self.uri.as_bytes());
        block.fill_checksum();
        Ok(())
    }
}

/// Writes an unconfigured block into the first [`BLOCK_LEN`] bytes.
pub fn emit_unconfigured(buffer: &mut [u8]) -> Result<(), ConfigError> {
    let _ = ConfigBlock::new_checked(&*buffer)?;
    buffer[..BLOCK_LEN].copy_from_slice(&EMPTY_CONFIG_BLOCK);
    Ok(())
}

/// Offsets of every 16-byte aligned magic in `rom`, first to last. A hit is
/// only a candidate: check it with [`ConfigBlock::check`].
pub fn find_blocks(rom: &[u8]) -> impl Iterator<Item = usize> + '_ {
    (0..rom.len())
        .step_by(ALIGN)
        .filter(move |&at| has_magic(&rom[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ConfigRepr<'static> {
        ConfigRepr {
            local_ip: Ipv4Addr::new(10, 0, 0, 2),
            prefix_len: 24,
            gateway: Some(Ipv4Addr::new(10, 0, 0, 1)),
            target_ip: Ipv4Addr::new(10, 0, 0, 9),
            target_port: 5000,
            lun: Lun::from_index(1).unwrap(),
            target_guid: Some(0x0002_c903_0000_1234),
            uri: "srp://10.0.0.9/1?guid=0x0002c90300001234",
        }
    }

    fn emitted() -> [u8; BLOCK_LEN] {
        let mut buf = [0x5Au8; BLOCK_LEN];
        sample().emit(&mut buf).unwrap();
        buf
    }

    #[test]
    fn empty_block_is_valid_and_unconfigured() {
        let b = ConfigBlock::new_checked(&EMPTY_CONFIG_BLOCK[..]).unwrap();
        assert_eq!(&EMPTY_CONFIG_BLOCK[..12], b"$SRPCFG\0\x01\x00\x00\x01");
        assert_eq!(b.sum(), 0);
        assert_eq!(b.check(), Ok(()));
        assert_eq!(ConfigRepr::parse(&EMPTY_CONFIG_BLOCK), Ok(None));
        assert_eq!(AlignedConfigBlock::EMPTY.0, EMPTY_CONFIG_BLOCK);
    }

    #[test]
    fn golden_configured_block() {
        let b = emitted();
        let mut golden = [0u8; BLOCK_LEN];
        golden[..16].copy_from_slice(b"$SRPCFG\0\x01\x00\x00\x01\x01\x00\x00\x00");
        golden[0x10..0x18].copy_from_slice(&[10, 0, 0, 2, 24, 0, 0, 0]);
        golden[0x18..0x28]
            .copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 9, 0x88, 0x13, 0, 0, 0, 0, 0, 0]);
        golden[0x28..0x38].copy_from_slice(&[
            0, 1, 0, 0, 0, 0, 0, 0, 0x00, 0x02, 0xc9, 0x03, 0, 0, 0x12, 0x34,
        ]);
        let uri = sample().uri.as_bytes();
        golden[0x38..0x38 + uri.len()].copy_from_slice(uri);
        golden[0x0e] = 0u8.wrapping_sub(sum8(&golden));
        assert_eq!(b, golden);
        assert_eq!(ConfigRepr::parse(&b), Ok(Some(sample())));
    }

    #[test]
    fn optional_fields_round_trip_as_none() {
        let repr = ConfigRepr {
            gateway: None,
            target_guid: None,
            uri: "",
            ..sample()
        };
        let mut buf = [0u8; BLOCK_LEN];
        repr.emit(&mut buf).unwrap();
        assert_eq!(ConfigRepr::parse(&buf), Ok(Some(repr)));
    }

    /// Applies `damage` to a good block, fixes the checksum, expects `err`.
    fn reject(damage: impl FnOnce(&mut [u8; BLOCK_LEN]), err: ConfigError) {
        let mut b = emitted();
        damage(&mut b);
        ConfigBlock::new_unchecked(&mut b[..]).fill_checksum();
        assert_eq!(ConfigRepr::parse(&b), Err(err));
    }

    #[test]
    fn rejects_each_rule() {
        use ConfigError::*;
        assert_eq!(
            ConfigRepr::parse(&emitted()[..255]),
            Err(Truncated { len: 255 })
        );
        assert_eq!(ConfigRepr::parse(&[]), Err(Truncated { len: 0 }));
        reject(|b| b[0] = b'#', BadMagic);
        reject(|b| b[8] = 2, BadVersion(2));
        reject(|b| b[0x0b] = 2, BadLength(0x200));
        reject(|b| b[0x0c] = 0x03, ReservedFlags(2));
        reject(|b| b[0x0f] = 1, ReservedNotZero { offset: 0x0f });
        reject(|b| b[0x16] = 1, ReservedNotZero { offset: 0x16 });
        reject(|b| b[0x27] = 1, ReservedNotZero { offset: 0x27 });
        reject(|b| b[0x10..0x14].fill(0), LocalIpUnset);
        reject(|b| b[0x14] = 0, BadPrefixLen(0));
        reject(|b| b[0x14] = 33, BadPrefixLen(33));
        let off_link = GatewayOffLink {
            gateway: Ipv4Addr::new(192, 0, 0, 1),
            local: Ipv4Addr::new(10, 0, 0, 2),
            prefix_len: 24,
        };
        reject(|b| b[0x18] = 192, off_link);
        reject(|b| b[0x1c..0x20].fill(0), TargetIpUnset);
        reject(|b| b[0x20..0x22].fill(0), TargetPortZero);
        reject(|b| b[0x39] = 0x07, UriNotText { offset: 0x39 });
        reject(|b| b[0xf0] = b'x', UriNotPadded { offset: 0xf0 });
        reject(|b| b[0x38..].fill(b'u'), UriTooLong { len: 200 });
        let mut b = emitted();
        b[0x0e] = b[0x0e].wrapping_add(1);
        assert_eq!(ConfigRepr::parse(&b), Err(BadChecksum { sum: 1 }));
    }

    #[test]
    fn error_lines_are_single_lines() {
        use ConfigError::*;
        for e in [
            Truncated { len: 3 },
            BadMagic,
            BadChecksum { sum: 7 },
            UriTooLong { len: 300 },
        ] {
            let line = e.to_string();
            assert!(!line.is_empty() && !line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn rejects_leftovers_in_unconfigured_blocks() {
        let mut b = emitted();
        b[0x0c] = 0;
        ConfigBlock::new_unchecked(&mut b[..]).fill_checksum();
        assert_eq!(
            ConfigRepr::parse(&b),
            Err(ConfigError::UnconfiguredNotBlank { offset: 0x10 })
        );
    }

    #[test]
    fn rejects_bad_reprs_before_writing() {
        let mut buf = EMPTY_CONFIG_BLOCK;
        let long = "x".repeat(URI_MAX_LEN + 1);
        let repr = ConfigRepr {
            uri: &long,
            ..sample()
        };
        assert_eq!(
            repr.emit(&mut buf),
            Err(ConfigError::UriTooLong { len: 200 })
        );
        let repr = ConfigRepr {
            local_ip: Ipv4Addr::UNSPECIFIED,
            ..sample()
        };
        assert_eq!(repr.emit(&mut buf), Err(ConfigError::LocalIpUnset));
        assert_eq!(
            sample().emit(&mut buf[..100]),
            Err(ConfigError::Truncated { len: 100 })
        );
        assert_eq!(buf, EMPTY_CONFIG_BLOCK, "nothing written on error");
        let full = "y".repeat(URI_MAX_LEN);
        assert!(ConfigRepr {
            uri: &full,
            ..sample()
        }
        .emit(&mut buf)
        .is_ok());
        assert_eq!(ConfigRepr::parse(&buf).unwrap().unwrap().uri, full);
    }

    #[test]
    fn clears_back_to_empty() {
        let mut b = emitted();
        emit_unconfigured(&mut b).unwrap();
        assert_eq!(b, EMPTY_CONFIG_BLOCK);
    }

    #[test]
    fn finds_only_aligned_magics() {
        let mut rom = vec![0u8; 1024];
        rom[0x100..0x200].copy_from_slice(&EMPTY_CONFIG_BLOCK);
        rom[0x208..0x210].copy_from_slice(&MAGIC); // misaligned: ignored
        rom[0x3e0..0x3e7].copy_from_slice(&MAGIC[..7]); // not the whole magic
        rom[0x3e7] = b'X';
        rom[0x3f0..0x3f8].copy_from_slice(&MAGIC); // aligned, block cut off
        assert_eq!(find_blocks(&rom).collect::<Vec<_>>(), [0x100, 0x3f0]);
        assert_eq!(find_blocks(&rom[..0x3f4]).count(), 1);
    }

    #[test]
    fn luns_encode_and_decode() {
        assert_eq!(Lun::from_index(0).unwrap().0, [0; 8]);
        assert_eq!(Lun::from_index(5).unwrap().0, [0, 5, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            Lun::from_index(300).unwrap().0,
            [0x41, 0x2c, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Lun::from_index(0x4000), None);
        for n in [0u16, 1, 255, 256, 300, 0x3fff] {
            assert_eq!(Lun::from_index(n).unwrap().index(), Some(n));
            assert_eq!(Lun::from_index(n).unwrap().to_string(), n.to_string());
        }
        let odd = Lun([0x01, 0x02, 0, 0, 0, 0, 0, 0x09]);
        assert_eq!(odd.index(), None);
        assert_eq!(odd.to_string(), "0102-0000-0000-0009");
        assert_eq!(Lun([0x40, 0x05, 0, 0, 0, 0, 0, 0]).index(), None); // flat form of a small LUN
    }
}
