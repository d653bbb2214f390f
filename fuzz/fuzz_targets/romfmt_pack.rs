//! The packed-body codec (romfmt::pack): arbitrary bytes as a packed
//! stream and as a descriptor never panic or hang, check() and unpack()
//! agree, and the same bytes as *data* survive pack -> unpack unchanged
//! with check() accepting the stream at exactly its length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use romfmt::pack::{self, Descriptor};

fuzz_target!(|data: &[u8]| {
    // As a stream: the first two bytes pick the unpacked length.
    if let Some((head, stream)) = data.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*head));
        let checked = pack::check(stream, len);
        let mut out = vec![0u8; len];
        assert_eq!(
            checked,
            pack::unpack(stream, &mut out),
            "check and unpack disagree"
        );
        let _ = checked.map_err(|e| e.to_string());
    }
    // As a descriptor (and the image it describes).
    if let Ok(d) = Descriptor::parse(data) {
        let _ = d.check(data).map_err(|e| e.to_string());
    }
    let _ = pack::descriptor(data);

    // As data.
    let packed = pack::pack(data);
    let mut out = vec![0u8; data.len()];
    pack::unpack(&packed, &mut out).expect("a packed stream unpacks");
    assert_eq!(out, data, "round trip");
    assert_eq!(pack::check(&packed, data.len()), Ok(()));
});
