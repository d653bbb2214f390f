//! A whole RoCEv2 frame: Ethernet II → IPv4 → UDP (destination port 4791)
//! → BTH → extension headers → payload → pad → ICRC.
//!
//! [`Repr::parse`] checks everything the wire can tell, cheapest first, and
//! returns `Error` (drop the frame silently) on the first failure:
//!
//! 1. Ethernet header present, EtherType IPv4;
//! 2. IPv4: version 4, no options, good header checksum, not a fragment,
//!    total length within the frame (Ethernet padding after it is ignored),
//!    protocol UDP;
//! 3. UDP: length equal to the IP payload, destination port 4791, checksum 0
//!    or correct;
//! 4. BTH: TVer 0 and an opcode from the table (`bth::OpCode::flags`);
//! 5. room for the opcode's extension headers, the pad and the ICRC; the
//!    transport part is a multiple of 4 bytes long (IBA: payload + pad is);
//!    opcodes without payload carry none (and no pad);
//! 6. the ICRC.
//!
//! Policy checks that need connection state (QPN known, P_Key, Q_Key, PSN,
//! payload size against the path MTU, addresses) belong to the transport.
//!
//! [`Repr::emit`] writes the whole frame, the pad count derived from the
//! payload length, IPv4 and UDP lengths computed, UDP checksum 0 (as rxe
//! sends) and the ICRC last. A frame that parses re-emits bit for bit, except
//! for reserved bits and pad contents (written as zero).

use super::bth::{self, OpCode, OpFlags};
use super::bytes::{read_u32, write_u32};
use super::eth::{self, Address as EthernetAddress, EtherType};
use super::ipv4::{self, Protocol};
use super::udp::{self, ROCE_V2_PORT};
use super::{aeth, deth, icrc, immdt, reth};
use super::{Error, Result};

/// Length of an IETH (R_Key to invalidate).
pub const IETH_LEN: usize = 4;

/// Bytes in front of the BTH: Ethernet, IPv4 and UDP headers.
pub const OUTER_HEADERS_LEN: usize = eth::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN;

