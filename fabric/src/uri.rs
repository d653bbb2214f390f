//! The boot target as text: `srp://IP[:PORT][/LUN][?guid=0x<16 hex>]`, plus
//! the identifiers derived from MAC addresses that an SRP login over RoCE
//! needs.
//!
//! - `IP` is the target's dotted-quad IPv4 address (no host names: the ROM has
//!   no resolver).
//! - `PORT` is the rdma_cm port ib_srpt listens on (`rdma_cm_port`), 1–65535,
//!   default [`DEFAULT_PORT`] (5000).
//! - `LUN` is the logical unit number, 0–16383 (single-level peripheral or
//!   flat addressing, see [`Lun::from_index`]), default 0.
//! - `guid` is `srpt_service_guid`, which becomes both halves of the target
//!   port ID. When it is absent, the target's node GUID is assumed to be the
//!   EUI-64 of its MAC address (what rxe uses), and the caller fills it in
//!   after ARP has resolved `IP` ([`SrpUri::target_guid`]).
//!
//! The scheme is matched case-insensitively; nothing else may follow the
//! query. Parsing allocates nothing, and [`SrpUri`] prints back to the same
//! canonical text.
//!
//! The helpers at the end derive node GUIDs the way Linux rxe does
//! ([`eui64_from_mac`]) and the initiator port ID the way Linux ib_srp forms it
//! ([`initiator_port_id`]): the 8-byte initiator extension followed by the
//! interface ID of GID index 0, which on RoCE is the EUI-64 of the MAC.

use core::fmt;
use core::str::FromStr;

use crate::wire::eth::Address as MacAddress;
use crate::wire::ipv4::Address as Ipv4Addr;
use crate::wire::scsi::Lun;
use crate::wire::srp::PortId;

/// The rdma_cm port used when the URI names none.
pub const DEFAULT_PORT: u16 = 5000;

/// The highest LUN the URI accepts (the 14-bit flat addressing limit).
pub const MAX_LUN: u16 = 0x3FFF;

/// Why a boot URI was refused. Each variant names one thing to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriError {
    /// The text does not start with `srp://`.
    MissingScheme,
    /// The host part is not a dotted-quad IPv4 address.
    BadIpv4,
    /// The text after `:` is not a decimal number.
    PortNotNumber,
    /// The port is 0 or above 65535.
    PortOutOfRange,
    /// The text after `/` is not a decimal number.
    LunNotNumber,
    /// The LUN is above [`MAX_LUN`].
    LunOutOfRange,
    /// The `guid` value is not `0x` followed by exactly 16 hex digits.
    BadGuid,
    /// The query holds something other than a single `guid=` parameter.
    UnknownParameter,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UriError::MissingScheme => "missing srp:// scheme",
            UriError::BadIpv4 => "bad IPv4 address",
            UriError::PortNotNumber => "port not a number",
            UriError::PortOutOfRange => "port out of range",
            UriError::LunNotNumber => "LUN not a number",
            UriError::LunOutOfRange => "LUN out of range",
            UriError::BadGuid => "guid must be 0x followed by 16 hex digits",
            UriError::UnknownParameter => "unknown parameter (only ?guid= is allowed)",
        })
    }
}

/// A parsed boot URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrpUri {
    /// Target IPv4 address.
    pub ip: Ipv4Addr,
    /// rdma_cm port of the target's listener.
    pub port: u16,
    /// Logical unit to boot from (0..=[`MAX_LUN`]).
    pub lun: u16,
    /// `srpt_service_guid`, if the URI gives one.
    pub guid: Option<u64>,
}

impl SrpUri {
    /// Parses `srp://IP[:PORT][/LUN][?guid=0x<16 hex>]`.
    ///
    /// # Errors
    /// A [`UriError`] naming the first part that is wrong.
    pub fn parse(text: &str) -> Result<SrpUri, UriError> {
        const SCHEME: &str = "srp://";
        let b = text.as_bytes();
        if b.len() < SCHEME.len() || !b[..SCHEME.len()].eq_ignore_ascii_case(SCHEME.as_bytes()) {
            return Err(UriError::MissingScheme);
        }
        // The scheme is ASCII, so this index is a char boundary.
        let rest = &text[SCHEME.len()..];
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };

