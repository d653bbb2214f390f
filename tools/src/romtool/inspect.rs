//! `romtool inspect`: every header field of every image, the srpboot
//! config block if there is one, and the verification verdict.

use romfmt::config::{self, ConfigBlock, ConfigRepr};
use romfmt::efi;
use romfmt::field::{get_cstr, sum8, Printable};
use romfmt::image::{ExtentFrom, Image, Images, PnpLink};
use romfmt::pack;
use romfmt::pcir::{DeviceList, PciId, Pcir, INDICATOR_LAST_IMAGE};
use romfmt::pnp::{PnpHeader, StringField, Vector};
use romfmt::verify::verify_to_vec;
use serde_json::Value;

use super::report::Obj;

/// Describes a whole ROM file. `expect` is passed on to verification.
pub fn describe(name: &str, rom: &[u8], expect: Option<PciId>) -> Obj {
    let images: Vec<_> = Images::new(rom).collect();
    let mut top = Obj::new();
    top.field("file", name, name)
        .num("size", rom.len() as u64)
        .num("image_count", images.len() as u64);
    let items = images
        .iter()
        .map(|img| (image_title(img), describe_image(img, rom)))
        .collect();
    top.list("images", items);
    describe_config(rom, &mut top);
    let problems: Vec<String> = verify_to_vec(rom, expect)
        .iter()
        .map(|f| f.to_string())
        .collect();
    let verdict = if problems.is_empty() {
        "valid".to_string()
    } else {
        format!("{} problem(s)", problems.len())
    };
    top.field("verdict", verdict, problems.is_empty());
    let text = if problems.is_empty() {
        "none".to_string()
    } else {
        problems.iter().map(|p| format!("\n  - {p}")).collect()
    };
    top.field("problems", text, problems);
    top
}

fn image_title(img: &Image<'_>) -> String {
    let kind = match img.code_type() {
        Some(t) => t.to_string(),
        None if img.header().is_some_and(|h| h.has_signature()) => "legacy (no PCIR)".to_string(),
        None => "not an option ROM image".to_string(),
    };
    let last = if img.last && img.extent_from == ExtentFrom::PcirImageLength {
        ", last"
    } else {
        ""
    };
    format!(
        "image {} at 0x{:x}: {kind}, {} bytes{last}",
        img.index, img.offset, img.extent
    )
}

fn describe_image(img: &Image<'_>, rom: &[u8]) -> Obj {
    let mut o = Obj::new();
    o.hex("offset", img.offset as u64, 1)
        .num("length", img.extent as u64);
    let source = match img.extent_from {
        ExtentFrom::PcirImageLength => "PCIR image length",
        ExtentFrom::SizeByte => "size byte",
        ExtentFrom::RestOfData => "rest of the file",
    };
    o.field("length_from", source, source)
        .field("last", img.last, img.last);
    if let Some(t) = img.code_type() {
        o.field("code_type", t, t.value());
    }
    if img.bytes.len() < img.extent {
        o.num("bytes_present", img.bytes.len() as u64);
    }
    let Some(header) = img.header() else {
        return o;
    };
    let mut h = Obj::new();
    let sig = header.signature();
    h.field(
        "signature",
        format!("{:02x} {:02x}", sig[0], sig[1]),
        format!("{:02x}{:02x}", sig[0], sig[1]),
    );
    if let Some(efi) = img.efi_header() {
        h.field(
            "init_size",
            format!("{} blocks ({} bytes)", efi.init_blocks(), efi.init_len()),
            efi.init_blocks(),
        );
        h.hex("efi_signature", efi.efi_signature(), 8);
        let (sub, mach, comp) = (efi.subsystem(), efi.machine(), efi.compression());
        h.field(
            "efi_subsystem",
            format!("{sub} ({})", efi::subsystem_name(sub)),
            sub,
        );
        h.field(
            "efi_machine",
            format!("0x{mach:04x} ({})", efi::machine_name(mach)),
            mach,
        );
        h.field(
            "compression",
            format!("{comp} ({})", efi::compression_name(comp)),
            comp,
        );
        h.hex("efi_image_offset", efi.image_offset(), 4);
        h.hex("pcir_offset", header.pcir_offset(), 4);
    } else {
        h.field(
            "init_size",
            format!(
                "{} blocks ({} bytes)",
                header.init_blocks(),
                header.init_len()
            ),
            header.init_blocks(),
        );
        h.field("entry", header.entry(), header.entry().to_string());
        h.hex("pcir_offset", header.pcir_offset(), 4);
        h.hex("pnp_offset", header.expansion_offset(), 4);
    }
    o.child("header", "header", h);

    if let Some((at, pcir)) = img.pcir() {
        o.child(
            "pcir",
            format!("PCIR at 0x{at:04x}"),
            describe_pcir(img, at, &pcir),
        );
    }
    if !img.is_efi() && header.has_signature() {
        let pnp: Vec<_> = img
            .pnp_chain()
            .filter_map(|link| describe_pnp(img, link))
            .collect();
        if !pnp.is_empty() {
            o.list("pnp", pnp);
        }
        if let Some(init) = img
            .init_len()
            .filter(|&n| n > 0 && img.offset + n <= rom.len())
        {
            let sum = sum8(&rom[img.offset..img.offset + init]);
            let verdict = if sum == 0 { "ok" } else { "BAD" };
            o.field(
                "checksum",
                format!("sum of {init} bytes = 0x{sum:02x} ({verdict})"),
                sum == 0,
            );
        }
        describe_packed(img, &mut o);
    }
    o
}

