//! Arbitrary bytes through the whole `fabric::wire` receive path: an
//! Ethernet frame as the NIC hands it over, parsed as RoCEv2 (and, for UD
//! packets to QP1, as a CM MAD) or as ARP.
//!
//! Built by cargo-fuzz with `--cfg fuzzing`, under which the IPv4 and UDP
//! checksums and the ICRC always pass, so the input reaches every parser.
//! Properties: nothing panics, and whatever parses re-emits into bytes that
//! parse back to the same meaning.
//!
//! Run: `cargo +nightly fuzz run fabric_wire` from `fuzz/`. Good seeds are the
//! frames of shared/golden/srp-session.pcap, one file each.
#![no_main]

use fabric::wire::{arp, cm, eth, mad, roce};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = roce::Repr::parse(data) {
        let len = frame.buffer_len().expect("a parsed frame has a length");
        let mut out = vec![0u8; len];
        let n = frame.emit(&mut out).expect("a parsed frame re-emits");
        assert_eq!(n, len);
        let again = roce::Repr::parse(&out).expect("a re-emitted frame parses");
        assert_eq!(again, frame);

        if frame.bth.opcode.is_ud() {
            if let Ok(packet) = mad::Packet::new_checked(frame.payload) {
                if let Ok(msg) = cm::Repr::parse(&packet) {
                    let mut m = [0u8; mad::MAD_LEN];
                    msg.emit(&mut mad::Packet::new_unchecked(&mut m[..]));
                    let back = cm::Repr::parse(&mad::Packet::new_checked(&m[..]).unwrap())
                        .expect("a re-emitted CM MAD parses");
                    assert_eq!(back.tid, msg.tid);
                    assert_eq!(back.message.attr_id(), msg.message.attr_id());
                    if let cm::Message::Req(req) = msg.message {
                        if let Ok(h) = cm::CmaHeaderPacket::new_checked(req.private_data) {
                            let _ = cm::CmaHeaderRepr::parse(&h);
                        }
                    }
                }
            }
        }
    }

    if let Ok(frame) = eth::Frame::new_checked(data) {
        if frame.ethertype() == eth::EtherType::Arp {
            if let Ok(packet) = arp::Packet::new_checked(frame.payload()) {
                if let Ok(repr) = arp::Repr::parse(&packet) {
                    let mut out = [0u8; arp::PACKET_LEN];
                    repr.emit(&mut arp::Packet::new_unchecked(&mut out[..]));
                    assert_eq!(arp::Repr::parse(&arp::Packet::new_unchecked(&out[..])), Ok(repr));
                }
            }
        }
    }
});
