//! Logical units backed by image files: plain (reads and writes go to the
//! image), read-only, or copy-on-write per initiator (`--cow DIR`: every
//! initiator port ID gets its own overlay, the base image is opened
//! read-only and never written).
//!
//! Durability: writes go to the page cache; [`Lun::sync`] (SYNCHRONIZE
//! CACHE, FUA writes) is `fdatasync` on the image, or on an overlay first
//! its data file and then its chunk map. A write acknowledged after a sync
//! survives the process being killed.
//!
//! Overlay layout, in `DIR/<32 hex of the initiator port ID>.lun<N>`:
//! `.cow` is a sparse file the size of the base image holding the chunks
//! the initiator wrote; `.map` is a 32-byte header (`SRPTCOW1`, base size,
//! chunk size) then one bit per chunk (set: the chunk lives in `.cow`).
//! Chunks are 4 KiB (or the block size if larger); a write that covers
//! part of a chunk not yet in the overlay copies the chunk up first.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use fabric::wire::srp::PortId;

/// Block sizes a LUN may have.
pub const BLOCK_SIZES: [u32; 2] = [512, 4096];

/// How a LUN is served.
#[derive(Debug, Clone)]
pub struct LunConfig {
    /// The image file.
    pub path: PathBuf,
    /// Refuse writes (WRITE PROTECTED).
    pub read_only: bool,
    /// Logical block size (512 or 4096).
    pub block_size: u32,
    /// Per-initiator overlays in this directory (the base is never written).
    pub cow_dir: Option<PathBuf>,
}

/// An error opening a LUN, worded for the user.
#[derive(Debug)]
pub struct LunError(pub String);

impl std::fmt::Display for LunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LunError {}

const MAP_MAGIC: &[u8; 8] = b"SRPTCOW1";
const MAP_HEADER: u64 = 32;
const MIN_CHUNK: u32 = 4096;

/// One initiator's copy-on-write overlay.
struct Overlay {
    data: File,
    map_file: File,
    map: Vec<u8>,
    /// Byte range of `map` changed since the last sync.
    dirty: Option<(usize, usize)>,
    chunk: u64,
    size: u64,
}

