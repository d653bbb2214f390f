//! Property-style robustness: random bytes, truncations and bit flips go into
//! every wire parser, which must never panic. Whatever parses must re-emit
//! into something that parses to the same meaning.
//!
//! Seeds are the golden frames; a deterministic xorshift drives mutations.
//! Mutated frames are also "repaired" (IPv4 checksum and ICRC recomputed) so
//! that the mutations reach the parsers behind those checks.

mod common;

use common::pcap::Pcap;
use common::Rng;
use fabric::wire::{aeth, arp, bth, cm, deth, eth, icrc, immdt, ipv4, mad, reth, roce, udp};

/// Runs every parser in the crate over `data`, from every plausible start,
/// and calls every accessor of every view that passed `check_len`.
fn shake(data: &[u8]) {
    whole_frame(data);
    let starts = [0, 14, 34, 42, 54, 62, 86];
    for &at in &starts {
        if let Some(d) = data.get(at..) {
            headers(d);
        }
    }
    let _ = icrc::check(data);
    let _ = icrc::compute(data);
    if data.len() > 14 {
        let _ = icrc::check(&data[14..]);
    }
}

fn whole_frame(data: &[u8]) {
    if let Ok(repr) = roce::Repr::parse(data) {
        // Re-emit and parse again: same meaning (lengths and pad derived).
        let mut out = vec![0u8; repr.buffer_len().unwrap()];
        let n = repr.emit(&mut out).expect("a parsed frame re-emits");
        let again = roce::Repr::parse(&out[..n]).expect("a re-emitted frame parses");
        assert_eq!(again.payload, repr.payload);
        assert_eq!(again.bth.opcode, repr.bth.opcode);
        assert_eq!(
            (again.deth, again.reth, again.aeth, again.immdt),
            (repr.deth, repr.reth, repr.aeth, repr.immdt)
        );
        // The CM layer on top, as the GSI would run it.
        if repr.bth.opcode.is_ud() {
            if let Ok(p) = mad::Packet::new_checked(repr.payload) {
                if let Ok(cm_repr) = cm::Repr::parse(&p) {
                    let mut m = [0u8; mad::MAD_LEN];
                    cm_repr.emit(&mut mad::Packet::new_unchecked(&mut m[..]));
                    let back = cm::Repr::parse(&mad::Packet::new_checked(&m[..]).unwrap()).unwrap();
                    assert_eq!(back.tid, cm_repr.tid);
                    assert_eq!(back.message.attr_id(), cm_repr.message.attr_id());
                }
            }
        }
    }
}

