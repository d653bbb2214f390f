//! Parses srpboot target URIs: `srp://IP[:PORT][/LUN][?guid=0x<16 hex>]`.
//!
//! Kept small and self-contained on purpose: a shared parser is planned for
//! the `fabric` crate, and this module is the one place to swap it in.

use std::net::Ipv4Addr;

use romfmt::config::{Lun, DEFAULT_TARGET_PORT};

/// A parsed target URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrpTarget {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub lun: Lun,
    /// `None`: derive the target port GUID from the target's MAC.
    pub guid: Option<u64>,
}

/// Parses a target URI; the error says which part is wrong.
pub fn parse_srp_uri(uri: &str) -> Result<SrpTarget, String> {
    let bad = |why: &str| format!("bad target URI {uri:?}: {why}");
    let rest = uri
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case("srp://"))
        .map(|_| &uri[6..])
        .ok_or_else(|| bad("expected srp://IP[:PORT][/LUN][?guid=0x<16 hex digits>]"))?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, lun) = match rest.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (rest, None),
    };
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };

    let ip: Ipv4Addr = host
        .parse()
        .map_err(|_| bad("the host must be an IPv4 address (a.b.c.d)"))?;
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
        return Err(bad("the target address must be a unicast address"));
    }
    let port = match port {
        None => DEFAULT_TARGET_PORT,
        Some(p) => decimal(p)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|&n| n != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
    };
    let lun = match lun {
        None | Some("") => Lun::default(),
        Some(l) => decimal(l)
            .and_then(|n| u16::try_from(n).ok())
            .and_then(Lun::from_index)
            .ok_or_else(|| bad("the LUN must be a number from 0 to 16383"))?,
    };
    let guid = match query {
        None => None,
        Some(q) => {
            let hex = q
                .strip_prefix("guid=0x")
                .or_else(|| q.strip_prefix("guid=0X"))
                .filter(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| bad("the only query is guid=0x followed by 16 hex digits"))?;
            Some(u64::from_str_radix(hex, 16).map_err(|_| bad("guid is not hex"))?)
                .filter(|&g| g != 0)
        }
    };
    Ok(SrpTarget {
        ip,
        port,
        lun,
        guid,
    })
}

/// Plain decimal digits only (no sign, no spaces), up to u32.
fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `A.B.C.D/N` for the local address.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let bad = || format!("bad --ip {s:?}: expected A.B.C.D/N with N from 1 to 32");
    let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let prefix = decimal(prefix)
        .filter(|n| (1..=32).contains(n))
        .ok_or_else(bad)? as u8;
    Ok((ip, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_minimal_uris() {
        let t = parse_srp_uri("srp://10.0.0.9:4420/3?guid=0x0002C90300001234").unwrap();
        assert_eq!(t.ip, Ipv4Addr::new(10, 0, 0, 9));
        assert_eq!(t.port, 4420);
        assert_eq!(t.lun.index(), Some(3));
        assert_eq!(t.guid, Some(0x0002_c903_0000_1234));
        let t = parse_srp_uri("SRP://192.168.1.5").unwrap();
        assert_eq!((t.port, t.lun, t.guid), (5000, Lun::default(), None));
        let t = parse_srp_uri("srp://192.168.1.5/").unwrap();
        assert_eq!(t.lun.index(), Some(0));
        assert_eq!(
            parse_srp_uri("srp://1.2.3.4/300").unwrap().lun.0[..2],
            [0x41, 0x2c]
        );
        assert_eq!(
            parse_srp_uri("srp://1.2.3.4?guid=0x0000000000000000")
                .unwrap()
                .guid,
            None
        );
    }

    #[test]
    fn rejects_bad_uris_with_a_reason() {
        for (uri, why) in [
            ("", "expected srp://"),
            ("iscsi://1.2.3.4", "expected srp://"),
            ("srp://", "IPv4"),
            ("srp://host.example", "IPv4"),
            ("srp://1.2.3", "IPv4"),
            ("srp://0.0.0.0", "unicast"),
            ("srp://224.0.0.1", "unicast"),
            ("srp://1.2.3.4:0", "port"),
            ("srp://1.2.3.4:65536", "port"),
            ("srp://1.2.3.4:+80", "port"),
            ("srp://1.2.3.4:", "port"),
            ("srp://1.2.3.4/16384", "LUN"),
            ("srp://1.2.3.4/-1", "LUN"),
            ("srp://1.2.3.4/1/2", "LUN"),
            ("srp://1.2.3.4?guid=0x123", "guid"),
            ("srp://1.2.3.4?guid=123456789abcdef0", "guid"),
            ("srp://1.2.3.4?lun=1", "guid"),
            ("srp://ü.2.3.4", "IPv4"),
        ] {
            let err = parse_srp_uri(uri).unwrap_err();
            assert!(err.contains(why) && !err.contains('\n'), "{uri}: {err}");
        }
    }

    #[test]
    fn parses_cidr() {
        assert_eq!(
            parse_cidr("10.0.0.2/24"),
            Ok((Ipv4Addr::new(10, 0, 0, 2), 24))
        );
        for bad in [
            "10.0.0.2",
            "10.0.0.2/0",
            "10.0.0.2/33",
            "10.0.0/8",
            "/8",
            "10.0.0.2/x",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }
}
