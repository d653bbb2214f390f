use super::*;
use crate::field::sum8;

/// Makes the whole image sum to 0 through its last byte.
fn fix_byte(rom: &mut [u8], at: usize) {
    rom[at] = crate::field::fix_byte(sum8(rom), rom[at]);
}
use crate::verify::{verify_to_vec, Problem};

use crate::testrng::XorShift;

/// Data with the shapes a body has: runs, repeats near and far,
/// noise, a few distinct bytes; `kind` picks the mix.
fn sample(rng: &mut XorShift, len: usize, kind: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        match (kind + rng.below(4)) % 5 {
            0 => v.push(rng.next() as u8),
            1 => {
                let b = rng.next() as u8;
                v.extend(core::iter::repeat_n(b, 1 + rng.below(300)));
            }
            2 if !v.is_empty() => {
                let from = rng.below(v.len());
                let n = 1 + rng.below(40);
                for i in 0..n {
                    v.push(v[from + i % (v.len() - from)]);
                }
            }
            3 => v.push(b"\x00\x8b\x89\xe8\xff"[rng.below(5)]),
            _ => v.extend_from_slice(b"srpboot "),
        }
    }
    v.truncate(len);
    v
}

fn round_trip(data: &[u8]) -> Vec<u8> {
    let packed = pack(data);
    let mut out = vec![0xA5; data.len()];
    unpack(&packed, &mut out).unwrap_or_else(|e| panic!("{} bytes: {e}", data.len()));
    assert_eq!(out, data, "{} bytes", data.len());
    assert_eq!(check(&packed, data.len()), Ok(()));
    packed
}

#[test]
fn round_trips_random_and_structured_data() {
    let mut rng = XorShift(0x5eed_cafe_f00d_0001);
    for len in [0, 1, 2, 3, 4, 5, 7, 8, 31, 255, 256, 1000, 4096] {
        for kind in 0..5 {
            round_trip(&sample(&mut rng, len, kind));
        }
    }
    for _ in 0..60 {
        let len = rng.below(20_000);
        let kind = rng.below(5);
        round_trip(&sample(&mut rng, len, kind));
    }
}

#[test]
fn round_trips_edge_shapes() {
    round_trip(&[0u8; 70_000]);
    round_trip(&(0..=255u8).cycle().take(5000).collect::<Vec<_>>());
    let mut rng = XorShift(7);
    let noise: Vec<u8> = (0..5000).map(|_| rng.next() as u8).collect();
    let packed = round_trip(&noise);
    // Incompressible data costs little more than itself.
    assert!(
        packed.len() < noise.len() + noise.len() / 50 + 16,
        "{}",
        packed.len()
    );
    // A long match far back.
    let mut far = noise.clone();
    far.extend(vec![1u8; 60_000]);
    far.extend_from_slice(&noise[100..2100]);
    round_trip(&far);
}

#[test]
fn packs_deterministically_and_well() {
    let mut rng = XorShift(99);
    let data = sample(&mut rng, 30_000, 2);
    assert_eq!(pack(&data), pack(&data));
    let packed = pack(&data);
    assert!(
        packed.len() < data.len() / 2,
        "{} -> {}",
        data.len(),
        packed.len()
    );
}

#[test]
fn exact_lengths_are_required() {
    let mut rng = XorShift(3);
    let data = sample(&mut rng, 3000, 1);
    let packed = pack(&data);
    assert_eq!(check(&packed, data.len()), Ok(()));
    for cut in [0, 1, 3, 4, packed.len() / 2, packed.len() - 1] {
        assert!(
            matches!(
                check(&packed[..cut], data.len()),
                Err(UnpackError::Truncated { .. })
            ),
            "cut at {cut}"
        );
    }
    let mut longer = packed.clone();
    longer.push(0);
    assert_eq!(
        check(&longer, data.len()),
        Err(UnpackError::TrailingBytes { unused: 1 })
    );
    // Asking for less output: the stream has bytes left over, or a
    // match runs past the end.
    assert!(check(&packed, data.len() - 1).is_err());
    assert!(check(&packed, data.len() + 1).is_err());
}

