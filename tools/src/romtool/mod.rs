//! `romtool`: build, inspect, verify and configure legacy option ROMs.
//!
//! The format knowledge lives in the `romfmt` crate (shared with the ROM);
//! this module is the command line around it. Exit codes: 0 success, 1 the
//! ROM is invalid or an operation failed, 2 a usage error.

pub mod args;
pub mod build;
pub mod inspect;
pub mod report;
pub mod uri;

use std::fs;
use std::net::Ipv4Addr;

use romfmt::config::ConfigRepr;
use romfmt::patch::{self, Identity};
use romfmt::pcir::{ClassCode, PciId};
use romfmt::verify::verify_to_vec;

use args::Args;
use report::Obj;

pub const USAGE: &str = "\
usage: romtool <command> ...
  build --elf ROM.elf --out ROM.bin [--vendor 1af4 --device 1000] [--class 020000]
        [--product NAME] [--last-image | --more-images] [--no-pack]
  inspect ROM [--json] [--expect VVVV:DDDD]
  verify ROM [--expect VVVV:DDDD]
  config ROM --target srp://IP[:PORT][/LUN][?guid=0x<16 hex>] --ip A.B.C.D/N [--gateway G]
  config ROM --show | --clear";

/// Default PCIR ID: QEMU's virtio-net (transitional), the usual carrier.
pub const DEFAULT_ID: PciId = PciId {
    vendor: 0x1af4,
    device: 0x1000,
};

/// A failure: its message and exit code.
pub struct Failure {
    pub code: i32,
    pub message: String,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn failed(message: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        message: message.into(),
    }
}

