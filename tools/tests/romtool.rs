//! romtool end to end: a synthetic ROM ELF built by hand here (so these
//! tests do not depend on the real ROM build), corruptions with their exact
//! error lines and exit codes, the config block, and real ROMs from Debian's
//! ipxe-qemu and seabios packages (installed by scripts/setup).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use romfmt::config::EMPTY_CONFIG_BLOCK;
use serde_json::Value;

// ---------------------------------------------------------------------------
// A minimal ELF32 writer: just enough for goblin and romtool.

struct Section {
    name: &'static str,
    addr: u32,
    data: Vec<u8>,
    /// NOBITS (like .bss): occupies addresses, no file bytes.
    nobits_len: Option<u32>,
}

const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_NOBITS: u32 = 8;
const SHF_ALLOC: u32 = 2;
const SHN_ABS: u16 = 0xfff1;

fn push32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn push16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes an i386 ET_EXEC with the given sections and absolute symbols.
fn write_elf32(sections: &[Section], symbols: &[(&str, u32)]) -> Vec<u8> {
    let mut shstrtab = vec![0u8];
    let name_of = |name: &str, table: &mut Vec<u8>| {
        let at = table.len() as u32;
        table.extend_from_slice(name.as_bytes());
        table.push(0);
        at
    };
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 16]; // the null symbol
    for (name, value) in symbols {
        push32(&mut symtab, name_of(name, &mut strtab));
        push32(&mut symtab, *value);
        push32(&mut symtab, 0);
        symtab.push(0x10); // STB_GLOBAL, STT_NOTYPE
        symtab.push(0);
        push16(&mut symtab, SHN_ABS);
    }

    // Layout: ELF header, section contents, section header table.
    let mut body = Vec::new();
    let mut headers: Vec<[u32; 10]> = vec![[0; 10]];
    let base = 52u32;
    for s in sections {
        let offset = base + body.len() as u32;
        let (kind, size) = match s.nobits_len {
            Some(len) => (SHT_NOBITS, len),
            None => {
                body.extend_from_slice(&s.data);
                (SHT_PROGBITS, s.data.len() as u32)
            }
        };
        let name = name_of(s.name, &mut shstrtab);
        headers.push([
            name,
            kind,
            SHF_ALLOC | 0x4,
            s.addr,
            offset,
            size,
            0,
            0,
            16,
            0,
        ]);
    }
    let symtab_index = headers.len() as u32;
    let strtab_index = symtab_index + 1;
    for (name, kind, data, link, info, entsize) in [
        (".symtab", SHT_SYMTAB, &symtab, strtab_index, 1, 16),
        (".strtab", SHT_STRTAB, &strtab, 0, 0, 0),
    ] {
        let offset = base + body.len() as u32;
        body.extend_from_slice(data);
        let name = name_of(name, &mut shstrtab);
        headers.push([
            name,
            kind,
            0,
            0,
            offset,
            data.len() as u32,
            link,
            info,
            4,
            entsize,
        ]);
    }
    let shstr_name = name_of(".shstrtab", &mut shstrtab);
    let shstr_offset = base + body.len() as u32;
    body.extend_from_slice(&shstrtab);
    headers.push([
        shstr_name,
        SHT_STRTAB,
        0,
        0,
        shstr_offset,
        shstrtab.len() as u32,
        0,
        0,
        1,
        0,
    ]);
    while body.len() % 4 != 0 {
        body.push(0);
    }

    let mut elf = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    push16(&mut elf, 2); // ET_EXEC
    push16(&mut elf, 3); // EM_386
    push32(&mut elf, 1);
    push32(&mut elf, 0); // entry
    push32(&mut elf, 0); // no program headers
    push32(&mut elf, base + body.len() as u32);
    push32(&mut elf, 0);
    push16(&mut elf, 52);
    push16(&mut elf, 32);
    push16(&mut elf, 0);
    push16(&mut elf, 40);
    push16(&mut elf, headers.len() as u16);
    push16(&mut elf, headers.len() as u16 - 1);
    assert_eq!(elf.len(), 52);
    elf.extend_from_slice(&body);
    for h in headers {
        for v in h {
            push32(&mut elf, v);
        }
    }
    elf
}

/// The ROM's header section as srpboot's assembly lays it out, with the
/// fields romtool fills left at zero.
fn header_section() -> Vec<u8> {
    let mut h = vec![0u8; 0x100];
    h[..6].copy_from_slice(&[0x55, 0xAA, 0x00, 0xE9, 0xFA, 0x00]); // jmp near 0x100
    h[0x18..0x1c].copy_from_slice(&[0x1c, 0x00, 0x40, 0x00]);
    let p = &mut h[0x1c..0x34];
    p[..4].copy_from_slice(b"PCIR");
    p[0x0a] = 0x18;
    p[0x0d..0x10].copy_from_slice(&[0x00, 0x80, 0x01]);
    p[0x12] = 1;
    p[0x15] = 0x80;
    let n = &mut h[0x40..0x60];
    n[..6].copy_from_slice(b"$PnP\x01\x02");
    n[0x0e..0x12].copy_from_slice(&[0x60, 0x00, 0x70, 0x00]);
    n[0x12..0x16].copy_from_slice(&[0x01, 0x80, 0x00, 0x14]);
    n[0x16..0x18].copy_from_slice(&0x101u16.to_le_bytes()); // BCV
    h[0x60..0x68].copy_from_slice(b"srpboot\0");
    h[0x70..0x8b].copy_from_slice(b"srpboot test ROM product..\0");
    h
}