#[test]
fn hostile_streams_are_errors_not_panics() {
    let mut rng = XorShift(0xbad);
    let data = sample(&mut rng, 4000, 0);
    let packed = pack(&data);
    let mut out = vec![0u8; data.len()];
    let mut errors = 0;
    for i in 0..packed.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = packed.clone();
            bad[i] ^= flip;
            let checked = check(&bad, data.len());
            assert_eq!(checked, unpack(&bad, &mut out), "byte {i} ^ {flip:#x}");
            errors += usize::from(checked.is_err());
        }
    }
    // Nearly every change is caught by the exact-length rules.
    assert!(
        errors * 10 > packed.len() * 3 * 9,
        "{errors} of {}",
        packed.len() * 3
    );
    for _ in 0..2000 {
        let junk: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        let len = rng.below(1 << 20);
        let _ = check(&junk, len);
        let mut out = vec![0u8; len.min(4096)];
        let _ = unpack(&junk, &mut out);
    }
    // All-ones bits: numbers hit their bound instead of running away.
    let ones = [0xffu8; 256];
    let _ = check(&ones, MAX_UNPACKED);
}

/// A small image with a packed body, the way romtool build lays it out.
fn packed_image(body: &[u8]) -> (Vec<u8>, usize) {
    let start = 0x200;
    let desc_at = 0x1c0; // after testrom's config block
    let stream = pack(body);
    let len = (start + stream.len() + 1).div_ceil(512) * 512;
    let mut rom = crate::testrom::build((len / 512) as u8, 0x80);
    rom[start..start + stream.len()].copy_from_slice(&stream);
    Descriptor {
        raw_len: start as u32,
        src: start as u32,
        packed_len: stream.len() as u32,
        dst: start as u32,
        unpacked_len: body.len() as u32,
    }
    .emit(&mut rom[desc_at..])
    .unwrap();
    fix_byte(&mut rom, len - 1);
    (rom, desc_at)
}

#[test]
fn descriptor_round_trips_and_verifies() {
    let mut rng = XorShift(11);
    let body = sample(&mut rng, 6000, 2);
    let (rom, at) = packed_image(&body);
    assert_eq!(sum8(&rom), 0);
    assert_eq!(verify_to_vec(&rom, None), vec![]);
    let (found, desc) = descriptor(&rom).unwrap();
    assert_eq!(found, at);
    let desc = desc.unwrap();
    assert!(desc.is_packed());
    let mut out = vec![0; desc.unpacked_len as usize];
    unpack(desc.stream(&rom).unwrap(), &mut out).unwrap();
    assert_eq!(out, body);
    let mut again = [0u8; DESC_LEN];
    desc.emit(&mut again).unwrap();
    assert_eq!(again[..], rom[at..at + DESC_LEN]);
    // An ordinary ROM has none.
    assert_eq!(descriptor(&crate::testrom::build(4, 0x80)), None);
}

#[test]
fn a_corrupt_packed_body_is_one_finding() {
    let mut rng = XorShift(12);
    let body = sample(&mut rng, 6000, 2);
    let (rom, at) = packed_image(&body);
    let one = |rom: &[u8]| {
        let findings = verify_to_vec(rom, None);
        assert_eq!(findings.len(), 1, "{findings:?}");
        match findings[0].problem {
            Problem::PackCorrupt { offset, error } => {
                assert_eq!(offset, at);
                assert!(!findings[0].to_string().contains('\n'));
                error
            }
            other => panic!("{other:?}"),
        }
    };
    // A changed stream byte, with the checksum made good again.
    let mut bad = rom.clone();
    bad[0x200 + 1000] ^= 0x10;
    fix_byte(&mut bad, rom.len() - 1);
    assert!(matches!(one(&bad), PackError::Stream(_)));
    // Descriptor fields.
    let field = |off: usize, v: u32| {
        let mut bad = rom.clone();
        bad[at + off..at + off + 4].copy_from_slice(&v.to_le_bytes());
        fix_byte(&mut bad, rom.len() - 1);
        one(&bad)
    };
    assert!(matches!(field(16, 0x10_0000), PackError::OutOfImage { .. }));
    assert!(matches!(field(12, u32::MAX), PackError::OutOfImage { .. }));
    assert!(matches!(
        field(24, body.len() as u32 + 1),
        PackError::Stream(_)
    ));
    assert_eq!(field(24, 0), PackError::EmptyStream);
    assert_eq!(field(20, 0x100), PackError::BadLayout);
    assert_eq!(field(20, u32::MAX - 4), PackError::BadLayout);
    let mut bad = rom.clone();
    bad[at + 4] = 2;
    fix_byte(&mut bad, rom.len() - 1);
    assert_eq!(one(&bad), PackError::UnknownFormat { format: 2, len: 28 });
    // Cut off by the image end.
    let mut short = crate::testrom::build(1, 0x80);
    short[512 - 16..512 - 12].copy_from_slice(&DESC_MAGIC);
    fix_byte(&mut short, 511);
    assert_eq!(
        verify_to_vec(&short, None)[0].problem,
        Problem::PackCorrupt {
            offset: 512 - 16,
            error: PackError::Truncated
        }
    );
}