/// Runs a command line (without the program name); returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let Some((cmd, rest)) = argv.split_first() else {
        eprintln!("{USAGE}");
        return 2;
    };
    let result = match cmd.as_str() {
        "build" => cmd_build(rest),
        "inspect" => cmd_inspect(rest),
        "verify" => cmd_verify(rest),
        "config" => cmd_config(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(usage(format!("unknown command {other:?}\n{USAGE}"))),
    };
    match result {
        Ok(()) => 0,
        Err(Failure { code, message }) => {
            if !message.is_empty() {
                eprintln!("romtool {cmd}: {message}");
            }
            code
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>, Failure> {
    fs::read(path).map_err(|e| failed(format!("cannot read {path}: {e}")))
}

/// Writes via a temporary file and a rename, so a failed write never
/// leaves a half-written ROM behind.
fn write_atomically(path: &str, bytes: &[u8]) -> Result<(), Failure> {
    let tmp = format!("{path}.romtool-tmp");
    fs::write(&tmp, bytes)
        .and_then(|_| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            failed(format!("cannot write {path}: {e}"))
        })
}

fn parse_expect(args: &Args) -> Result<Option<PciId>, Failure> {
    args.value("expect")
        .map(|s| {
            s.parse::<PciId>()
                .map_err(|e| usage(format!("--expect {s:?}: {e}")))
        })
        .transpose()
}

fn cmd_build(argv: &[String]) -> Result<(), Failure> {
    let args = Args::parse(
        argv,
        &["elf", "out", "vendor", "device", "class", "product"],
        &["last-image", "more-images", "no-pack"],
    )
    .map_err(usage)?;
    if !args.positional.is_empty() {
        return Err(usage(format!(
            "unexpected argument {:?}",
            args.positional[0]
        )));
    }
    let elf = args.required("elf").map_err(usage)?;
    let out = args.required("out").map_err(usage)?;
    let hex = |name: &str, default: u16| -> Result<u16, Failure> {
        match args.value(name) {
            None => Ok(default),
            Some(s) => romfmt::pcir::parse_hex16(s)
                .map_err(|_| usage(format!("--{name} {s:?}: expected 1-4 hex digits"))),
        }
    };
    let id = PciId {
        vendor: hex("vendor", DEFAULT_ID.vendor)?,
        device: hex("device", DEFAULT_ID.device)?,
    };
    let class = args
        .value("class")
        .map(|s| {
            ClassCode::parse_hex(s)
                .ok_or_else(|| usage(format!("--class {s:?}: expected 6 hex digits, e.g. 020000")))
        })
        .transpose()?;
    let last_image = match (args.flag("last-image"), args.flag("more-images")) {
        (true, true) => {
            return Err(usage(
                "--last-image and --more-images contradict each other",
            ))
        }
        (true, false) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
    };
    let identity = Identity {
        id,
        class,
        last_image,
    };
    let (image, report) = build::build(
        &read(elf)?,
        &identity,
        args.value("product"),
        !args.flag("no-pack"),
    )
    .map_err(|e| failed(format!("{elf}: {e}")))?;
    write_atomically(out, &image)?;
    println!("romtool build: {elf} -> {out}");
    print!("{report}");
    Ok(())
}

fn cmd_inspect(argv: &[String]) -> Result<(), Failure> {
    let args = Args::parse(argv, &["expect"], &["json"]).map_err(usage)?;
    let path = args.one_path().map_err(usage)?;
    let rom = read(path)?;
    let description = inspect::describe(path, &rom, parse_expect(&args)?);
    if args.flag("json") {
        let text = serde_json::to_string_pretty(&description.to_json())
            .map_err(|e| failed(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", description.to_text());
    }
    Ok(())
}

fn cmd_verify(argv: &[String]) -> Result<(), Failure> {
    let args = Args::parse(argv, &["expect"], &[]).map_err(usage)?;
    let path = args.one_path().map_err(usage)?;
    let rom = read(path)?;
    let findings = verify_to_vec(&rom, parse_expect(&args)?);
    if findings.is_empty() {
        let images = romfmt::Images::new(&rom).count();
        println!("{path}: valid ({} bytes, {images} image(s))", rom.len());
        return Ok(());
    }
    for finding in &findings {
        eprintln!("{path}: {finding}");
    }
    Err(failed(""))
}

fn cmd_config(argv: &[String]) -> Result<(), Failure> {
    let args =
        Args::parse(argv, &["target", "ip", "gateway"], &["show", "clear"]).map_err(usage)?;
    let path = args.one_path().map_err(usage)?;
    let mut rom = read(path)?;
    let writes = args.value("target").is_some()
        || args.value("ip").is_some()
        || args.value("gateway").is_some();
    match (args.flag("show"), args.flag("clear"), writes) {
        (true, false, false) => return show_config(path, &rom),
        (false, true, false) => {
            let offset =
                patch::write_config(&mut rom, None).map_err(|e| failed(format!("{path}: {e}")))?;
            finish_config(path, &rom, offset)?;
            return show_config(path, &rom);
        }
        (false, false, true) => {}
        _ => {
            return Err(usage(
                "use exactly one of --show, --clear, or --target/--ip to write",
            ))
        }
    }

    let uri_text = args.required("target").map_err(usage)?;
    let target = uri::parse_srp_uri(uri_text).map_err(usage)?;
    let (local_ip, prefix_len) =
        uri::parse_cidr(args.required("ip").map_err(usage)?).map_err(usage)?;
    let gateway = args
        .value("gateway")
        .map(|g| {
            g.parse::<Ipv4Addr>()
                .map_err(|_| usage(format!("bad --gateway {g:?}: expected A.B.C.D")))
        })
        .transpose()?;
    let repr = ConfigRepr {
        local_ip,
        prefix_len,
        gateway,
        target_ip: target.ip,
        target_port: target.port,
        lun: target.lun,
        target_guid: target.guid,
        uri: uri_text,
    };
    let offset =
        patch::write_config(&mut rom, Some(&repr)).map_err(|e| failed(format!("{path}: {e}")))?;
    finish_config(path, &rom, offset)?;
    show_config(path, &rom)
}

/// Refuses to write a ROM that would not verify, then writes it.
fn finish_config(path: &str, rom: &[u8], offset: usize) -> Result<(), Failure> {
    let findings = verify_to_vec(rom, None);
    if let Some(first) = findings.first() {
        return Err(failed(format!(
            "{path}: not written, the image would not verify: {first} ({} problem(s))",
            findings.len()
        )));
    }
    write_atomically(path, rom)?;
    println!("{path}: config block at 0x{offset:x} written, checksums fixed");
    Ok(())
}

fn show_config(path: &str, rom: &[u8]) -> Result<(), Failure> {
    let offset = romfmt::config::find_blocks(rom)
        .next()
        .ok_or_else(|| failed(format!("{path}: no srpboot config block in this image")))?;
    match ConfigRepr::parse(&rom[offset..]) {
        Ok(None) => println!("{path}: config block at 0x{offset:x}: unconfigured"),
        Ok(Some(repr)) => {
            println!("{path}: config block at 0x{offset:x}: configured");
            let mut fields = Obj::new();
            inspect::config_fields(&repr, &mut fields);
            for line in fields.to_text().lines() {
                println!("  {line}");
            }
        }
        Err(e) => {
            return Err(failed(format!(
                "{path}: config block at 0x{offset:x} is corrupt: {e}"
            )))
        }
    }
    Ok(())
}
