//! The benchmark payload (`qemu/bench/`) is itself verified: on SeaBIOS's own
//! virtio-blk disk, with the QUICK size, it must read the whole data area and
//! its random sectors with the pattern intact and print a parsable BENCH line.
//! No timing is asserted here (that is `cargo xtask bench`'s job).

use tools::bench::{self, Config, Ctx, Sizes};
use tools::qemu::target_dir;

#[test]
fn bench_payload_reads_every_sector_correctly_on_seabios_virtio_blk() {
    let sizes = Sizes::QUICK;
    let image = bench::payload_image(sizes).unwrap();
    assert_eq!(
        std::fs::metadata(&image).unwrap().len(),
        (sizes.mib as u64) << 20
    );
    let ctx = Ctx {
        image,
        dir: target_dir().join("bench"),
    };
    let results = bench::run_all(&[Config::seabios_virtio()], &ctx, 1, |l| eprintln!("{l}"));
    let row = &results[0];
    assert!(row.failures.is_empty(), "{:?}", row.failures);
    let b = &row.runs[0];
    assert_eq!(b.errors, 0);
    assert_eq!(b.bytes, sizes.data_bytes());
    assert_eq!(b.rand_n, sizes.rand_n as u64);
    assert!(
        b.seq_mib_s > 0.0 && b.rand_reads_s > 0.0 && b.seq_ms > 0.0 && b.rand_ms > 0.0,
        "{b:?}"
    );
    // The TSC was calibrated against the PIT to something a host CPU runs at.
    assert!(b.tsc_mhz > 100.0 && b.tsc_mhz < 10_000.0, "{b:?}");
    assert!(b.boot_ms > 0.0, "{b:?}");
}

/// A path that returns the wrong data does not pass as fast: one damaged
/// sector at the start of the second 127-sector chunk is reported.
#[test]
fn bench_payload_reports_wrong_data() {
    let image = bench::payload_image(Sizes::QUICK).unwrap();
    let bad = target_dir()
        .join("bench")
        .join("bench-payload-test-damaged.img");
    let mut bytes = std::fs::read(&image).unwrap();
    let lba = 32 + 127;
    bytes[lba * 512..lba * 512 + 16].copy_from_slice(b"LBA0000ffff/000\n");
    std::fs::write(&bad, &bytes).unwrap();
    let args: Vec<String> = vec![
        "-net".into(),
        "none".into(),
        "-drive".into(),
        format!(
            "if=none,id=d0,file={},format=raw,snapshot=on",
            bad.display()
        ),
        "-device".into(),
        "virtio-blk-pci,drive=d0".into(),
    ];
    let err = bench::run_once("bench-payload-damaged", &args, 120).unwrap_err();
    assert!(
        err.contains("errors=1") && err.contains("BENCHERR pattern-mismatch lba=159 count=127"),
        "{err}"
    );
    let _ = std::fs::remove_file(&bad);
}
