//! Arbitrary bytes through the SRP side of `fabric`: every SRP IU parser
//! (with and without negotiated immediate data), the rdma_cm login request
//! layout, SCSI CDBs and the data a target returns, sense data, the sBFT and
//! the `srp://` boot URI.
//!
//! Built by cargo-fuzz with `--cfg fuzzing`, under which the sBFT checksum
//! always passes, so corrupted tables reach the offset checks behind it.
//! Properties: nothing panics, and whatever parses re-emits into bytes that
//! parse back to the same value.
//!
//! Run: `cargo +nightly fuzz run fabric_srp` from `fuzz/`. Good seeds are the
//! SEND payloads and CM private data of shared/golden/srp-session.pcap (the
//! byte arrays in the tests of `fabric/src/wire/srp.rs`).
#![no_main]

use fabric::uri::SrpUri;
use fabric::wire::sbft::{self, SbftRepr};
use fabric::wire::scsi::{
    Cdb, InquiryData, ModeHeader, ReadCapacity10, ReadCapacity16, ReportLuns, Sense, VpdPage,
};
use fabric::wire::srp::{IuRepr, LoginReqRdmaPacket, LoginReqRepr, LINUX_IMM_DATA_OFFSET};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // SRP IUs, as a receive path sees them.
    for imm in [0, LINUX_IMM_DATA_OFFSET, u16::MAX] {
        if let Ok(iu) = IuRepr::parse(data, imm) {
            let mut out = vec![0u8; iu.buffer_len()];
            iu.emit(&mut out);
            assert_eq!(IuRepr::parse(&out, imm), Ok(iu), "re-emitted IU parses the same");
        }
    }
    if let Ok(req) = LoginReqRepr::parse_rdma(&LoginReqRdmaPacket::new_unchecked(data)) {
        let mut out = [0u8; LoginReqRepr::RDMA_LEN];
        req.emit_rdma(&mut LoginReqRdmaPacket::new_unchecked(&mut out[..]));
        assert_eq!(LoginReqRepr::parse_rdma(&LoginReqRdmaPacket::new_unchecked(&out[..])), Ok(req));
    }

    // SCSI: CDBs (target side) and returned data (initiator side).
    if let Ok(cdb) = Cdb::parse(data) {
        let out = cdb.to_padded();
        assert_eq!(Cdb::parse(&out), Ok(cdb));
    }
    if let Ok(s) = Sense::parse(data) {
        let _ = s.to_string();
        let mut out = [0u8; Sense::FIXED_LEN];
        s.emit_fixed(&mut out);
        assert_eq!(Sense::parse(&out), Ok(s));
    }
    let _ = InquiryData::parse(data);
    if let Ok(page) = VpdPage::parse(data) {
        for d in page.designators() {
            assert!(d.data.len() <= page.data.len());
        }
        let _ = page.serial();
    }
    let _ = ReadCapacity10::parse(data);
    let _ = ReadCapacity16::parse(data);
    if let Ok(list) = ReportLuns::parse(data) {
        assert_eq!(list.iter().count(), list.len());
    }
    let _ = ModeHeader::parse6(data);
    let _ = ModeHeader::parse10(data);

    // sBFT: at offset 0, and by the low-memory scan.
    if let Ok(t) = SbftRepr::parse(&sbft::Packet::new_unchecked(data)) {
        let mut out = vec![0u8; t.buffer_len()];
        t.emit(&mut sbft::Packet::new_unchecked(&mut out[..]));
        assert_eq!(SbftRepr::parse(&sbft::Packet::new_unchecked(&out[..])), Ok(t));
    }
    let _ = sbft::scan(data);

    // Boot URI.
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(uri) = SrpUri::parse(text) {
            assert_eq!(SrpUri::parse(&uri.to_string()), Ok(uri));
        }
    }
});