/// srpboot's packed body (romfmt::pack), if the image has a descriptor.
fn describe_packed(img: &Image<'_>, o: &mut Obj) {
    let Some((at, desc)) = pack::descriptor(img.bytes) else {
        return;
    };
    let mut p = Obj::new();
    p.hex("descriptor_offset", at as u64, 4);
    match desc {
        Err(e) => {
            p.field("state", "corrupt", "corrupt")
                .field("error", e, e.to_string());
        }
        Ok(d) if !d.is_packed() => {
            p.field("state", "not packed", "unpacked")
                .num("raw_length", d.raw_len);
        }
        Ok(d) => {
            let state = match d.check(img.bytes) {
                Ok(()) => "ok".to_string(),
                Err(e) => e.to_string(),
            };
            p.field(
                "packed_body",
                format!(
                    "{} -> {} bytes ({:.1} %)",
                    d.unpacked_len,
                    d.packed_len,
                    100.0 * f64::from(d.packed_len) / f64::from(d.unpacked_len)
                ),
                d.packed_len,
            )
            .num("unpacked_length", d.unpacked_len)
            .hex("stream_offset", d.src, 4)
            .hex("unpacks_to", d.dst, 4)
            .num("raw_length", d.raw_len)
            .field("state", &state, state.clone());
        }
    }
    o.child("packed", "packed body (SRPZ)", p);
}

fn describe_pcir(img: &Image<'_>, at: usize, p: &Pcir<&[u8]>) -> Obj {
    let mut o = Obj::new();
    let sig = p.signature();
    o.field(
        "signature",
        Printable(&sig),
        String::from_utf8_lossy(&sig).into_owned(),
    );
    o.field("vendor_device", p.id(), p.id().to_string());
    let list_at = p.device_list_offset();
    if p.revision() >= 3 && list_at != 0 {
        let ids: Vec<String> = DeviceList::new(img.bytes, at, list_at)
            .take(256)
            .map(|d| format!("{d:04x}"))
            .collect();
        o.field(
            "device_list",
            format!("at PCIR+0x{list_at:04x}: [{}]", ids.join(", ")),
            ids,
        );
    } else {
        o.hex("device_list_offset", list_at, 4);
    }
    o.hex("length", p.length(), 2).num("revision", p.revision());
    let class = p.class();
    o.field(
        "class",
        format!("{class} ({})", class.base_name()),
        class.to_string(),
    );
    o.field(
        "image_length",
        format!("{} blocks ({} bytes)", p.image_blocks(), p.image_len()),
        p.image_blocks(),
    );
    o.hex("code_revision", p.code_revision(), 4);
    o.field(
        "code_type",
        format!("{} ({})", p.code_type().value(), p.code_type()),
        p.code_type().value(),
    );
    let ind = p.indicator();
    let last = if ind & INDICATOR_LAST_IMAGE != 0 {
        " (last image)"
    } else {
        " (more images follow)"
    };
    o.field("indicator", format!("0x{ind:02x}{last}"), ind);
    if let Some(v) = p.max_runtime_blocks() {
        o.field("max_runtime_length", format!("{v} blocks"), v);
    }
    if let Some(v) = p.config_utility_offset() {
        o.hex("config_utility_offset", v, 4);
    }
    if let Some(v) = p.dmtf_clp_offset() {
        o.hex("dmtf_clp_offset", v, 4);
    }
    o
}

fn string_at(img: &Image<'_>, pointer: u16) -> (String, Value) {
    if pointer == 0 {
        return ("none".into(), Value::Null);
    }
    match get_cstr(img.bytes, usize::from(pointer)) {
        Some(s) => {
            let text = String::from_utf8_lossy(s).into_owned();
            (format!("0x{pointer:04x} {text:?}"), Value::String(text))
        }
        None => (format!("0x{pointer:04x} (outside the image)"), Value::Null),
    }
}

/// Decodes a compressed EISA ID (three 5-bit letters, then a product code),
/// as PnP device IDs are stored (big-endian on the wire).
fn eisa_id(raw: u32) -> String {
    let v = raw.swap_bytes();
    let letter = |shift: u32| (b'@' + ((v >> shift) & 0x1f) as u8) as char;
    format!(
        "{}{}{}{:04X}",
        letter(26),
        letter(21),
        letter(16),
        v & 0xffff
    )
}

