//! `romtool build`: linked ROM ELF -> flat, patched option ROM image.
//!
//! The ELF is linked at address 0, so every allocated section with file
//! contents goes at its `sh_addr` in the flat image (the same bytes
//! `objcopy -O binary` would give). The image length is the `_rom_end`
//! symbol when the linker script defines it, else the loaded bytes plus one
//! checksum byte, rounded up to 512.
//!
//! An ELF that defines `_pack_start` and `_pack_end` and carries an SRPZ
//! descriptor (srpboot's linker/rom.ld and entry16.s) is then packed: the
//! image keeps `[0, _pack_start)` and holds `[_pack_start, _pack_end)`
//! packed right behind it (romfmt::pack), the descriptor says where, and
//! the length is what that needs plus a checksum byte, rounded up to 512.
//! romfmt's `patch::finalize` then writes the sizes, IDs and checksums.

use std::fmt::Write as _;

use goblin::elf::section_header::{SHF_ALLOC, SHT_NOBITS};
use goblin::elf::Elf;
use romfmt::header::{BLOCK_LEN, MAX_LEGACY_LEN};
use romfmt::patch::{self, Identity};
use romfmt::verify::Problem;

/// One allocated section, for the size report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    pub name: String,
    pub addr: u64,
    pub size: u64,
    /// False for NOBITS sections (.bss, the stack): not in the image.
    pub in_image: bool,
}

/// An ELF laid out flat, before patching.
#[derive(Debug, Clone)]
pub struct FlatImage {
    pub bytes: Vec<u8>,
    pub sections: Vec<SectionInfo>,
    /// End of the last loaded byte.
    pub loaded_end: usize,
    /// Whether the length came from the `_rom_end` symbol.
    pub from_rom_end: bool,
    /// `[_pack_start, _pack_end)` when the ELF defines both.
    pub pack_range: Option<(usize, usize)>,
}

/// What the packing did, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packed {
    pub descriptor_at: usize,
    pub descriptor: romfmt::pack::Descriptor,
    /// Length of the image before packing (as linked).
    pub unpacked_image: usize,
}

/// Lays the ELF's loaded sections out at their addresses.
pub fn flatten(elf_bytes: &[u8]) -> Result<FlatImage, String> {
    let elf = Elf::parse(elf_bytes).map_err(|e| format!("not a readable ELF file: {e}"))?;
    if elf.is_64 {
        return Err("this is a 64-bit ELF; the ROM is linked for the 32-bit i686 target".into());
    }
    let symbol = |name: &str| {
        elf.syms
            .iter()
            .find(|s| elf.strtab.get_at(s.st_name) == Some(name))
            .map(|s| s.st_value)
    };
    let pack_range = match (symbol("_pack_start"), symbol("_pack_end")) {
        (Some(start), Some(end)) if start <= end => Some((start, end)),
        (Some(start), Some(end)) => {
            return Err(format!(
                "_pack_start = 0x{start:x} is after _pack_end = 0x{end:x}"
            ))
        }
        _ => None,
    };
    // A packed image holds the linked bytes packed, so they may exceed what a
    // legacy ROM holds (the packed image is checked against that later).
    let max_len = if pack_range.is_some() {
        romfmt::pack::MAX_UNPACKED
    } else {
        MAX_LEGACY_LEN
    };
    let limit_text = if pack_range.is_some() {
        "limit of a packed body"
    } else {
        "limit of a legacy ROM"
    };
    let mut sections = Vec::new();
    let mut loaded = Vec::new();
    for sh in &elf.section_headers {
        if sh.sh_flags & u64::from(SHF_ALLOC) == 0 || sh.sh_size == 0 {
            continue;
        }
        let name = elf
            .shdr_strtab
            .get_at(sh.sh_name)
            .unwrap_or("?")
            .to_string();
        let in_image = sh.sh_type != SHT_NOBITS;
        sections.push(SectionInfo {
            name: name.clone(),
            addr: sh.sh_addr,
            size: sh.sh_size,
            in_image,
        });
        if !in_image {
            continue;
        }
        let end = sh
            .sh_addr
            .checked_add(sh.sh_size)
            .filter(|&e| e <= max_len as u64)
            .ok_or(format!(
                "section {name} (0x{:x} + 0x{:x}) ends past the {max_len}-byte {limit_text}",
                sh.sh_addr, sh.sh_size
            ))?;
        let data = sh
            .file_range()
            .and_then(|r| elf_bytes.get(r))
            .ok_or(format!("section {name} points outside the ELF file"))?;
        loaded.push((sh.sh_addr as usize, end as usize, name, data));
    }
    loaded.sort_by_key(|s| s.0);
    for pair in loaded.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(format!("sections {} and {} overlap", pair[0].2, pair[1].2));
        }
    }
    let loaded_end = loaded.iter().map(|s| s.1).max().unwrap_or(0);
    if loaded_end == 0 {
        return Err("the ELF has no loaded sections".into());
    }

    let rom_end = symbol("_rom_end");
    let len = match rom_end {
        Some(end) => {
            if end == 0 || end % BLOCK_LEN as u64 != 0 {
                return Err(format!(
                    "_rom_end = 0x{end:x} is not a non-zero multiple of {BLOCK_LEN}"
                ));
            }
            if end < loaded_end as u64 {
                return Err(format!(
                    "_rom_end = 0x{end:x} is before the end of the loaded data (0x{loaded_end:x})"
                ));
            }
            if end > max_len as u64 {
                return Err(format!(
                    "_rom_end = 0x{end:x} is past the {max_len}-byte {limit_text}"
                ));
            }
            end as usize
        }
        // One spare byte for the checksum, then whole blocks.
        None => (loaded_end + 1).div_ceil(BLOCK_LEN) * BLOCK_LEN,
    };
    if len > max_len {
        return Err(format!(
            "the image would be {len} bytes; a legacy ROM holds at most {MAX_LEGACY_LEN}"
        ));
    }
    let pack_range = match pack_range {
        Some((_, end)) if end > len as u64 => {
            return Err(format!(
                "_pack_end = 0x{end:x} is past the end of the image (0x{len:x})"
            ))
        }
        Some((start, end)) => Some((start as usize, end as usize)),
        None => None,
    };

    let mut bytes = vec![0u8; len];
    for (start, end, _, data) in &loaded {
        bytes[*start..*end].copy_from_slice(data);
    }
    sections.sort_by_key(|s| s.addr);
    Ok(FlatImage {
        bytes,
        sections,
        loaded_end,
        from_rom_end: rom_end.is_some(),
        pack_range,
    })
}