impl Overlay {
    fn open(dir: &Path, who: &PortId, index: usize, size: u64, chunk: u64) -> io::Result<Overlay> {
        std::fs::create_dir_all(dir)?;
        let data_path = dir.join(format!("{who}.lun{index}.cow"));
        let map_path = dir.join(format!("{who}.lun{index}.map"));
        let data = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data_path)?;
        let map_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&map_path)?;
        let chunks = size.div_ceil(chunk);
        let map_len = chunks.div_ceil(8) as usize;
        let mut map = vec![0u8; map_len];
        let existing = map_file.metadata()?.len();
        let mut header = [0u8; MAP_HEADER as usize];
        header[..8].copy_from_slice(MAP_MAGIC);
        header[8..16].copy_from_slice(&size.to_be_bytes());
        header[16..20].copy_from_slice(&(chunk as u32).to_be_bytes());
        if existing == 0 {
            map_file.write_all_at(&header, 0)?;
            map_file.write_all_at(&map, MAP_HEADER)?;
            data.set_len(size)?;
            map_file.sync_all()?;
        } else {
            let mut old = [0u8; MAP_HEADER as usize];
            map_file.read_exact_at(&mut old, 0)?;
            if old != header {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} belongs to another image (size or chunk differs); remove it to start over",
                        map_path.display()
                    ),
                ));
            }
            map_file.read_exact_at(&mut map, MAP_HEADER)?;
            if data.metadata()?.len() < size {
                data.set_len(size)?;
            }
        }
        Ok(Overlay {
            data,
            map_file,
            map,
            dirty: None,
            chunk,
            size,
        })
    }

    fn present(&self, c: u64) -> bool {
        self.map[(c / 8) as usize] & (1 << (c % 8)) != 0
    }

    fn set(&mut self, c: u64) {
        let i = (c / 8) as usize;
        self.map[i] |= 1 << (c % 8);
        self.dirty = Some(match self.dirty {
            None => (i, i + 1),
            Some((a, b)) => (a.min(i), b.max(i + 1)),
        });
    }

    fn read(&self, base: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut pos = 0usize;
        while pos < buf.len() {
            let at = offset + pos as u64;
            let c = at / self.chunk;
            let ours = self.present(c);
            // Extend the run over chunks of the same source.
            let mut end_chunk = c + 1;
            let last = (offset + buf.len() as u64 - 1) / self.chunk;
            while end_chunk <= last && self.present(end_chunk) == ours {
                end_chunk += 1;
            }
            let run_end = (end_chunk * self.chunk).min(offset + buf.len() as u64);
            let n = (run_end - at) as usize;
            let file = if ours { &self.data } else { base };
            read_full(file, &mut buf[pos..pos + n], at)?;
            pos += n;
        }
        Ok(())
    }

    fn write(&mut self, base: &File, offset: u64, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let first = offset / self.chunk;
        let last = (offset + data.len() as u64 - 1) / self.chunk;
        // Copy up the partly covered edge chunks that are not ours yet.
        for c in [first, last] {
            let start = c * self.chunk;
            let end = (start + self.chunk).min(self.size);
            let covered = offset <= start && offset + data.len() as u64 >= end;
            if !covered && !self.present(c) {
                let mut tmp = vec![0u8; (end - start) as usize];
                read_full(base, &mut tmp, start)?;
                self.data.write_all_at(&tmp, start)?;
                self.set(c);
            }
        }
        self.data.write_all_at(data, offset)?;
        for c in first..=last {
            if !self.present(c) {
                self.set(c);
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.data.sync_data()?;
        if let Some((a, b)) = self.dirty.take() {
            if let Err(e) = self
                .map_file
                .write_all_at(&self.map[a..b], MAP_HEADER + a as u64)
            {
                self.dirty = Some((a, b));
                return Err(e);
            }
            self.map_file.sync_data()?;
        }
        Ok(())
    }

    /// Chunks held in the overlay.
    fn chunks_present(&self) -> u64 {
        self.map.iter().map(|b| u64::from(b.count_ones())).sum()
    }
}

/// Reads exactly `buf.len()` bytes at `offset`; bytes past the end of the
/// file read as zero (a sparse or short image).
fn read_full(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut pos = 0;
    while pos < buf.len() {
        match f.read_at(&mut buf[pos..], offset + pos as u64) {
            Ok(0) => {
                buf[pos..].fill(0);
                return Ok(());
            }
            Ok(n) => pos += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One logical unit.
pub struct Lun {
    cfg: LunConfig,
    base: File,
    /// Bytes served (a whole number of blocks).
    size: u64,
    /// Trailing bytes of the image that are not a whole block.
    pub trailing: u64,
    overlays: HashMap<PortId, Overlay>,
    serial: String,
    id: u64,
    index: usize,
}

impl Lun {
    /// Opens the image.
    ///
    /// # Errors
    /// A missing or unreadable image, one too small for a block, a bad
    /// block size.
    pub fn open(cfg: LunConfig, index: usize) -> Result<Lun, LunError> {
        if !BLOCK_SIZES.contains(&cfg.block_size) {
            return Err(LunError(format!(
                "block size {} not supported (use 512 or 4096)",
                cfg.block_size
            )));
        }
        let p = &cfg.path;
        let writable = !cfg.read_only && cfg.cow_dir.is_none();
        let base = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(p)
            .map_err(|e| LunError(format!("cannot open disk image {}: {e}", p.display())))?;
        let meta = base
            .metadata()
            .map_err(|e| LunError(format!("cannot stat {}: {e}", p.display())))?;
        if meta.is_dir() {
            return Err(LunError(format!(
                "disk image {} is a directory",
                p.display()
            )));
        }
        let mut len = meta.len();
        if len == 0 {
            // A block device reports 0: ask for its end.
            use std::io::Seek;
            let mut f = &base;
            len = f.seek(io::SeekFrom::End(0)).unwrap_or(0);
        }
        let bs = u64::from(cfg.block_size);
        let size = len / bs * bs;
        if size == 0 {
            return Err(LunError(format!(
                "disk image {} is {len} bytes: smaller than one {bs}-byte block",
                p.display()
            )));
        }
        // Probe that it is readable.
        let mut probe = [0u8; 1];
        base.read_at(&mut probe, 0)
            .map_err(|e| LunError(format!("cannot read disk image {}: {e}", p.display())))?;
        let canon = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        let id = fnv1a(canon.as_os_str().as_encoded_bytes());
        Ok(Lun {
            serial: format!("{id:016x}"),
            id,
            trailing: len - size,
            size,
            base,
            cfg,
            overlays: HashMap::new(),
            index,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LunConfig {
        &self.cfg
    }
    /// Block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.cfg.block_size
    }
    /// Number of blocks.
    pub fn blocks(&self) -> u64 {
        self.size / u64::from(self.cfg.block_size)
    }
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Writes are refused.
    pub fn read_only(&self) -> bool {
        self.cfg.read_only
    }
    /// Unit serial number (VPD 0x80): 16 hex digits derived from the image's
    /// canonical path, so it is the same on every start.
    pub fn serial(&self) -> &str {
        &self.serial
    }
    /// 64 stable bits identifying this LUN (NAA designator).
    pub fn ident(&self) -> u64 {
        self.id
    }

    fn chunk(&self) -> u64 {
        u64::from(self.cfg.block_size.max(MIN_CHUNK))
    }

    /// The LUN number.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Opens (or creates) the overlay of `who`, when overlays are on.
    ///
    /// # Errors
    /// The overlay cannot be created or belongs to another image.
    pub fn attach(&mut self, who: &PortId) -> io::Result<()> {
        let Some(dir) = self.cfg.cow_dir.clone() else {
            return Ok(());
        };
        if !self.overlays.contains_key(who) {
            let o = Overlay::open(&dir, who, self.index, self.size, self.chunk())?;
            self.overlays.insert(*who, o);
        }
        Ok(())
    }

    /// Chunks `who` has in its overlay (0 without overlays).
    pub fn overlay_chunks(&self, who: &PortId) -> u64 {
        self.overlays.get(who).map_or(0, Overlay::chunks_present)
    }

    fn check(&self, offset: u64, len: usize) -> io::Result<()> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "beyond the end of the LUN",
            )),
        }
    }

    /// Reads `buf.len()` bytes at byte `offset` as `who` sees them.
    ///
    /// # Errors
    /// Out of range, or the file read failed.
    pub fn read(&mut self, who: &PortId, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.check(offset, buf.len())?;
        if self.cfg.cow_dir.is_some() {
            self.attach(who)?;
            let o = self.overlays.get(who).expect("attached");
            return o.read(&self.base, offset, buf);
        }
        read_full(&self.base, buf, offset)
    }

    /// Writes `data` at byte `offset` for `who`.
    ///
    /// # Errors
    /// Out of range, read-only, or the file write failed.
    pub fn write(&mut self, who: &PortId, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check(offset, data.len())?;
        if self.cfg.read_only {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "read-only LUN",
            ));
        }
        if self.cfg.cow_dir.is_some() {
            self.attach(who)?;
            let o = self.overlays.get_mut(who).expect("attached");
            return o.write(&self.base, offset, data);
        }
        self.base.write_all_at(data, offset)
    }

    /// Makes everything `who` wrote durable.
    ///
    /// # Errors
    /// fdatasync failed.
    pub fn sync(&mut self, who: &PortId) -> io::Result<()> {
        if self.cfg.read_only {
            return Ok(());
        }
        if self.cfg.cow_dir.is_some() {
            return match self.overlays.get_mut(who) {
                Some(o) => o.sync(),
                None => Ok(()),
            };
        }
        self.base.sync_data()
    }
}

/// FNV-1a, 64 bits: a stable hash for identifiers.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