fn headers(d: &[u8]) {
    if let Ok(f) = eth::Frame::new_checked(d) {
        let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload().len());
        let _ = eth::Repr::parse(&f);
    }
    if let Ok(p) = arp::Packet::new_checked(d) {
        let _ = (
            p.operation(),
            p.source_hardware_addr(),
            p.target_protocol_addr(),
        );
        if let Ok(r) = arp::Repr::parse(&p) {
            let mut out = [0u8; arp::PACKET_LEN];
            r.emit(&mut arp::Packet::new_unchecked(&mut out[..]));
            assert_eq!(
                arp::Repr::parse(&arp::Packet::new_unchecked(&out[..])),
                Ok(r)
            );
        }
    }
    if let Ok(p) = ipv4::Packet::new_checked(d) {
        let _ = (
            p.version(),
            p.header_len(),
            p.total_len(),
            p.ident(),
            p.frag_offset(),
        );
        let _ = (
            p.ttl(),
            p.protocol(),
            p.checksum(),
            p.src_addr(),
            p.dst_addr(),
        );
        let _ = (p.verify_checksum(), p.payload().len());
        if let Ok(r) = ipv4::Repr::parse(&p) {
            let mut out = vec![0u8; ipv4::HEADER_LEN + r.payload_len];
            r.emit(&mut ipv4::Packet::new_unchecked(&mut out[..]));
            assert_eq!(
                ipv4::Repr::parse(&ipv4::Packet::new_checked(&out[..]).unwrap()),
                Ok(r)
            );
        }
    }
    if let Ok(p) = udp::Packet::new_checked(d) {
        let _ = (
            p.src_port(),
            p.dst_port(),
            p.len(),
            p.checksum(),
            p.payload().len(),
        );
        let a = ipv4::Address::new(10, 0, 0, 1);
        let _ = udp::Repr::parse(&p, a, a);
    }
    if let Ok(p) = bth::Packet::new_checked(d) {
        let op = p.opcode();
        let _ = (
            op.flags(),
            op.header_len(),
            op.payload_rule(),
            op.is_request(),
            op.ack_req_expected(),
        );
        let _ = op.ext_header_range(bth::OpFlags::RETH);
        if let Ok(r) = bth::Repr::parse(&p) {
            let mut out = [0u8; bth::HEADER_LEN];
            r.emit(&mut bth::Packet::new_unchecked(&mut out[..]));
            assert_eq!(
                bth::Repr::parse(&bth::Packet::new_unchecked(&out[..])),
                Ok(r)
            );
        }
    }
    if let Ok(p) = reth::Packet::new_checked(d) {
        let _ = reth::Repr::parse(&p);
    }
    if let Ok(p) = aeth::Packet::new_checked(d) {
        let r = aeth::Repr::parse(&p).unwrap();
        let mut out = [0u8; aeth::HEADER_LEN];
        r.emit(&mut aeth::Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, d[..aeth::HEADER_LEN], "AETH keeps every bit");
        let _ = aeth::rnr_timer_micros(d[0]);
    }
    if let Ok(p) = deth::Packet::new_checked(d) {
        let _ = deth::Repr::parse(&p);
    }
    if let Ok(p) = immdt::Packet::new_checked(d) {
        let _ = immdt::Repr::parse(&p);
    }
    if let Ok(p) = mad::Packet::new_checked(d) {
        let _ = (p.tid(), p.attr_id(), p.data().len());
        let _ = mad::Repr::parse(&p);
        let _ = cm::Repr::parse(&p);
    }
    for attr in 0x10..=0x1Au16 {
        if let Ok(m) = cm::Message::parse(cm::AttributeId::from(attr), d) {
            let mut out = [0u8; cm::MSG_LEN];
            m.emit(&mut out);
            assert_eq!(
                cm::Message::parse(m.attr_id(), &out[..]).map(|x| x.attr_id()),
                Ok(m.attr_id())
            );
            if let cm::Message::Rej(r) = m {
                let _ = r.ari_info();
            }
        }
    }
    if let Ok(p) = cm::CmaHeaderPacket::new_checked(d) {
        let _ = cm::CmaHeaderRepr::parse(&p);
    }
}