/// Packs `[start, end)` of a flat image: returns the new image (the bytes
/// before `start`, then the stream, a checksum byte, padding to 512) with its
/// descriptor filled in. The descriptor must be in `[0, start)`.
pub fn pack_image(bytes: &[u8], start: usize, end: usize) -> Result<(Vec<u8>, Packed), String> {
    use romfmt::pack::{self, Descriptor};
    let descriptor_at = pack::find(&bytes[..start]).ok_or(
        "the ELF defines _pack_start/_pack_end but its unpacked part has no SRPZ descriptor",
    )?;
    Descriptor::parse(&bytes[descriptor_at..])
        .map_err(|e| format!("the descriptor at 0x{descriptor_at:x}: {e}"))?;
    let stream = pack::pack(&bytes[start..end]);
    let len = (start + stream.len() + 1).div_ceil(BLOCK_LEN) * BLOCK_LEN;
    let u32_of = |v: usize| u32::try_from(v).map_err(|_| format!("0x{v:x} does not fit 32 bits"));
    let descriptor = Descriptor {
        raw_len: u32_of(start)?,
        src: u32_of(start)?,
        packed_len: u32_of(stream.len())?,
        dst: u32_of(start)?,
        unpacked_len: u32_of(end - start)?,
    };
    let mut image = vec![0u8; len];
    image[..start].copy_from_slice(&bytes[..start]);
    image[start..start + stream.len()].copy_from_slice(&stream);
    descriptor
        .emit(&mut image[descriptor_at..])
        .ok_or("no room for the descriptor")?;
    Ok((
        image,
        Packed {
            descriptor_at,
            descriptor,
            unpacked_image: bytes.len(),
        },
    ))
}

/// Flattens and patches; returns the finished image and its size report.
/// With `pack`, an ELF that asks for it (see the module doc) is packed.
pub fn build(
    elf_bytes: &[u8],
    identity: &Identity,
    product: Option<&str>,
    pack: bool,
) -> Result<(Vec<u8>, String), String> {
    let FlatImage {
        mut bytes,
        sections,
        loaded_end,
        from_rom_end,
        pack_range,
    } = flatten(elf_bytes)?;
    let mut packed = None;
    if let (true, Some((start, end))) = (pack, pack_range) {
        let (image, info) = pack_image(&bytes, start, end)?;
        bytes = image;
        packed = Some(info);
    }
    if bytes.len() > MAX_LEGACY_LEN {
        return Err(format!(
            "the image would be {} bytes; a legacy ROM holds at most {MAX_LEGACY_LEN}",
            bytes.len()
        ));
    }
    if let Some(name) = product {
        patch::set_product_name(&mut bytes, name).map_err(|e| e.to_string())?;
    }
    patch::finalize(&mut bytes, identity).map_err(|e| e.to_string())?;
    // An image built with --more-images is meant to have another image
    // appended, so on its own it legitimately lacks the last-image bit.
    let problems: Vec<_> = romfmt::verify::verify_to_vec(&bytes, Some(identity.id))
        .into_iter()
        .filter(|f| !(identity.last_image == Some(false) && f.problem == Problem::LastImageMissing))
        .collect();
    if let Some(first) = problems.first() {
        return Err(format!(
            "the patched image is not valid: {first} ({} problem(s); run romtool verify)",
            problems.len()
        ));
    }

    let len = bytes.len();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "image     {len} bytes = {} x {BLOCK_LEN}, PCIR {}, checksum byte 0x{:02x} at 0x{:x}",
        len / BLOCK_LEN,
        identity.id,
        bytes[len - 1],
        len - 1
    );
    match packed {
        None => {
            let _ = writeln!(
                report,
                "loaded    0x0000..0x{loaded_end:04x}, {} bytes free to the image end (the last holds the checksum); length from {}",
                len - loaded_end,
                if from_rom_end { "_rom_end" } else { "the loaded size" }
            );
        }
        Some(p) => {
            let d = p.descriptor;
            let _ = writeln!(
                report,
                "packed    0x{:04x}..0x{:04x} ({} bytes) -> {} bytes ({:.1} %) at 0x{:04x}, descriptor at 0x{:x}; {} bytes unpacked",
                d.dst,
                d.dst + d.unpacked_len,
                d.unpacked_len,
                d.packed_len,
                100.0 * f64::from(d.packed_len) / f64::from(d.unpacked_len.max(1)),
                d.src,
                p.descriptor_at,
                p.unpacked_image,
            );
        }
    }
    let _ = writeln!(report, "section            addr      size");
    for s in &sections {
        let _ = writeln!(
            report,
            "{:<16} 0x{:05x}  0x{:05x} {:>6}{}",
            s.name,
            s.addr,
            s.size,
            s.size,
            if s.in_image { "" } else { "  (not in image)" }
        );
    }
    Ok((bytes, report))
}
