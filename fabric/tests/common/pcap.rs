//! A tiny reader for classic pcap files (not pcapng), enough for the golden
//! capture: global header, then (record header, frame bytes) pairs.
//!
//! Both byte orders and both timestamp resolutions are recognised by the
//! magic number; only Ethernet link type (1) is accepted.

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// 1-based frame number, as Wireshark and the decoded text count.
    pub number: usize,
    /// Capture time: seconds and the sub-second part (µs or ns).
    pub ts_sec: u32,
    pub ts_frac: u32,
    /// Length on the wire (may exceed `data.len()` if the snap length cut it).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// A parsed pcap file borrowing its bytes.
pub struct Pcap<'a> {
    /// Whether timestamps are nanoseconds (else microseconds).
    pub nanos: bool,
    /// Snap length from the global header.
    pub snaplen: u32,
    /// Every record in file order.
    pub records: Vec<Record<'a>>,
}

const GLOBAL_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
const LINKTYPE_ETHERNET: u32 = 1;

impl<'a> Pcap<'a> {
    /// Parses a whole classic pcap file.
    pub fn parse(bytes: &'a [u8]) -> Result<Pcap<'a>, String> {
        if bytes.len() < GLOBAL_HEADER_LEN {
            return Err("shorter than a pcap global header".into());
        }
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        let (little, nanos) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
            [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
            _ => return Err(format!("not a classic pcap file (magic {magic:02x?})")),
        };
        let u32_at = |at: usize| {
            let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            if little {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        let u16_at = |at: usize| {
            let b = [bytes[at], bytes[at + 1]];
            if little {
                u16::from_le_bytes(b)
            } else {
                u16::from_be_bytes(b)
            }
        };
        let (major, minor) = (u16_at(4), u16_at(6));
        if (major, minor) != (2, 4) {
            return Err(format!("unsupported pcap version {major}.{minor}"));
        }
        let snaplen = u32_at(16);
        let linktype = u32_at(20);
        if linktype != LINKTYPE_ETHERNET {
            return Err(format!("link type {linktype}, expected Ethernet"));
        }

        let mut records = Vec::new();
        let mut at = GLOBAL_HEADER_LEN;
        while at < bytes.len() {
            if bytes.len() - at < RECORD_HEADER_LEN {
                return Err(format!("truncated record header at offset {at}"));
            }
            let ts_sec = u32_at(at);
            let ts_frac = u32_at(at + 4);
            let incl_len = u32_at(at + 8) as usize;
            let orig_len = u32_at(at + 12);
            at += RECORD_HEADER_LEN;
            if bytes.len() - at < incl_len {
                return Err(format!("truncated frame data at offset {at}"));
            }
            records.push(Record {
                number: records.len() + 1,
                ts_sec,
                ts_frac,
                orig_len,
                data: &bytes[at..at + incl_len],
            });
            at += incl_len;
        }
        Ok(Pcap {
            nanos,
            snaplen,
            records,
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn reads_a_two_record_file() {
        let mut file = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        file.extend_from_slice(&65535u32.to_le_bytes());
        file.extend_from_slice(&1u32.to_le_bytes());
        for (i, payload) in [&b"abc"[..], &b"defgh"[..]].iter().enumerate() {
            file.extend_from_slice(&(i as u32).to_le_bytes());
            file.extend_from_slice(&7u32.to_le_bytes());
            file.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            file.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            file.extend_from_slice(payload);
        }
        let pcap = Pcap::parse(&file).unwrap();
        assert!(!pcap.nanos);
        assert_eq!(pcap.records.len(), 2);
        assert_eq!(pcap.records[1].number, 2);
        assert_eq!(pcap.records[1].data, b"defgh");
        assert!(Pcap::parse(&file[..file.len() - 1]).is_err());
        assert!(Pcap::parse(&file[..10]).is_err());
    }
}