/// The meaning of a RoCEv2 frame.
///
/// The optional extension headers must match the opcode: each is `Some`
/// exactly when `bth.opcode` has it. Atomic operations (AtomicETH,
/// AtomicAckETH) are not supported: such frames are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Source MAC.
    pub src_mac: EthernetAddress,
    /// Destination MAC.
    pub dst_mac: EthernetAddress,
    /// The IPv4 header. On emit, `protocol` and `payload_len` are replaced
    /// by the right values.
    pub ip: ipv4::Repr,
    /// UDP source port (rxe: 0xC000 + a hash of the QPN). The destination
    /// port is always 4791.
    pub udp_src_port: u16,
    /// The BTH. On emit, `pad_count` is replaced by the pad the payload
    /// needs.
    pub bth: bth::Repr,
    /// DETH (UD opcodes).
    pub deth: Option<deth::Repr>,
    /// RETH (RDMA WRITE First/Only, RDMA READ Request).
    pub reth: Option<reth::Repr>,
    /// AETH (ACK, READ Response First/Last/Only).
    pub aeth: Option<aeth::Repr>,
    /// Immediate data (the *_WITH_IMMEDIATE opcodes).
    pub immdt: Option<immdt::Repr>,
    /// R_Key to invalidate (SEND *_WITH_INVALIDATE).
    pub ieth: Option<u32>,
    /// The payload, pad excluded.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parses and validates a whole Ethernet frame (see the module doc).
    pub fn parse(frame: &'a [u8]) -> Result<Repr<'a>> {
        let eth_frame = eth::Frame::new_checked(frame)?;
        let eth_repr = eth::Repr::parse(&eth_frame)?;
        if eth_repr.ethertype != EtherType::Ipv4 {
            return Err(Error);
        }

        let ip_packet = ipv4::Packet::new_checked(eth_frame.payload())?;
        let ip = ipv4::Repr::parse(&ip_packet)?;
        if ip.protocol != Protocol::Udp {
            return Err(Error);
        }
        let ip_payload = ip_packet.payload();

        let udp_packet = udp::Packet::new_checked(ip_payload)?;
        if usize::from(udp_packet.len()) != ip_payload.len() {
            return Err(Error);
        }
        let udp_repr = udp::Repr::parse(&udp_packet, ip.src_addr, ip.dst_addr)?;
        if udp_repr.dst_port != ROCE_V2_PORT {
            return Err(Error);
        }
        let transport = udp_packet.payload();
        if transport.len() % 4 != 0 {
            return Err(Error);
        }

        let bth_repr = bth::Repr::parse(&bth::Packet::new_checked(transport)?)?;
        let opcode = bth_repr.opcode;
        let flags = opcode.flags().ok_or(Error)?;
        if flags.intersects(OpFlags::ATOMIC_ETH | OpFlags::ATOMIC_ACK_ETH) {
            return Err(Error);
        }
        let header_len = opcode.header_len().ok_or(Error)?;
        let pad = usize::from(bth_repr.pad_count);
        let payload_end = transport
            .len()
            .checked_sub(icrc::ICRC_LEN + pad)
            .filter(|&end| end >= header_len)
            .ok_or(Error)?;
        let payload = &transport[header_len..payload_end];
        if !flags.contains(OpFlags::PAYLOAD) && (pad != 0 || !payload.is_empty()) {
            return Err(Error);
        }

        // The extension headers present, in wire order (IBA 9.2: DETH,
        // RETH, AETH, ImmDt, IETH once the atomics are ruled out above),
        // walked once. Each range is inside `header_len`, which
        // `payload_end` covers.
        let mut at = bth::HEADER_LEN;
        let mut ext = |which: OpFlags, len: usize| {
            flags.contains(which).then(|| {
                let b = &transport[at..at + len];
                at += len;
                b
            })
        };
        let deth = match ext(OpFlags::DETH, deth::HEADER_LEN) {
            Some(b) => Some(deth::Repr::parse(&deth::Packet::new_checked(b)?)?),
            None => None,
        };
        let reth = match ext(OpFlags::RETH, reth::HEADER_LEN) {
            Some(b) => Some(reth::Repr::parse(&reth::Packet::new_checked(b)?)?),
            None => None,
        };
        let aeth = match ext(OpFlags::AETH, aeth::HEADER_LEN) {
            Some(b) => Some(aeth::Repr::parse(&aeth::Packet::new_checked(b)?)?),
            None => None,
        };
        let immdt = match ext(OpFlags::IMMDT, immdt::HEADER_LEN) {
            Some(b) => Some(immdt::Repr::parse(&immdt::Packet::new_checked(b)?)?),
            None => None,
        };
        let ieth = ext(OpFlags::IETH, 4).map(read_u32);
        debug_assert_eq!(at, header_len, "extension headers of {opcode:?}");

        // Last and most expensive: the ICRC over the whole IP datagram.
        let datagram = &eth_frame.payload()[..usize::from(ip_packet.total_len())];
        if !icrc::check(datagram) {
            return Err(Error);
        }

        Ok(Repr {
            src_mac: eth_repr.src_addr,
            dst_mac: eth_repr.dst_addr,
            ip,
            udp_src_port: udp_repr.src_port,
            bth: bth_repr,
            deth,
            reth,
            aeth,
            immdt,
            ieth,
            payload,
        })
    }

    /// Pad bytes after the payload.
    pub fn pad_len(&self) -> usize {
        usize::from(bth::pad_for(self.payload.len()))
    }

    /// Bytes from the BTH to the ICRC inclusive (the UDP payload).
    pub fn transport_len(&self) -> Result<usize> {
        let header_len = self.bth.opcode.header_len().ok_or(Error)?;
        Ok(header_len + self.payload.len() + self.pad_len() + icrc::ICRC_LEN)
    }

    /// Length of the whole frame [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> Result<usize> {
        Ok(OUTER_HEADERS_LEN + self.transport_len()?)
    }

    /// Checks that the extension headers match the opcode and that a payload
    /// is only present where the opcode allows one.
    fn check_consistent(&self) -> Result<OpFlags> {
        let flags = self.bth.opcode.flags().ok_or(Error)?;
        let consistent = self.deth.is_some() == flags.contains(OpFlags::DETH)
            && self.reth.is_some() == flags.contains(OpFlags::RETH)
            && self.aeth.is_some() == flags.contains(OpFlags::AETH)
            && self.immdt.is_some() == flags.contains(OpFlags::IMMDT)
            && self.ieth.is_some() == flags.contains(OpFlags::IETH)
            && !flags.intersects(OpFlags::ATOMIC_ETH | OpFlags::ATOMIC_ACK_ETH)
            && (flags.contains(OpFlags::PAYLOAD) || self.payload.is_empty());
        if consistent {
            Ok(flags)
        } else {
            Err(Error)
        }
    }

    /// Writes the whole frame into the start of `buf` and returns its length.
    /// Fails, writing nothing, if `buf` is too short, the extension headers
    /// do not match the opcode, or the result would not fit IPv4's 16-bit
    /// total length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        self.check_consistent()?;
        let transport_len = self.transport_len()?;
        let ip_payload_len = udp::HEADER_LEN + transport_len;
        let total = OUTER_HEADERS_LEN + transport_len;
        if ipv4::HEADER_LEN + ip_payload_len > usize::from(u16::MAX) || buf.len() < total {
            return Err(Error);
        }
        let frame = &mut buf[..total];
        let (outer, transport) = frame.split_at_mut(OUTER_HEADERS_LEN);

        // Fixed-size views let the compiler drop the per-field bounds checks.
        let eth_hdr = fixed::<{ eth::HEADER_LEN }>(&mut outer[..eth::HEADER_LEN])?;
        eth::Repr {
            src_addr: self.src_mac,
            dst_addr: self.dst_mac,
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut eth::Frame::new_unchecked(eth_hdr));

        let ip_hdr =
            fixed::<{ ipv4::HEADER_LEN }>(&mut outer[eth::HEADER_LEN..][..ipv4::HEADER_LEN])?;
        let ip = ipv4::Repr {
            protocol: Protocol::Udp,
            payload_len: ip_payload_len,
            ..self.ip
        };
        ip.emit(&mut ipv4::Packet::new_unchecked(ip_hdr));

        let udp_hdr =
            fixed::<{ udp::HEADER_LEN }>(&mut outer[eth::HEADER_LEN + ipv4::HEADER_LEN..])?;
        let udp_repr = udp::Repr {
            src_port: self.udp_src_port,
            dst_port: ROCE_V2_PORT,
        };
        udp_repr.emit(&mut udp::Packet::new_unchecked(udp_hdr), transport_len);

        let bth_repr = bth::Repr {
            pad_count: bth::pad_for(self.payload.len()),
            ..self.bth
        };
        let bth_hdr =
            fixed::<{ bth::HEADER_LEN }>(transport.get_mut(..bth::HEADER_LEN).ok_or(Error)?)?;
        bth_repr.emit(&mut bth::Packet::new_unchecked(bth_hdr));

        let opcode = self.bth.opcode;
        let range = |which: OpFlags| opcode.ext_header_range(which);
        if let (Some(r), Some(h)) = (range(OpFlags::DETH), &self.deth) {
            h.emit(&mut deth::Packet::new_unchecked(&mut transport[r]));
        }
        if let (Some(r), Some(h)) = (range(OpFlags::RETH), &self.reth) {
            h.emit(&mut reth::Packet::new_unchecked(&mut transport[r]));
        }
        if let (Some(r), Some(h)) = (range(OpFlags::AETH), &self.aeth) {
            h.emit(&mut aeth::Packet::new_unchecked(&mut transport[r]));
        }
        if let (Some(r), Some(h)) = (range(OpFlags::IMMDT), &self.immdt) {
            h.emit(&mut immdt::Packet::new_unchecked(&mut transport[r]));
        }
        if let (Some(r), Some(rkey)) = (range(OpFlags::IETH), self.ieth) {
            write_u32(&mut transport[r], rkey);
        }

        let header_len = opcode.header_len().ok_or(Error)?;
        let payload_end = header_len + self.payload.len();
        transport[header_len..payload_end].copy_from_slice(self.payload);
        let icrc_at = transport.len() - icrc::ICRC_LEN;
        transport[payload_end..icrc_at].fill(0);

        icrc::fill(&mut buf[eth::HEADER_LEN..total])?;
        Ok(total)
    }
}