        let ip = parse_ipv4(host).ok_or(UriError::BadIpv4)?;
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => {
                let v = parse_decimal(p).ok_or(UriError::PortNotNumber)?;
                if v == 0 || v > u64::from(u16::MAX) {
                    return Err(UriError::PortOutOfRange);
                }
                v as u16
            }
        };
        let lun = match path {
            // `srp://ip/` names no LUN: same as leaving the slash out.
            None | Some("") => 0,
            Some(p) => {
                let v = parse_decimal(p).ok_or(UriError::LunNotNumber)?;
                if v > u64::from(MAX_LUN) {
                    return Err(UriError::LunOutOfRange);
                }
                v as u16
            }
        };
        let guid = match query {
            None => None,
            Some(q) => {
                let value = q.strip_prefix("guid=").ok_or(UriError::UnknownParameter)?;
                Some(parse_guid(value).ok_or(UriError::BadGuid)?)
            }
        };
        Ok(SrpUri {
            ip,
            port,
            lun,
            guid,
        })
    }

    /// The SAM LUN the URI names.
    pub fn scsi_lun(&self) -> Lun {
        // `lun` is at most MAX_LUN when it came from `parse`; a larger value
        // set by hand falls back to LUN 0 rather than panicking.
        Lun::from_index(self.lun).unwrap_or(Lun::ZERO)
    }

    /// The target GUID to put in the target port ID: the one from the URI,
    /// else the EUI-64 of the target's MAC (learnt by ARP).
    pub fn target_guid(&self, target_mac: MacAddress) -> u64 {
        self.guid.unwrap_or_else(|| eui64_from_mac(target_mac))
    }

    /// The target port ID ib_srpt accepts: the service GUID twice.
    pub fn target_port_id(&self, target_mac: MacAddress) -> PortId {
        let g = self.target_guid(target_mac);
        PortId::new(g, g)
    }
}

impl FromStr for SrpUri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SrpUri::parse(s)
    }
}

impl fmt::Display for SrpUri {
    /// Prints the canonical form, `srp://IP:PORT/LUN` and `?guid=0x…` when a
    /// GUID is set. [`SrpUri::parse`] reads it back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "srp://{}:{}/{}", self.ip, self.port, self.lun)?;
        if let Some(g) = self.guid {
            write!(f, "?guid=0x{:016x}", g)?;
        }
        Ok(())
    }
}

/// Strict dotted quad: four decimal parts of 1–3 digits, each ≤ 255, no
/// leading zeros (which some parsers read as octal).
fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in octets.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p.starts_with('0')) {
            return None;
        }
        let v = parse_decimal(p)?;
        *o = u8::try_from(v).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr(octets))
}

/// One or more ASCII digits, saturating at a value no caller accepts.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

/// `0x` (or `0X`) then exactly 16 hex digits.
fn parse_guid(s: &str) -> Option<u64> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if hex.len() != 16 {
        return None;
    }
    let mut v: u64 = 0;
    for c in hex.bytes() {
        let d = (c as char).to_digit(16)?;
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// The modified EUI-64 of a MAC address, as Linux rxe derives its node GUID
/// and the interface ID of the link-local GID: insert `ff:fe` in the middle
/// and flip the universal/local bit of the first byte.
///
/// `52:54:00:77:00:01` → `0x5054_00ff_fe77_0001`.
pub fn eui64_from_mac(mac: MacAddress) -> u64 {
    let m = mac.0;
    u64::from_be_bytes([m[0] ^ 0x02, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]])
}