/// A complete test ROM ELF: 2 blocks, config block at 0x200.
fn rom_sections() -> Vec<Section> {
    vec![
        Section {
            name: ".header",
            addr: 0,
            data: header_section(),
            nobits_len: None,
        },
        Section {
            name: ".text",
            addr: 0x100,
            data: vec![0xCB, 0xCB, 0x90, 0x90],
            nobits_len: None,
        },
        Section {
            name: ".rodata",
            addr: 0x200,
            data: EMPTY_CONFIG_BLOCK.to_vec(),
            nobits_len: None,
        },
        Section {
            name: ".data",
            addr: 0x300,
            data: vec![0x11; 0x20],
            nobits_len: None,
        },
        Section {
            name: ".bss",
            addr: 0x400,
            data: vec![],
            nobits_len: Some(0x100),
        },
    ]
}

fn test_elf() -> Vec<u8> {
    write_elf32(&rom_sections(), &[("_rom_end", 0x400)])
}

// ---------------------------------------------------------------------------
// Running romtool.

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("romtool-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn romtool(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_romtool"))
        .args(args)
        .output()
        .expect("run romtool");
    assert!(
        out.status.code().is_some(),
        "romtool died from a signal: {out:?}"
    );
    assert_ne!(
        out.status.code(),
        Some(101),
        "romtool panicked: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes the ELF, runs `romtool build` with `extra` options, returns the ROM.
fn build(name: &str, elf: &[u8], extra: &[&str]) -> (PathBuf, Output) {
    let elf_path = scratch(&format!("{name}.elf"));
    let rom_path = scratch(&format!("{name}.rom"));
    std::fs::write(&elf_path, elf).unwrap();
    let _ = std::fs::remove_file(&rom_path);
    let mut args = vec![
        "build",
        "--elf",
        path_str(&elf_path),
        "--out",
        path_str(&rom_path),
    ];
    args.extend_from_slice(extra);
    let out = romtool(&args);
    (rom_path, out)
}

fn built(name: &str) -> (PathBuf, Vec<u8>) {
    let (path, out) = build(name, &test_elf(), &[]);
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn inspect_json(path: &Path) -> Value {
    let out = romtool(&["inspect", path_str(path), "--json"]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

fn sum8(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

/// Expects `verify` to fail with exactly these lines (after "PATH: ").
fn assert_verify_fails(path: &Path, extra: &[&str], expected: &[&str]) {
    let mut args = vec!["verify", path_str(path)];
    args.extend_from_slice(extra);
    let out = romtool(&args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let prefix = format!("{}: ", path.display());
    let lines: Vec<String> = stderr_lines(&out)
        .iter()
        .map(|l| l.strip_prefix(&prefix).unwrap_or(l).to_string())
        .collect();
    assert_eq!(lines, expected);
    assert!(out.stdout.is_empty());
}

/// Writes a corrupted copy of the test ROM.
fn corrupted(name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let (_, mut bytes) = built(&format!("{name}-base"));
    damage(&mut bytes);
    let path = scratch(&format!("{name}.rom"));
    std::fs::write(&path, &bytes).unwrap();
    path
}

// ---------------------------------------------------------------------------
// build -> inspect -> verify

#[test]
fn build_inspect_verify_round_trip() {
    let (path, out) = build("roundtrip", &test_elf(), &[]);
    assert!(out.status.success(), "{out:?}");
    let report = stdout(&out);
    assert!(
        report.contains("image     1024 bytes = 2 x 512, PCIR 1af4:1000"),
        "{report}"
    );
    assert!(report.contains("length from _rom_end"), "{report}");
    assert!(
        report.contains(".rodata          0x00200  0x00100    256"),
        "{report}"
    );
    assert!(
        report.contains(".bss             0x00400  0x00100    256  (not in image)"),
        "{report}"
    );

    let verify = romtool(&["verify", path_str(&path), "--expect", "1af4:1000"]);
    assert_eq!(verify.status.code(), Some(0), "{verify:?}");
    assert_eq!(
        stdout(&verify),
        format!("{}: valid (1024 bytes, 1 image(s))\n", path.display())
    );

    let json = inspect_json(&path);
    assert_eq!(json["size"], 1024);
    assert_eq!(json["image_count"], 1);
    assert_eq!(json["verdict"], true);
    assert_eq!(json["problems"], serde_json::json!([]));
    let image = &json["images"][0];
    assert_eq!(image["header"]["signature"], "55aa");
    assert_eq!(image["header"]["init_size"], 2);
    assert_eq!(image["header"]["entry"], "jmp near 0x0100");
    assert_eq!(image["pcir"]["vendor_device"], "1af4:1000");
    assert_eq!(image["pcir"]["class"], "018000");
    assert_eq!(image["pcir"]["image_length"], 2);
    assert_eq!(image["pcir"]["indicator"], 0x80);
    assert_eq!(image["pnp"][0]["checksum"], true);
    assert_eq!(image["pnp"][0]["bcv"], 0x101);
    assert_eq!(image["pnp"][0]["product"], "srpboot test ROM product..");
    assert_eq!(image["checksum"], true);
    assert_eq!(json["config"]["offset"], 0x200);
    assert_eq!(json["config"]["state"], "unconfigured");

    let text = stdout(&romtool(&["inspect", path_str(&path)]));
    for line in [
        "    init size: 2 blocks (1024 bytes)",
        "    vendor device: 1af4:1000",
        "verdict: valid",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

#[test]
fn build_patches_golden_header_fields() {
    let (_, rom) = built("golden");
    assert_eq!(rom.len(), 1024);
    assert_eq!(&rom[..3], &[0x55, 0xAA, 0x02]);
    assert_eq!(
        &rom[0x1c + 4..0x1c + 8],
        &[0xf4, 0x1a, 0x00, 0x10],
        "PCIR vendor/device"
    );
    assert_eq!(
        &rom[0x1c + 0x10..0x1c + 0x12],
        &[0x02, 0x00],
        "PCIR image length"
    );
    assert_eq!(rom[0x1c + 0x15], 0x80, "last-image indicator kept");
    assert_eq!(sum8(&rom[0x40..0x60]), 0, "PnP checksum");
    assert_eq!(sum8(&rom), 0, "image checksum");
    assert_eq!(&rom[0x200..0x300], &EMPTY_CONFIG_BLOCK[..]);
    // Everything romtool did not patch is the ELF's bytes.
    let mut expected = vec![0u8; 1024];
    for s in rom_sections().iter().filter(|s| s.nobits_len.is_none()) {
        expected[s.addr as usize..s.addr as usize + s.data.len()].copy_from_slice(&s.data);
    }
    let patched = [2, 0x20, 0x21, 0x22, 0x23, 0x2c, 0x49, 0x3ff];
    for (i, (a, b)) in rom.iter().zip(&expected).enumerate() {
        if !patched.contains(&i) {
            assert_eq!(a, b, "byte 0x{i:x} changed");
        }
    }
}

#[test]
fn build_is_deterministic() {
    let (_, a) = built("det-a");
    let (_, b) = built("det-b");
    assert_eq!(a, b);
}

#[test]
fn build_options_set_ids_class_product_and_indicator() {
    let args = [
        "--vendor",
        "8086",
        "--device",
        "100e",
        "--class",
        "020000",
        "--product",
        "srpboot e1000",
        "--more-images",
    ];
    let (path, out) = build("options", &test_elf(), &args);
    assert!(out.status.success(), "{out:?}");
    let rom = std::fs::read(&path).unwrap();
    assert_eq!(&rom[0x1c + 4..0x1c + 8], &[0x86, 0x80, 0x0e, 0x10]);
    assert_eq!(&rom[0x1c + 0x0d..0x1c + 0x10], &[0x00, 0x00, 0x02]);
    assert_eq!(rom[0x1c + 0x15], 0x00);
    assert_eq!(
        &rom[0x70..0x8b],
        b"srpboot e1000\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
    );
    assert_eq!(sum8(&rom), 0);
    // On its own, an image that expects a successor is missing the last bit.
    assert_verify_fails(
        &path,
        &["--expect", "8086:100e"],
        &["the final image does not set the last-image bit (PCIR indicator 0x80)"],
    );
    let (path, out) = build("options-last", &test_elf(), &["--last-image"]);
    assert!(out.status.success());
    assert_eq!(std::fs::read(path).unwrap()[0x1c + 0x15], 0x80);
}

#[test]
fn build_without_rom_end_rounds_up_past_the_loaded_bytes() {
    let (path, out) = build("no-rom-end", &write_elf32(&rom_sections(), &[]), &[]);
    assert!(out.status.success(), "{out:?}");
    // Loaded bytes end at 0x320; one checksum byte more, rounded to 512.
    assert_eq!(std::fs::read(&path).unwrap().len(), 1024);
    assert!(stdout(&out).contains("length from the loaded size"));
    let mut exact = rom_sections();
    exact[3].data = vec![0x11; 0x100]; // .data now ends exactly at 0x400
    let (path, out) = build("no-rom-end-exact", &write_elf32(&exact, &[]), &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&path).unwrap().len(), 1536);
}

#[test]
fn build_rejects_bad_elfs_with_one_line() {
    let elf_name = |n: &str| scratch(&format!("{n}.elf")).display().to_string();
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("not-elf", b"MZ not an ELF".to_vec(), "not a readable ELF file".into()),
        ("rom-end-odd", write_elf32(&rom_sections(), &[("_rom_end", 0x401)]), "_rom_end = 0x401 is not a non-zero multiple of 512".into()),
        (
            "rom-end-short",
            write_elf32(&rom_sections(), &[("_rom_end", 0x200)]),
            "_rom_end = 0x200 is before the end of the loaded data (0x320)".into(),
        ),
        ("overlap", {
            let mut s = rom_sections();
            s[1].addr = 0xf0;
            write_elf32(&s, &[("_rom_end", 0x400)])
        }, "sections .header and .text overlap".into()),
        ("slot-used", {
            let mut s = rom_sections();
            s[3].data = vec![0x11; 0x100]; // .data runs into the last byte
            write_elf32(&s, &[("_rom_end", 0x400)])
        }, "the last image byte (0x3ff) is 0x11, but it must be the zero byte the linker reserves for the checksum".into()),
        ("no-sig", {
            let mut s = rom_sections();
            s[0].data[0] = 0;
            write_elf32(&s, &[("_rom_end", 0x400)])
        }, "image does not start with 55 aa".into()),
        ("too-big", write_elf32(&rom_sections(), &[("_rom_end", 256 * 512)]), "_rom_end = 0x20000 is past the 130560-byte limit of a legacy ROM".into()),
    ];
    for (name, elf, message) in cases {
        let (rom, out) = build(name, &elf, &[]);
        assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
        let expected_start = format!("romtool build: {}: ", elf_name(name));
        assert!(
            lines[0].starts_with(&expected_start) && lines[0].contains(&message),
            "{name}: {}",
            lines[0]
        );
        assert!(!rom.exists(), "{name}: no output on failure");
    }
    let (_, out) = build(
        "long-product",
        &test_elf(),
        &["--product", "a product name longer than the placeholder"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_lines(&out)[0].ends_with(
        "product name is 42 bytes but the placeholder at 0x0070 holds 26; lengthen it in the ROM assembly"
    ));
}

#[test]
fn build_usage_errors_exit_2() {
    for args in [
        &["build", "--out", "x.rom"][..],
        &["build", "--elf", "x.elf"],
        &["build", "--elf", "x", "--out", "y", "--vendor", "xyz"],
        &["build", "--elf", "x", "--out", "y", "--class", "02"],
        &[
            "build",
            "--elf",
            "x",
            "--out",
            "y",
            "--last-image",
            "--more-images",
        ],
        &["build", "--elf", "x", "--out", "y", "--bogus"],
        &["frobnicate"],
        &[],
    ] {
        let out = romtool(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty());
    }
}

// ---------------------------------------------------------------------------
// Corruptions: exact lines, exit 1.

#[test]
fn verify_reports_truncation() {
    let path = corrupted("truncated", |r| r.truncate(512));
    assert_verify_fails(
        &path,
        &[],
        &["image 0 at 0x0: truncated: PCIR image length is 1024 bytes but only 512 are present"],
    );
    let path = corrupted("empty", |r| r.clear());
    assert_verify_fails(&path, &[], &["file is empty"]);
    let path = corrupted("stub", |r| r.truncate(10));
    assert_verify_fails(
        &path,
        &[],
        &[
            "image 0 at 0x0: only 10 bytes, too short for a ROM header (28 bytes)",
            "no x86 BIOS image (PCIR code type 0)",
        ],
    );
}

#[test]
fn verify_reports_a_flipped_checksum() {
    let path = corrupted("checksum", |r| r[0x3ff] ^= 0x40);
    assert_verify_fails(
        &path,
        &[],
        &["image 0 at 0x0: image checksum is wrong: bytes sum to 0x40, not 0"],
    );
}

#[test]
fn verify_reports_a_bad_size_byte() {
    let path = corrupted("size-zero", |r| {
        r[2] = 0;
        r[0x3ff] = r[0x3ff].wrapping_add(2);
    });
    assert_verify_fails(&path, &[], &["image 0 at 0x0: size byte (offset 2) is 0"]);
    let path = corrupted("size-big", |r| {
        r[2] = 3;
        r[0x3ff] = r[0x3ff].wrapping_sub(1);
    });
    assert_verify_fails(&path, &[], &[
        "image 0 at 0x0: size byte declares 1536 bytes, more than the PCIR image length of 1024",
    ]);
}

#[test]
fn verify_reports_bad_pcir_pointers() {
    let path = corrupted("pcir-misaligned", |r| {
        r[0x18] = 0x1d;
        r[0x3ff] = r[0x3ff].wrapping_sub(1);
    });
    assert_verify_fails(
        &path,
        &[],
        &[
            "image 0 at 0x0: PCIR pointer 0x001d is not 4-byte aligned",
            "image 0 at 0x0: PCIR signature is 43 49 52 f4, expected \"PCIR\"",
        ],
    );
    let path = corrupted("pcir-far", |r| {
        r[0x19] = 0x7f;
        r[0x3ff] = r[0x3ff].wrapping_sub(0x7f);
    });
    assert_verify_fails(&path, &[], &[
        "image 0 at 0x0: PCIR pointer 0x7f1c leaves no room for the structure in the 1024-byte image",
    ]);
}

#[test]
fn verify_reports_the_wrong_vendor() {
    let (path, _) = built("vendor");
    assert_verify_fails(
        &path,
        &["--expect", "8086:100e"],
        &["PCIR vendor:device is 1af4:1000, expected 8086:100e"],
    );
    let out = romtool(&["verify", path_str(&path), "--expect", "8086"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr_lines(&out), ["romtool verify: --expect \"8086\": expected a PCI ID as VVVV:DDDD in hex, e.g. 1af4:1000"]);
}

#[test]
fn verify_lists_every_problem() {
    let path = corrupted("many", |r| {
        r[0x40] = b'#'; // $PnP signature
        r[0x200 + 8] = 7; // config block version
        r.extend([0xee; 16]); // trailing bytes
    });
    assert_verify_fails(
        &path,
        &[],
        &[
            "image 0 at 0x0: expansion header at 0x0040 has signature \"#PnP\", expected \"$PnP\"",
            "image 0 at 0x0: image checksum is wrong: bytes sum to 0x05, not 0",
            "16 bytes of data after the last image (from 0x400)",
            "config block version 7 is not supported (expected 1) (block at 0x200)",
        ],
    );
}

#[test]
fn commands_never_panic_on_garbage() {
    let mut seed = 0x1234_5678_9abc_def1u64;
    for round in 0..24 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 3000) as usize;
        let mut bytes: Vec<u8> = (0..len)
            .map(|i| (seed >> (i % 57)) as u8 ^ i as u8)
            .collect();
        if round % 2 == 0 && len > 2 {
            bytes[..2].copy_from_slice(&[0x55, 0xAA]);
        }
        let path = scratch(&format!("garbage-{round}.rom"));
        std::fs::write(&path, &bytes).unwrap();
        for args in [
            &["verify"][..],
            &["inspect"],
            &["inspect", "--json"],
            &["config", "--show"],
        ] {
            let mut all = args.to_vec();
            all.insert(1, path_str(&path));
            let out = romtool(&all);
            assert!(matches!(out.status.code(), Some(0 | 1)), "{all:?}: {out:?}");
        }
        let elf = scratch(&format!("garbage-{round}.elf"));
        std::fs::write(&elf, &bytes).unwrap();
        let out = romtool(&[
            "build",
            "--elf",
            path_str(&elf),
            "--out",
            path_str(&scratch("garbage-out.rom")),
        ]);
        assert_eq!(out.status.code(), Some(1));
    }
}

// ---------------------------------------------------------------------------
// The config block.

#[test]
fn config_writes_shows_and_clears() {
    let (path, original) = built("config");
    let uri = "srp://192.168.10.1:5001/3?guid=0x0002c90300a1b2c3";
    let out = romtool(&[
        "config",
        path_str(&path),
        "--target",
        uri,
        "--ip",
        "192.168.10.20/24",
        "--gateway",
        "192.168.10.254",
    ]);
    assert!(out.status.success(), "{out:?}");
    let rom = std::fs::read(&path).unwrap();
    assert_eq!(sum8(&rom), 0);
    assert_eq!(sum8(&rom[0x200..0x300]), 0);
    assert_eq!(&rom[0x210..0x215], &[192, 168, 10, 20, 24]);
    assert_eq!(&rom[0x220..0x222], &5001u16.to_le_bytes());
    assert_eq!(&rom[0x228..0x230], &[0, 3, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        &rom[0x230..0x238],
        &[0x00, 0x02, 0xc9, 0x03, 0x00, 0xa1, 0xb2, 0xc3]
    );
    // Only the config block and the checksum byte changed.
    for (i, (a, b)) in rom.iter().zip(&original).enumerate() {
        if !(0x200..0x300).contains(&i) && i != 0x3ff {
            assert_eq!(a, b, "byte 0x{i:x}");
        }
    }

    let show = stdout(&romtool(&["config", path_str(&path), "--show"]));
    let expected = format!(
        "{}: config block at 0x200: configured\n  local ip: 192.168.10.20/24\n  gateway: 192.168.10.254\n  \
         target: 192.168.10.1:5001\n  lun: 3 (0003000000000000)\n  target guid: 0x0002c90300a1b2c3\n  uri: {uri}\n",
        path.display()
    );
    assert_eq!(show, expected);
    assert_eq!(romtool(&["verify", path_str(&path)]).status.code(), Some(0));
    let json = inspect_json(&path);
    assert_eq!(json["config"]["state"], "configured");
    assert_eq!(json["config"]["target"], "192.168.10.1:5001");
    assert_eq!(json["config"]["target_guid"], "0x0002c90300a1b2c3");

    let out = romtool(&["config", path_str(&path), "--clear"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&path).unwrap(), original);
}

#[test]
fn config_defaults_port_lun_and_guid() {
    let (path, _) = built("config-defaults");
    let out = romtool(&[
        "config",
        path_str(&path),
        "--target",
        "srp://10.1.2.3",
        "--ip",
        "10.1.2.4/16",
    ]);
    assert!(out.status.success(), "{out:?}");
    let json = inspect_json(&path);
    assert_eq!(json["config"]["target"], "10.1.2.3:5000");
    assert_eq!(json["config"]["lun"], "0000000000000000");
    assert_eq!(json["config"]["gateway"], Value::Null);
    assert_eq!(json["config"]["target_guid"], Value::Null);
}

#[test]
fn config_rejects_bad_input_without_touching_the_file() {
    let (path, original) = built("config-bad");
    let p = path_str(&path);
    let cases: [(&[&str], i32, &str); 7] = [
        (
            &["--target", "http://1.2.3.4", "--ip", "1.2.3.5/24"],
            2,
            "bad target URI \"http://1.2.3.4\": expected srp://",
        ),
        (
            &["--target", "srp://1.2.3.4/99999", "--ip", "1.2.3.5/24"],
            2,
            "the LUN must be a number from 0 to 16383",
        ),
        (
            &["--target", "srp://1.2.3.4", "--ip", "1.2.3.5"],
            2,
            "bad --ip \"1.2.3.5\": expected A.B.C.D/N",
        ),
        (&["--target", "srp://1.2.3.4"], 2, "--ip is required"),
        (
            &[
                "--target",
                "srp://1.2.3.4",
                "--ip",
                "1.2.3.5/24",
                "--gateway",
                "9.9.9.9",
            ],
            1,
            "gateway 9.9.9.9 is not inside the local network 1.2.3.5/24",
        ),
        (
            &["--show", "--clear"],
            2,
            "use exactly one of --show, --clear",
        ),
        (
            &["--show", "--ip", "1.2.3.5/24"],
            2,
            "use exactly one of --show, --clear",
        ),
    ];
    for (args, code, message) in cases {
        let mut all = vec!["config", p];
        all.extend_from_slice(args);
        let out = romtool(&all);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        let lines = stderr_lines(&out);
        assert!(
            lines.len() == 1 && lines[0].contains(message),
            "{args:?}: {lines:?}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            original,
            "{args:?} changed the file"
        );
    }
    // A ROM without a config block.
    let no_block = corrupted("config-none", |r| {
        r[0x200] = b'#';
        r[0x3ff] = r[0x3ff].wrapping_add(1); // '#' is one less than '$'
    });
    let out = romtool(&[
        "config",
        path_str(&no_block),
        "--target",
        "srp://1.2.3.4",
        "--ip",
        "1.2.3.5/24",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_lines(&out)[0].ends_with("no srpboot config block ($SRPCFG) in the image"));
}

// ---------------------------------------------------------------------------
// Real ROMs from Debian's packages.

fn system_rom(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: run scripts/setup (packages ipxe-qemu, seabios)"
    );
    p
}

#[test]
fn inspects_debians_combined_ipxe_virtio_rom() {
    // The legacy image carries 1af4:1041 (modern virtio-net) in its PCIR,
    // with the PCI 3.0 device list [1041]; the second image is x64 EFI.
    let path = system_rom("/usr/lib/ipxe/qemu/efi-virtio.rom");
    let json = inspect_json(&path);
    assert_eq!(json["image_count"], 2);
    assert_eq!(json["verdict"], true);
    let legacy = &json["images"][0];
    assert_eq!(legacy["code_type"], 0);
    assert_eq!(legacy["last"], false);
    assert_eq!(legacy["pcir"]["vendor_device"], "1af4:1041");
    assert_eq!(legacy["pcir"]["device_list"], serde_json::json!(["1041"]));
    assert_eq!(legacy["pcir"]["revision"], 3);
    assert_eq!(legacy["pcir"]["class"], "020000");
    assert_eq!(legacy["pnp"][0]["product"], "iPXE");
    assert_eq!(legacy["pnp"][0]["bev"], 0x385);
    assert_eq!(legacy["checksum"], true);
    let efi = &json["images"][1];
    assert_eq!(efi["offset"], 0x12800);
    assert_eq!(efi["code_type"], 3);
    assert_eq!(efi["last"], true);
    assert_eq!(efi["header"]["efi_machine"], 0x8664);
    assert_eq!(efi["header"]["efi_subsystem"], 11);
    assert_eq!(efi["header"]["init_size"], 339);

    let p = path_str(&path);
    assert_eq!(
        romtool(&["verify", p, "--expect", "1af4:1041"])
            .status
            .code(),
        Some(0)
    );
    assert_verify_fails(
        &path,
        &["--expect", "1af4:1000"],
        &["PCIR vendor:device is 1af4:1041, expected 1af4:1000"],
    );
}

#[test]
fn inspects_debians_legacy_ipxe_roms() {
    for (file, id) in [
        ("pxe-e1000.rom", "8086:100e"),
        ("pxe-rtl8139.rom", "10ec:8139"),
        ("efi-e1000.rom", "8086:100e"),
    ] {
        let path = system_rom(&format!("/usr/lib/ipxe/qemu/{file}"));
        let json = inspect_json(&path);
        assert_eq!(json["images"][0]["pcir"]["vendor_device"], id, "{file}");
        let out = romtool(&["verify", path_str(&path), "--expect", id]);
        assert_eq!(out.status.code(), Some(0), "{file}: {out:?}");
    }
}

#[test]
fn inspects_seabios_vga_rom() {
    let path = system_rom("/usr/share/seabios/vgabios-stdvga.bin");
    let json = inspect_json(&path);
    assert_eq!(json["image_count"], 1);
    let image = &json["images"][0];
    assert_eq!(image["pcir"]["vendor_device"], "1234:1111");
    assert_eq!(image["pcir"]["class"], "030000");
    assert_eq!(image["pcir"]["revision"], 0);
    assert_eq!(image["header"]["pnp_offset"], 0);
    assert_eq!(image["checksum"], true);
    assert_eq!(json["config"], Value::Null);
    assert_eq!(
        romtool(&["verify", path_str(&path), "--expect", "1234:1111"])
            .status
            .code(),
        Some(0)
    );
    // SeaBIOS's ISA VGA ROM has no PCIR at all.
    let isa = system_rom("/usr/share/seabios/vgabios-isavga.bin");
    assert_verify_fails(
        &isa,
        &[],
        &["image 0 at 0x0: no PCI data structure: the PCIR pointer at 0x18 is 0"],
    );
}

// ---------------------------------------------------------------------------
// Packed bodies (romfmt::pack): a synthetic ELF laid out like linker/rom.ld,
// then the real production ROM.

/// The SRPZ descriptor with the defaults entry16.s links in (an unpacked
/// image: copy [0, _rom_end), nothing to unpack).
fn linked_descriptor(rom_end: u32, pack_start: u32) -> Vec<u8> {
    let mut d = b"SRPZ\x01\x1c\x00\x00".to_vec();
    for v in [rom_end, 0, 0, pack_start, 0] {
        d.extend_from_slice(&v.to_le_bytes());
    }
    d
}

/// Body bytes that pack well but not trivially.
fn body_bytes(len: usize) -> Vec<u8> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        if seed.is_multiple_of(3) && v.len() > 64 {
            let from = v.len() - 1 - (seed >> 8) as usize % 64;
            let n = 3 + (seed >> 20) as usize % 20;
            for i in 0..n {
                v.push(v[from + i]);
            }
        } else {
            v.extend_from_slice(&[0x8b, 0x45, (seed >> 32) as u8, 0x89]);
        }
    }
    v.truncate(len);
    v
}

/// Header + stub at 0x100, descriptor at 0x110 (".init16"), config block
/// at 0x200 (".config"), the body [0x300, 0x300 + body) packed.
fn packing_elf(body: &[u8]) -> Vec<u8> {
    let pack_start = 0x300u32;
    let pack_end = pack_start + body.len() as u32;
    let rom_end = (pack_end + 1).div_ceil(512) * 512;
    let sections = vec![
        Section {
            name: ".header",
            addr: 0,
            data: header_section(),
            nobits_len: None,
        },
        Section {
            name: ".text16",
            addr: 0x100,
            data: vec![0xCB, 0xCB, 0x90, 0x90],
            nobits_len: None,
        },
        Section {
            name: ".init16",
            addr: 0x110,
            data: linked_descriptor(rom_end, pack_start),
            nobits_len: None,
        },
        Section {
            name: ".config",
            addr: 0x200,
            data: EMPTY_CONFIG_BLOCK.to_vec(),
            nobits_len: None,
        },
        Section {
            name: ".text",
            addr: pack_start,
            data: body.to_vec(),
            nobits_len: None,
        },
    ];
    write_elf32(
        &sections,
        &[
            ("_rom_end", rom_end),
            ("_pack_start", pack_start),
            ("_pack_end", pack_end),
        ],
    )
}

fn le32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn build_packs_the_body_and_tools_read_it() {
    let body = body_bytes(20_000);
    let (path, out) = build("packed", &packing_elf(&body), &[]);
    assert!(out.status.success(), "{out:?}");
    let rom = std::fs::read(&path).unwrap();
    let report = stdout(&out);
    assert!(
        report.contains("packed    0x0300..0x5120 (20000 bytes) -> "),
        "{report}"
    );
    assert!(rom.len() < 0x300 + body.len() / 2, "{} bytes", rom.len());
    assert_eq!(rom.len() % 512, 0);
    assert_eq!(rom[2] as usize * 512, rom.len(), "size byte");
    // The raw part is as linked except the patched header fields and the
    // descriptor; the descriptor points at the stream right behind it.
    assert_eq!(&rom[0x200..0x300], &EMPTY_CONFIG_BLOCK[..]);
    assert_eq!(&rom[0x110..0x118], b"SRPZ\x01\x1c\x00\x00");
    let packed_len = le32_at(&rom, 0x110 + 16) as usize;
    assert_eq!(
        [0x110 + 8, 0x110 + 12, 0x110 + 20].map(|at| le32_at(&rom, at)),
        [0x300; 3]
    );
    assert_eq!(le32_at(&rom, 0x110 + 24) as usize, body.len());
    let mut unpacked = vec![0u8; body.len()];
    romfmt::pack::unpack(&rom[0x300..0x300 + packed_len], &mut unpacked).unwrap();
    assert_eq!(unpacked, body);

    assert_eq!(romtool(&["verify", path_str(&path)]).status.code(), Some(0));
    let json = inspect_json(&path);
    let packed = &json["images"][0]["packed"];
    assert_eq!(packed["descriptor_offset"], 0x110);
    assert_eq!(packed["unpacked_length"], body.len());
    assert_eq!(packed["packed_body"], packed_len);
    assert_eq!(packed["state"], "ok");
    let text = stdout(&romtool(&["inspect", path_str(&path)]));
    let line = format!(
        "    packed body: 20000 -> {packed_len} bytes ({:.1} %)",
        100.0 * packed_len as f64 / 20000.0
    );
    assert!(text.contains(&line), "missing {line:?} in:\n{text}");

    // romtool config rewrites the (unpacked) config block in place.
    let out = romtool(&[
        "config",
        path_str(&path),
        "--target",
        "srp://10.0.0.9",
        "--ip",
        "10.0.0.2/24",
    ]);
    assert!(out.status.success(), "{out:?}");
    let configured = std::fs::read(&path).unwrap();
    assert_eq!(configured.len(), rom.len());
    assert_eq!(inspect_json(&path)["config"]["state"], "configured");
    assert_eq!(romtool(&["verify", path_str(&path)]).status.code(), Some(0));
    for (i, (a, b)) in configured.iter().zip(&rom).enumerate() {
        if !(0x200..0x300).contains(&i) && i != rom.len() - 1 {
            assert_eq!(a, b, "byte 0x{i:x}");
        }
    }

    // Same ELF, same bytes.
    let (again, _) = build("packed-again", &packing_elf(&body), &[]);
    assert_eq!(std::fs::read(again).unwrap(), rom);
}

#[test]
fn build_no_pack_keeps_the_linked_layout() {
    let body = body_bytes(3000);
    let (path, out) = build("unpacked", &packing_elf(&body), &["--no-pack"]);
    assert!(out.status.success(), "{out:?}");
    let rom = std::fs::read(&path).unwrap();
    assert_eq!(rom.len(), (0x300 + body.len() + 1).div_ceil(512) * 512);
    assert_eq!(&rom[0x300..0x300 + body.len()], &body[..]);
    assert_eq!(romtool(&["verify", path_str(&path)]).status.code(), Some(0));
    let packed = &inspect_json(&path)["images"][0]["packed"];
    assert_eq!(packed["state"], "unpacked");
    assert_eq!(packed["raw_length"], rom.len());
}

#[test]
fn verify_reports_a_corrupt_packed_body_in_one_line() {
    let body = body_bytes(8000);
    let (path, out) = build("packed-corrupt-base", &packing_elf(&body), &[]);
    assert!(out.status.success(), "{out:?}");
    let rom = std::fs::read(&path).unwrap();
    let packed_len = le32_at(&rom, 0x110 + 16) as usize;
    // Checksum made good again, as a BIOS would not notice.
    let with = |name: &str, damage: &dyn Fn(&mut Vec<u8>)| {
        let mut bad = rom.clone();
        damage(&mut bad);
        let last = bad.len() - 1;
        bad[last] = bad[last].wrapping_sub(sum8(&bad));
        let p = scratch(&format!("{name}.rom"));
        std::fs::write(&p, &bad).unwrap();
        p
    };
    let stream = with("packed-stream", &|b| b[0x300 + packed_len / 2] ^= 0x40);
    let out = romtool(&["verify", path_str(&stream)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("image 0 at 0x0: packed body is corrupt: ")
            && lines[0].ends_with("(descriptor at 0x110)"),
        "{lines:?}"
    );
    let json = inspect_json(&stream);
    assert_eq!(json["verdict"], false);
    assert_ne!(json["images"][0]["packed"]["state"], "ok");

    let short = with("packed-short", &|b| {
        let v = (body.len() as u32 - 1).to_le_bytes();
        b[0x110 + 24..0x110 + 28].copy_from_slice(&v);
    });
    let out = romtool(&["verify", path_str(&short)]);
    assert_eq!(stderr_lines(&out).len(), 1, "{out:?}");
    let outside = with("packed-outside", &|b| {
        b[0x110 + 16..0x110 + 20].copy_from_slice(&0x10_0000u32.to_le_bytes());
    });
    assert_verify_fails(
        &outside,
        &[],
        &[&format!(
            "image 0 at 0x0: packed body reaches 0x100300, past the {}-byte image (descriptor at 0x110)",
            rom.len()
        )],
    );
    // romtool config refuses to write into an image that does not verify.
    let out = romtool(&[
        "config",
        path_str(&stream),
        "--target",
        "srp://10.0.0.9",
        "--ip",
        "10.0.0.2/24",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn build_rejects_a_packing_elf_without_a_descriptor() {
    let body = body_bytes(1000);
    let mut sections_elf = packing_elf(&body);
    // Break the magic (it is in the ELF's .init16 data).
    let at = sections_elf.windows(4).position(|w| w == b"SRPZ").unwrap();
    sections_elf[at] = b'X';
    let (_, out) = build("packed-nodesc", &sections_elf, &[]);
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].ends_with(
            "the ELF defines _pack_start/_pack_end but its unpacked part has no SRPZ descriptor"
        ),
        "{lines:?}"
    );
}

/// The production ROM `cargo xtask rom` built: packed, within 64 KiB, and
/// its stream unpacks to exactly the linked body of the ELF beside it.
#[test]
fn production_rom_is_packed_within_64k_and_unpacks_to_the_elf() {
    let rom_path = tools::qemu::production_rom();
    let elf_path = tools::qemu::target_dir().join("rom/i686-rom/rom/rom16");
    let (Ok(rom), Ok(elf)) = (std::fs::read(&rom_path), std::fs::read(&elf_path)) else {
        panic!(
            "{} or {} is missing: run `cargo xtask rom` first",
            rom_path.display(),
            elf_path.display()
        );
    };
    assert!(
        rom.len() <= PRODUCTION_ROM_LIMIT,
        "the production ROM is {} bytes, over the {PRODUCTION_ROM_LIMIT}-byte limit",
        rom.len()
    );
    let flat = tools::romtool::build::flatten(&elf).unwrap();
    let (start, end) = flat
        .pack_range
        .expect("the ROM ELF defines _pack_start/_pack_end");
    let (at, desc) = romfmt::pack::descriptor(&rom).expect("an SRPZ descriptor");
    let desc = desc.unwrap();
    assert!(at < start);
    assert_eq!(desc.dst as usize, start);
    assert_eq!(desc.unpacked_len as usize, end - start);
    let mut body = vec![0u8; end - start];
    romfmt::pack::unpack(desc.stream(&rom).unwrap(), &mut body).unwrap();
    assert!(
        body == flat.bytes[start..end],
        "unpacked body differs from the ELF"
    );
    // The raw part is the ELF's, apart from what romtool patches (header
    // fields, the descriptor) — the config block included.
    let cfg = romfmt::config::find_blocks(&rom).next().unwrap();
    assert!(cfg + 256 <= start);
    assert_eq!(&rom[cfg..cfg + 256], &flat.bytes[cfg..cfg + 256]);
    // And the packer reproduces the stream (deterministic).
    assert!(romfmt::pack::pack(&body) == desc.stream(&rom).unwrap());
}

/// What the production ROM is held to (also checked by `cargo xtask rom`).
const PRODUCTION_ROM_LIMIT: usize = 64 * 1024;