/// `b` as a fixed-size array (its length is known, so this never fails
/// where it is used; the error path keeps emit panic-free regardless).
fn fixed<const N: usize>(b: &mut [u8]) -> Result<&mut [u8; N]> {
    b.try_into().map_err(|_| Error)
}

/// Whether `opcode` may be carried by this module (known, not atomic).
pub fn supported(opcode: OpCode) -> bool {
    matches!(opcode.flags(), Some(f) if !f.intersects(OpFlags::ATOMIC_ETH | OpFlags::ATOMIC_ACK_ETH))
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::aeth::Syndrome;
    use crate::wire::ipv4::Address as Ipv4Address;

    // Golden frame 8: the target's zero-length RDMA WRITE Only, AckReq.
    static WRITE_ZERO: [u8; 74] = [
        0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0x52, 0x54, 0x00, 0x77, 0x00, 0x01, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x3c, 0xce, 0x85, 0x40, 0x00, 0x40, 0x11, 0x50, 0xd7, 0xc0, 0xa8, 0x4d, 0x01,
        0xc0, 0xa8, 0x4d, 0x02, 0xc8, 0x06, 0x12, 0xb7, 0x00, 0x28, 0x00, 0x00, 0x0a, 0x00, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x11, 0x80, 0x95, 0x3c, 0x7b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0xe9, 0xf6, 0x0f,
    ];
    // Golden frame 9: the initiator's ACK of it (AETH 0x1f, MSN 1).
    static ACK: [u8; 62] = [
        0x52, 0x54, 0x00, 0x77, 0x00, 0x01, 0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x30, 0xf3, 0x47, 0x40, 0x00, 0x40, 0x11, 0x2c, 0x21, 0xc0, 0xa8, 0x4d, 0x02,
        0xc0, 0xa8, 0x4d, 0x01, 0xc8, 0x06, 0x12, 0xb7, 0x00, 0x1c, 0x00, 0x00, 0x11, 0x00, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x11, 0x00, 0x95, 0x3c, 0x7b, 0x1f, 0x00, 0x00, 0x01, 0xd3, 0xc7,
        0x8e, 0xa2,
    ];
    // Golden frame 60: RDMA WRITE Only of 13 bytes, pad 3.
    static PADDED: [u8; 90] = [
        0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0x52, 0x54, 0x00, 0x77, 0x00, 0x01, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x4c, 0xce, 0xc5, 0x40, 0x00, 0x40, 0x11, 0x50, 0x87, 0xc0, 0xa8, 0x4d, 0x01,
        0xc0, 0xa8, 0x4d, 0x02, 0xc8, 0x06, 0x12, 0xb7, 0x00, 0x38, 0x00, 0x00, 0x0a, 0x30, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x11, 0x80, 0x95, 0x3c, 0x8c, 0xff, 0xff, 0x8a, 0x72, 0x93, 0xaf,
        0xf0, 0x00, 0x00, 0x00, 0x03, 0xbd, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x80, 0x00, 0x09, 0x73,
        0x72, 0x70, 0x64, 0x69, 0x73, 0x6b, 0x30, 0x00, 0x00, 0x00, 0x00, 0x31, 0x9b, 0x55, 0xc1,
    ];

    const MAC_I: EthernetAddress = EthernetAddress([0x52, 0x54, 0, 0x77, 0, 2]);
    const MAC_T: EthernetAddress = EthernetAddress([0x52, 0x54, 0, 0x77, 0, 1]);
    const IP_I: Ipv4Address = Ipv4Address::new(192, 168, 77, 2);
    const IP_T: Ipv4Address = Ipv4Address::new(192, 168, 77, 1);

    fn round_trip(golden: &[u8]) -> Repr<'_> {
        let repr = Repr::parse(golden).unwrap();
        assert_eq!(repr.buffer_len(), Ok(golden.len()));
        let mut out = vec![0xA5u8; golden.len() + 7];
        assert_eq!(repr.emit(&mut out), Ok(golden.len()));
        assert_eq!(&out[..golden.len()], golden);
        assert!(
            out[golden.len()..].iter().all(|&b| b == 0xA5),
            "nothing written past the end"
        );
        repr
    }

    #[test]
    fn golden_zero_length_write() {
        let r = round_trip(&WRITE_ZERO);
        assert_eq!((r.src_mac, r.dst_mac), (MAC_T, MAC_I));
        assert_eq!((r.ip.src_addr, r.ip.dst_addr), (IP_T, IP_I));
        assert_eq!(r.udp_src_port, 51206);
        assert_eq!(r.bth.opcode, OpCode::RcRdmaWriteOnly);
        assert!(r.bth.ack_req);
        assert_eq!(r.bth.psn, 0x953c7b);
        assert_eq!(r.bth.dest_qpn, 0x11);
        assert_eq!(
            r.reth,
            Some(reth::Repr {
                va: 0,
                rkey: 0,
                dma_len: 0
            })
        );
        assert_eq!((r.deth, r.aeth, r.immdt, r.ieth), (None, None, None, None));
        assert!(r.payload.is_empty());
    }

    #[test]
    fn golden_ack() {
        let r = round_trip(&ACK);
        assert_eq!(r.bth.opcode, OpCode::RcAcknowledge);
        assert!(!r.bth.ack_req);
        assert_eq!(
            r.aeth,
            Some(aeth::Repr {
                syndrome: Syndrome::ACK,
                msn: 1
            })
        );
    }

    #[test]
    fn golden_padded() {
        let r = round_trip(&PADDED);
        assert_eq!(r.bth.pad_count, 3);
        assert_eq!(r.payload, b"\x00\x80\x00\x09srpdisk0\x00");
        assert_eq!(r.reth.unwrap().dma_len, 13);
    }

    #[test]
    fn emit_derives_pad_and_lengths() {
        let mut r = Repr::parse(&PADDED).unwrap();
        let payload = [0x11u8; 6];
        r.payload = &payload;
        r.bth.pad_count = 0; // wrong on purpose: emit fixes it
        r.ip.payload_len = 9999;
        let mut out = [0u8; 128];
        let n = r.emit(&mut out).unwrap();
        assert_eq!(n, OUTER_HEADERS_LEN + 28 + 6 + 2 + 4);
        let back = Repr::parse(&out[..n]).unwrap();
        assert_eq!(back.bth.pad_count, 2);
        assert_eq!(back.payload, &payload);
        assert_eq!(back.ip.payload_len, n - 34);
    }

    #[test]
    fn emit_refuses_inconsistent_or_short() {
        let r = Repr::parse(&WRITE_ZERO).unwrap();
        let mut out = [0u8; 128];
        assert_eq!(Repr { reth: None, ..r }.emit(&mut out), Err(Error));
        let a = Some(aeth::Repr {
            syndrome: Syndrome::ACK,
            msn: 0,
        });
        assert_eq!(Repr { aeth: a, ..r }.emit(&mut out), Err(Error));
        assert_eq!(Repr { ieth: Some(1), ..r }.emit(&mut out), Err(Error));
        let ack = Repr::parse(&ACK).unwrap();
        assert_eq!(
            Repr {
                payload: b"x",
                ..ack
            }
            .emit(&mut out),
            Err(Error),
            "ACK with payload"
        );
        assert_eq!(r.emit(&mut out[..WRITE_ZERO.len() - 1]), Err(Error));
        let mut bth = r.bth;
        bth.opcode = OpCode::RcCompareSwap;
        assert_eq!(
            Repr {
                bth,
                reth: None,
                ..r
            }
            .emit(&mut out),
            Err(Error),
            "atomics"
        );
        bth.opcode = OpCode::Unknown(0x15);
        assert_eq!(Repr { bth, ..r }.emit(&mut out), Err(Error));
        let big = vec![0u8; 65536];
        let mut huge_out = vec![0u8; 70000];
        let mut send = r;
        send.bth.opcode = OpCode::RcSendOnly;
        send.reth = None;
        send.payload = &big;
        assert_eq!(send.emit(&mut huge_out), Err(Error), "over 64 KiB");
    }

    fn payload_len(r: &Repr<'_>) -> usize {
        r.payload.len()
    }

    #[test]
    fn every_opcode_emits_and_parses() {
        let base = Repr::parse(&WRITE_ZERO).unwrap();
        let payload = [0x5Au8; 7];
        for raw in 0..=255u8 {
            let opcode = OpCode::from(raw);
            if !supported(opcode) {
                continue;
            }
            let flags = opcode.flags().unwrap();
            let repr = Repr {
                bth: bth::Repr { opcode, ..base.bth },
                deth: flags.contains(OpFlags::DETH).then_some(deth::Repr {
                    qkey: 7,
                    src_qpn: 1,
                }),
                reth: flags.contains(OpFlags::RETH).then_some(reth::Repr {
                    va: 1,
                    rkey: 2,
                    dma_len: 3,
                }),
                aeth: flags.contains(OpFlags::AETH).then_some(aeth::Repr {
                    syndrome: Syndrome::RnrNak { timer: 3 },
                    msn: 9,
                }),
                immdt: flags
                    .contains(OpFlags::IMMDT)
                    .then_some(immdt::Repr { imm: 0x1234 }),
                ieth: flags.contains(OpFlags::IETH).then_some(0xCAFE),
                payload: if flags.contains(OpFlags::PAYLOAD) {
                    &payload
                } else {
                    &[]
                },
                ..base
            };
            let mut out = [0xA5u8; 200];
            let n = repr.emit(&mut out).unwrap();
            let back = Repr::parse(&out[..n]).unwrap();
            assert_eq!(back.bth.pad_count, bth::pad_for(payload_len(&repr)));
            assert_eq!(back.ip.payload_len, n - OUTER_HEADERS_LEN + udp::HEADER_LEN);
            let expected = Repr {
                bth: bth::Repr {
                    pad_count: back.bth.pad_count,
                    ..repr.bth
                },
                ip: ipv4::Repr {
                    payload_len: back.ip.payload_len,
                    ..repr.ip
                },
                ..repr
            };
            assert_eq!(back, expected, "{opcode:?}");
        }
    }

    fn reject(bytes: &[u8], why: &str) {
        assert_eq!(Repr::parse(bytes), Err(Error), "{why}");
    }

    /// Changes `golden` with `f`, then repairs the IPv4 checksum and the ICRC
    /// so that only the intended rule can fail.
    fn tweak(golden: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut b = golden.to_vec();
        f(&mut b);
        if b.len() >= 34 {
            ipv4::Packet::new_unchecked(&mut b[14..]).fill_checksum();
        }
        let total = usize::from(u16::from_be_bytes([b[16], b[17]]));
        if b.len() >= 14 + total && total >= 44 {
            let _ = icrc::fill(&mut b[14..14 + total]);
        }
        b
    }

    #[test]
    fn tweak_control() {
        // With nothing changed, the repair is a no-op and the frame parses.
        assert_eq!(tweak(&ACK, |_| ()), ACK.to_vec());
        assert!(Repr::parse(&tweak(&PADDED, |_| ())).is_ok());
    }

    #[test]
    fn rejection_rules() {
        for len in 0..ACK.len() {
            reject(&ACK[..len], "truncated");
        }
        reject(
            &tweak(&ACK, |b| b[12..14].copy_from_slice(&[0x86, 0xdd])),
            "not IPv4",
        );
        reject(&tweak(&ACK, |b| b[14] = 0x46), "IPv4 options");
        let mut bad_sum = ACK;
        bad_sum[24] ^= 1;
        reject(&bad_sum, "IPv4 checksum");
        reject(&tweak(&ACK, |b| b[20] |= 0x20), "more fragments");
        reject(&tweak(&ACK, |b| b[23] = 6), "not UDP");
        reject(&tweak(&ACK, |b| b[17] += 4), "IP total length beyond frame");
        reject(
            &tweak(&ACK, |b| b[39] -= 4),
            "UDP length short of IP payload",
        );
        reject(
            &tweak(&ACK, |b| b[36..38].copy_from_slice(&4790u16.to_be_bytes())),
            "port",
        );
        reject(
            &tweak(&ACK, |b| b[40..42].copy_from_slice(&[0x12, 0x34])),
            "UDP checksum",
        );
        reject(&tweak(&ACK, |b| b[43] = 0x01), "TVer");
        reject(&tweak(&ACK, |b| b[42] = 0x15), "reserved opcode");
        reject(&tweak(&ACK, |b| b[42] = 0x24), "UC opcode");
        reject(&tweak(&ACK, |b| b[42] = 0x13), "atomic");
        reject(
            &tweak(&ACK, |b| b[43] = 0x10),
            "pad on an opcode without payload",
        );
        reject(
            &tweak(&ACK, |b| b[42] = 0x0c),
            "READ request header past the end",
        );
        reject(
            &tweak(&WRITE_ZERO, |b| b[43] = 0x10),
            "pad eats into the RETH",
        );
        let mut bad_icrc = ACK;
        bad_icrc[61] ^= 0x80;
        reject(&bad_icrc, "ICRC");
        let mut covered = ACK;
        covered[55] ^= 1; // MSN: covered by the ICRC only
        reject(&covered, "ICRC covers the AETH");
        // Transport length not a multiple of four: add one byte everywhere.
        let odd = tweak(&ACK, |b| {
            b.insert(54, 0);
            b[17] += 1;
            b[39] += 1;
        });
        reject(&odd, "transport length % 4");
        // Opcode without payload but with extra bytes.
        let extra = tweak(&ACK, |b| {
            for _ in 0..4 {
                b.insert(58, 0);
            }
            b[17] += 4;
            b[39] += 4;
        });
        reject(&extra, "ACK carrying a payload");
    }

    #[test]
    fn accepted_variations() {
        // Ethernet padding after the IP datagram is ignored.
        let mut padded = ACK.to_vec();
        padded.extend_from_slice(&[0xEE; 6]);
        assert_eq!(Repr::parse(&padded).unwrap(), Repr::parse(&ACK).unwrap());
        // A correct non-zero UDP checksum is accepted.
        let mut summed = ACK;
        udp::Packet::new_unchecked(&mut summed[34..]).fill_checksum(IP_I, IP_T);
        assert_ne!(&summed[40..42], &[0, 0]);
        assert!(Repr::parse(&summed).is_ok());
        // TTL and TOS are masked out of the ICRC: changing them (and fixing
        // the IPv4 checksum) keeps the frame valid.
        let hop = tweak(&ACK, |b| {
            b[22] = 1;
            b[15] = 0x02;
        });
        let mut hop_fixed = hop.clone();
        hop_fixed[58..62].copy_from_slice(&ACK[58..62]);
        assert!(Repr::parse(&hop_fixed).is_ok());
    }
}
