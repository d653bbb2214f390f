//! The SRPZ descriptor: where the packed body is and how long it unpacks.

use super::*;

/// The descriptor's magic, at a 16-byte aligned offset of the image's
/// unpacked part.
pub const DESC_MAGIC: [u8; 4] = *b"SRPZ";
/// The only format version so far (the one described above).
pub const FORMAT: u8 = 1;
/// Descriptor length in bytes.
pub const DESC_LEN: usize = 28;
/// Where to look for the descriptor.
pub const DESC_ALIGN: usize = 16;
/// Largest unpacked length a descriptor may declare (numbers in the
/// stream stop at this size too).
pub const MAX_UNPACKED: usize = NUM_LIMIT as usize;

/// The descriptor romtool writes into the image (entry16.s: `pz_desc`):
///
/// ```text
/// 0  "SRPZ"       4  format (1)   5  descriptor length (28)   6  0 (u16)
/// 8  raw_len      image bytes [0, raw_len) go to the body as they are
/// 12 src          image offset of the packed stream
/// 16 packed_len   its length (0: the image is not packed)
/// 20 dst          body offset the stream unpacks to (>= raw_len)
/// 24 unpacked_len
/// ```
/// All little-endian u32. An image built without packing has
/// `packed_len = unpacked_len = 0` and `raw_len` = the whole image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    pub raw_len: u32,
    pub src: u32,
    pub packed_len: u32,
    pub dst: u32,
    pub unpacked_len: u32,
}

/// What is wrong with a descriptor or the stream it points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackError {
    /// Too close to the end of the image to hold a descriptor.
    Truncated,
    UnknownFormat {
        format: u8,
        len: u8,
    },
    /// `raw_len` or the packed stream reaches past the image.
    OutOfImage {
        end: u64,
        image_len: usize,
    },
    /// The stream would unpack over the raw part, or is too large.
    BadLayout,
    /// Packed and unpacked lengths must both be 0 or both be non-zero.
    EmptyStream,
    Stream(UnpackError),
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PackError::Truncated => f.write_str("packed-body descriptor is cut off by the image end"),
            PackError::UnknownFormat { format, len } => write!(
                f,
                "packed-body descriptor has format {format} and length {len}, expected {FORMAT} and {DESC_LEN}"
            ),
            PackError::OutOfImage { end, image_len } => write!(
                f,
                "packed body reaches 0x{end:x}, past the {image_len}-byte image"
            ),
            PackError::BadLayout => write!(
                f,
                "packed body would unpack over the raw part or past {MAX_UNPACKED} bytes"
            ),
            PackError::EmptyStream => {
                f.write_str("packed body: one of packed and unpacked length is 0, not both")
            }
            PackError::Stream(e) => write!(f, "packed body is corrupt: {e}"),
        }
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Descriptor {
    /// Whether the image carries a packed stream.
    pub fn is_packed(&self) -> bool {
        self.packed_len != 0
    }

    /// Reads the descriptor at the start of `bytes` (magic already found).
    pub fn parse(bytes: &[u8]) -> Result<Descriptor, PackError> {
        let b = bytes.get(..DESC_LEN).ok_or(PackError::Truncated)?;
        if b[4] != FORMAT || usize::from(b[5]) != DESC_LEN {
            return Err(PackError::UnknownFormat {
                format: b[4],
                len: b[5],
            });
        }
        Ok(Descriptor {
            raw_len: le32(b, 8),
            src: le32(b, 12),
            packed_len: le32(b, 16),
            dst: le32(b, 20),
            unpacked_len: le32(b, 24),
        })
    }

    /// Writes the descriptor (magic included) at the start of `out`.
    pub fn emit(&self, out: &mut [u8]) -> Option<()> {
        let out = out.get_mut(..DESC_LEN)?;
        out[..4].copy_from_slice(&DESC_MAGIC);
        out[4] = FORMAT;
        out[5] = DESC_LEN as u8;
        out[6..8].fill(0);
        for (i, v) in [
            self.raw_len,
            self.src,
            self.packed_len,
            self.dst,
            self.unpacked_len,
        ]
        .into_iter()
        .enumerate()
        {
            out[8 + 4 * i..12 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        Some(())
    }

    /// The packed stream inside `image`, after the layout checks.
    pub fn stream<'a>(&self, image: &'a [u8]) -> Result<&'a [u8], PackError> {
        let out_of_image = |end: u64| PackError::OutOfImage {
            end,
            image_len: image.len(),
        };
        if self.raw_len as usize > image.len() {
            return Err(out_of_image(self.raw_len.into()));
        }
        let end = u64::from(self.src) + u64::from(self.packed_len);
        if end > image.len() as u64 {
            return Err(out_of_image(end));
        }
        if (self.packed_len == 0) != (self.unpacked_len == 0) {
            return Err(PackError::EmptyStream);
        }
        if (self.is_packed() && self.dst < self.raw_len)
            || u64::from(self.dst) + u64::from(self.unpacked_len) > MAX_UNPACKED as u64
        {
            return Err(PackError::BadLayout);
        }
        Ok(&image[self.src as usize..end as usize])
    }

    /// Layout checks, then decodes the whole stream (without an output
    /// buffer): exactly `unpacked_len` bytes from exactly `packed_len`.
    pub fn check(&self, image: &[u8]) -> Result<(), PackError> {
        let stream = self.stream(image)?;
        if !self.is_packed() {
            return Ok(());
        }
        check(stream, self.unpacked_len as usize).map_err(PackError::Stream)
    }
}

/// Offset of the first descriptor magic in `image` (16-byte aligned), if
/// any. Images without one are ordinary, unpacked ROMs.
pub fn find(image: &[u8]) -> Option<usize> {
    (0..image.len())
        .step_by(DESC_ALIGN)
        .find(|&at| image[at..].starts_with(&DESC_MAGIC))
}

/// The descriptor of `image` and where it is: `None` for an ordinary ROM.
pub fn descriptor(image: &[u8]) -> Option<(usize, Result<Descriptor, PackError>)> {
    let at = find(image)?;
    Some((at, Descriptor::parse(&image[at..])))
}