fn describe_pnp(img: &Image<'_>, link: PnpLink<'_>) -> Option<(String, Obj)> {
    let mut o = Obj::new();
    let (offset, h): (usize, PnpHeader<&[u8]>) = match link {
        PnpLink::Header { offset, header } => (offset, header),
        PnpLink::OutOfRange { offset } => {
            o.hex("offset", offset as u64, 4).field(
                "error",
                "outside the image",
                "outside the image",
            );
            return Some((format!("expansion header at 0x{offset:04x}"), o));
        }
        PnpLink::TooLong => return None,
    };
    let sig = h.signature();
    o.field(
        "signature",
        Printable(&sig),
        String::from_utf8_lossy(&sig).into_owned(),
    );
    o.num("revision", h.revision());
    o.field(
        "length",
        format!("{} x 16 bytes", h.length_units()),
        h.length_units(),
    );
    o.hex("next_offset", h.next_offset(), 4);
    let sum = h.sum();
    let verdict = match sum {
        Some(0) => "ok".to_string(),
        Some(s) => format!("BAD, header sums to 0x{s:02x}"),
        None => "length unusable".to_string(),
    };
    o.field(
        "checksum",
        format!("0x{:02x} ({verdict})", h.checksum()),
        sum == Some(0),
    );
    let id = h.device_id();
    o.field(
        "device_id",
        if id == 0 {
            "0".to_string()
        } else {
            format!("0x{id:08x} ({})", eisa_id(id))
        },
        id,
    );
    for (key, which) in [
        ("manufacturer", StringField::Manufacturer),
        ("product", StringField::Product),
    ] {
        let (text, json) = string_at(img, h.string_offset(which));
        o.field(key, text, json);
    }
    o.field("device_type", h.device_type(), h.device_type().to_string());
    o.field("indicators", h.indicators(), h.indicators().0);
    for (key, which) in [
        ("bcv", Vector::Bcv),
        ("dv", Vector::Dv),
        ("bev", Vector::Bev),
        ("static_resources", Vector::StaticResources),
    ] {
        o.hex(key, h.vector(which), 4);
    }
    let title = if h.has_signature() {
        "$PnP header"
    } else {
        "expansion header"
    };
    Some((format!("{title} at 0x{offset:04x}"), o))
}

fn describe_config(rom: &[u8], top: &mut Obj) {
    let offsets: Vec<usize> = config::find_blocks(rom).collect();
    let Some(&offset) = offsets.first() else {
        top.field("config", "no srpboot config block", Value::Null);
        return;
    };
    let mut o = Obj::new();
    o.hex("offset", offset as u64, 4);
    if offsets.len() > 1 {
        let all: Vec<String> = offsets.iter().map(|o| format!("0x{o:x}")).collect();
        o.field(
            "all_offsets",
            all.join(", "),
            offsets.iter().map(|&o| o as u64).collect::<Vec<_>>(),
        );
    }
    match ConfigRepr::parse(&rom[offset..]) {
        Ok(None) => {
            o.field("state", "unconfigured", "unconfigured");
        }
        Ok(Some(repr)) => {
            o.field("state", "configured", "configured");
            config_fields(&repr, &mut o);
        }
        Err(e) => {
            o.field("state", "corrupt", "corrupt")
                .field("error", e, e.to_string());
            if let Ok(block) = ConfigBlock::new_checked(&rom[offset..]) {
                o.num("version", block.version())
                    .hex("flags", block.flags(), 4);
            }
        }
    }
    top.child("config", "srpboot config block", o);
}

/// The decoded fields of a configured block.
pub fn config_fields(repr: &ConfigRepr<'_>, o: &mut Obj) {
    o.field(
        "local_ip",
        format!("{}/{}", repr.local_ip, repr.prefix_len),
        format!("{}/{}", repr.local_ip, repr.prefix_len),
    );
    match repr.gateway {
        Some(g) => o.field("gateway", g, g.to_string()),
        None => o.field("gateway", "none", Value::Null),
    };
    o.field(
        "target",
        format!("{}:{}", repr.target_ip, repr.target_port),
        format!("{}:{}", repr.target_ip, repr.target_port),
    );
    let lun_hex: String = repr.lun.0.iter().map(|b| format!("{b:02x}")).collect();
    o.field("lun", format!("{} ({lun_hex})", repr.lun), lun_hex);
    match repr.target_guid {
        Some(g) => o.field("target_guid", format!("0x{g:016x}"), format!("0x{g:016x}")),
        None => o.field(
            "target_guid",
            "derived from the target MAC (EUI-64)",
            Value::Null,
        ),
    };
    o.field("uri", repr.uri, repr.uri);
}