/// Recomputes the IPv4 header checksum and the ICRC where the frame's own
/// length fields make that possible; leaves anything implausible alone.
fn repair(frame: &mut [u8]) {
    if frame.len() < 14 + 20 || frame[14] != 0x45 {
        return;
    }
    ipv4::Packet::new_unchecked(&mut frame[14..]).fill_checksum();
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    if total >= 44 && 14 + total <= frame.len() {
        icrc::fill(&mut frame[14..14 + total]).unwrap();
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut f = seed.to_vec();
    match rng.below(6) {
        0 => {
            // Flip 1..4 random bits.
            for _ in 0..1 + rng.below(4) {
                if f.is_empty() {
                    break;
                }
                let at = rng.below(f.len());
                f[at] ^= 1 << rng.below(8);
            }
        }
        1 => {
            // Truncate.
            let n = rng.below(f.len() + 1);
            f.truncate(n);
        }
        2 => {
            // Overwrite a header byte (the first 100 bytes hold every header).
            let at = rng.below(f.len().clamp(1, 100));
            if at < f.len() {
                f[at] = rng.byte();
            }
        }
        3 => {
            // Extend with junk.
            for _ in 0..rng.below(64) {
                f.push(rng.byte());
            }
        }
        4 => {
            // Random length fields (IP total length, UDP length).
            if f.len() >= 40 {
                let at = [16, 38][rng.below(2)];
                f[at] = rng.byte();
                f[at + 1] = rng.byte();
            }
        }
        _ => {
            // Random opcode / pad byte.
            if f.len() >= 44 {
                f[42] = rng.byte();
                f[43] = rng.byte();
            }
        }
    }
    f
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(0x5350_5242_4f4f_5421);
    let mut buf = [0u8; 1200];
    for round in 0..20_000 {
        let len = if round % 2 == 0 {
            rng.below(80)
        } else {
            rng.below(buf.len())
        };
        rng.fill(&mut buf[..len]);
        shake(&buf[..len]);
        // Random bytes behind a valid-looking RoCEv2 prefix, then repaired.
        if len >= 42 {
            buf[12..14].copy_from_slice(&[0x08, 0x00]);
            buf[14] = 0x45;
            buf[16..18].copy_from_slice(&((len - 14) as u16).to_be_bytes());
            buf[20] &= 0x40; // no fragments
            buf[21] = 0;
            buf[23] = 17;
            buf[36..38].copy_from_slice(&4791u16.to_be_bytes());
            buf[38..40].copy_from_slice(&((len - 34) as u16).to_be_bytes());
            buf[40..42].copy_from_slice(&[0, 0]);
            let mut f = buf[..len].to_vec();
            repair(&mut f);
            shake(&f);
        }
    }
}

#[test]
fn truncated_golden_frames_never_panic() {
    let bytes = common::golden_pcap_bytes();
    let pcap = Pcap::parse(&bytes).unwrap();
    // Every frame kind once (first occurrence of each opcode / EtherType),
    // truncated at every length.
    let mut seen = std::collections::BTreeSet::new();
    for r in &pcap.records {
        let key = (
            r.data.get(12..14).map(<[u8]>::to_vec),
            r.data.get(42).copied(),
        );
        if !seen.insert(key) {
            continue;
        }
        for len in 0..=r.data.len() {
            shake(&r.data[..len]);
            if len < r.data.len() {
                assert!(
                    roce::Repr::parse(&r.data[..len]).is_err(),
                    "frame {} cut to {len}",
                    r.number
                );
            }
        }
    }
    assert!(seen.len() >= 15, "ARP plus 14 opcodes");
}

#[test]
fn mutated_golden_frames_never_panic() {
    let bytes = common::golden_pcap_bytes();
    let pcap = Pcap::parse(&bytes).unwrap();
    let mut rng = Rng::new(0x1cc0_ffee);
    let mut parsed_after_repair = 0;
    for r in &pcap.records {
        for _ in 0..8 {
            let mut f = mutate(&mut rng, r.data);
            shake(&f);
            repair(&mut f);
            shake(&f);
            if roce::Repr::parse(&f).is_ok() {
                parsed_after_repair += 1;
            }
        }
    }
    // Many repaired mutants are still valid frames (e.g. payload bit flips),
    // so the deep paths did run.
    assert!(parsed_after_repair > 1000, "{parsed_after_repair}");
}

#[test]
fn every_single_bit_flip_of_key_frames_is_caught_or_meaningful() {
    // Without repair, the ICRC and IPv4 checksum must catch every flip in a
    // covered byte; only the bytes outside both (Ethernet addresses and
    // type, the masked IPv4/UDP/BTH fields) may still parse.
    let bytes = common::golden_pcap_bytes();
    let pcap = Pcap::parse(&bytes).unwrap();
    for number in [5usize, 8, 9, 60] {
        let golden = pcap.records[number - 1].data;
        let good = roce::Repr::parse(golden).unwrap();
        for at in 0..golden.len() {
            for bit in 0..8 {
                let mut f = golden.to_vec();
                f[at] ^= 1 << bit;
                match roce::Repr::parse(&f) {
                    Err(_) => {}
                    Ok(r) => {
                        // Only MACs, or masked fields whose IPv4 checksum is
                        // not involved (UDP checksum 0 → non-zero is refused,
                        // BTH byte 4 carries FECN/BECN/reserved).
                        let allowed = at < 12 || at == 46;
                        assert!(
                            allowed,
                            "frame {number} byte {at} bit {bit} slipped through"
                        );
                        assert_eq!(r.payload, good.payload);
                    }
                }
            }
        }
    }
}