/// The initiator port ID Linux ib_srp sends: `initiator_ext` (8 bytes, 0
/// unless configured) followed by the interface ID of the port's GID index 0,
/// which on RoCE is [`eui64_from_mac`] of the initiator's MAC.
///
/// The ROM uses the same value as the OS initiator so that a single srpt ACL
/// (`0x` + these 32 hex digits) admits both.
pub fn initiator_port_id(initiator_ext: u64, mac: MacAddress) -> PortId {
    PortId::new(initiator_ext, eui64_from_mac(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::string::ToString;

    const TARGET_MAC: MacAddress = MacAddress([0x52, 0x54, 0x00, 0x77, 0x00, 0x01]);
    const INITIATOR_MAC: MacAddress = MacAddress([0x52, 0x54, 0x00, 0x77, 0x00, 0x02]);

    #[test]
    fn minimal_uri_takes_defaults() {
        let u = SrpUri::parse("srp://192.168.77.1").unwrap();
        assert_eq!(u.ip, Ipv4Addr::new(192, 168, 77, 1));
        assert_eq!(u.port, 5000);
        assert_eq!(u.lun, 0);
        assert_eq!(u.guid, None);
        assert_eq!(u.scsi_lun(), Lun::ZERO);
    }

    #[test]
    fn full_uri() {
        let u = SrpUri::parse("srp://10.0.0.254:4420/17?guid=0x505400FFFE770001").unwrap();
        assert_eq!(u.ip, Ipv4Addr::new(10, 0, 0, 254));
        assert_eq!(u.port, 4420);
        assert_eq!(u.lun, 17);
        assert_eq!(u.guid, Some(0x5054_00ff_fe77_0001));
        assert_eq!(u.scsi_lun().0, [0, 17, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            "srp://10.0.0.254:4420/17?guid=0x505400FFFE770001".parse(),
            Ok(u)
        );
    }

    #[test]
    fn scheme_case_and_trailing_slash() {
        let u = SrpUri::parse("SRP://1.2.3.4/").unwrap();
        assert_eq!(u.lun, 0);
        assert_eq!(u.ip, Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(SrpUri::parse("srp://1.2.3.4:1/16383").unwrap().lun, 16383);
        assert_eq!(SrpUri::parse("srp://1.2.3.4:65535").unwrap().port, 65535);
    }

    #[test]
    fn display_round_trips() {
        for t in [
            "srp://192.168.77.1",
            "srp://192.168.77.1:5000/0",
            "srp://0.0.0.0:1/16383?guid=0x0000000000000000",
            "srp://255.255.255.255:65535/3?guid=0xffffffffffffffff",
        ] {
            let u = SrpUri::parse(t).unwrap();
            let s = u.to_string();
            assert_eq!(SrpUri::parse(&s), Ok(u), "{s}");
        }
        let u = SrpUri::parse("srp://192.168.77.1?guid=0x505400fffe770001").unwrap();
        assert_eq!(
            u.to_string(),
            "srp://192.168.77.1:5000/0?guid=0x505400fffe770001"
        );
    }

    #[test]
    fn rejections() {
        use UriError::*;
        let cases: &[(&str, UriError)] = &[
            ("", MissingScheme),
            ("srp:/1.2.3.4", MissingScheme),
            ("iscsi://1.2.3.4", MissingScheme),
            ("1.2.3.4", MissingScheme),
            ("srp://", BadIpv4),
            ("srp://1.2.3", BadIpv4),
            ("srp://1.2.3.4.5", BadIpv4),
            ("srp://1.2.3.256", BadIpv4),
            ("srp://1.2.3.04", BadIpv4),
            ("srp://1.2..4", BadIpv4),
            ("srp://target.example", BadIpv4),
            ("srp://1.2.3.4 ", BadIpv4),
            ("srp://+1.2.3.4", BadIpv4),
            ("srp://1.2.3.4:", PortNotNumber),
            ("srp://1.2.3.4:http", PortNotNumber),
            ("srp://1.2.3.4:-1", PortNotNumber),
            ("srp://1.2.3.4:12345678901", PortNotNumber),
            ("srp://1.2.3.4:0", PortOutOfRange),
            ("srp://1.2.3.4:65536", PortOutOfRange),
            ("srp://1.2.3.4/x", LunNotNumber),
            ("srp://1.2.3.4/1/2", LunNotNumber),
            ("srp://1.2.3.4/0x1", LunNotNumber),
            ("srp://1.2.3.4/16384", LunOutOfRange),
            ("srp://1.2.3.4?guid=505400fffe770001", BadGuid),
            ("srp://1.2.3.4?guid=0x505400fffe77000", BadGuid),
            ("srp://1.2.3.4?guid=0x505400fffe7700011", BadGuid),
            ("srp://1.2.3.4?guid=0x505400fffe77000g", BadGuid),
            ("srp://1.2.3.4?guid=0x+05400fffe770001", BadGuid),
            ("srp://1.2.3.4?guid=", BadGuid),
            ("srp://1.2.3.4?lun=1", UnknownParameter),
            ("srp://1.2.3.4?", UnknownParameter),
        ];
        for (text, want) in cases {
            assert_eq!(SrpUri::parse(text), Err(*want), "{text:?}");
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(UriError::MissingScheme.to_string(), "missing srp:// scheme");
        assert_eq!(UriError::BadIpv4.to_string(), "bad IPv4 address");
        assert_eq!(UriError::PortOutOfRange.to_string(), "port out of range");
        assert_eq!(UriError::LunNotNumber.to_string(), "LUN not a number");
        assert_eq!(
            UriError::BadGuid.to_string(),
            "guid must be 0x followed by 16 hex digits"
        );
    }

    #[test]
    fn eui64_matches_rxe() {
        // Node GUIDs of the two VMs in the golden capture (SEQUENCE.md).
        assert_eq!(eui64_from_mac(TARGET_MAC), 0x5054_00ff_fe77_0001);
        assert_eq!(eui64_from_mac(INITIATOR_MAC), 0x5054_00ff_fe77_0002);
        // A globally administered MAC gets the U/L bit set.
        assert_eq!(
            eui64_from_mac(MacAddress([0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c])),
            0x021b_21ff_fe0a_0b0c
        );
    }

    #[test]
    fn port_ids_match_capture() {
        // Frame 5, SRP_LOGIN_REQ: initiator_port_id=0000000000000000505400fffe770002
        let want_i = [
            0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0x00, 0xff, 0xfe, 0x77, 0x00, 0x02,
        ];
        assert_eq!(initiator_port_id(0, INITIATOR_MAC).0, want_i);
        // target_port_id=505400fffe770001505400fffe770001, with no guid in the URI.
        let u = SrpUri::parse("srp://192.168.77.1").unwrap();
        let want_t = [
            0x50, 0x54, 0x00, 0xff, 0xfe, 0x77, 0x00, 0x01, 0x50, 0x54, 0x00, 0xff, 0xfe, 0x77,
            0x00, 0x01,
        ];
        assert_eq!(u.target_port_id(TARGET_MAC).0, want_t);
        // A URI guid wins over the MAC.
        let u = SrpUri::parse("srp://192.168.77.1?guid=0x0002c90300001234").unwrap();
        assert_eq!(u.target_guid(TARGET_MAC), 0x0002_c903_0000_1234);
    }

    #[test]
    fn random_text_never_panics() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let alphabet = b"srp:/0123456789.?=guidx:abcdefSRP/\xc3\xa9 ";
        let mut buf = [0u8; 48];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 48) as usize;
            for (i, b) in buf[..n].iter_mut().enumerate() {
                let r = x.rotate_left(i as u32 * 5);
                *b = alphabet[(r % alphabet.len() as u64) as usize];
            }
            if let Ok(s) = core::str::from_utf8(&buf[..n]) {
                let _ = SrpUri::parse(s);
                // Also from a valid prefix, so the later stages get exercised.
                let mut t = std::string::String::from("srp://1.2.3.4");
                t.push_str(s);
                if let Ok(u) = SrpUri::parse(&t) {
                    assert_eq!(SrpUri::parse(&u.to_string()), Ok(u));
                }
            }
        }
    }
}
