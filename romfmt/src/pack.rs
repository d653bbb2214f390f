//! The packed ROM body ("SRPZ"): an LZ77 stream coded bit by bit with an
//! adaptive binary range coder, and the descriptor that tells the init stub
//! (and romtool) where it is.
//!
//! The production image keeps its header, real-mode stubs and the config
//! block as they are linked, and carries the 32-bit body packed: at POST the
//! stub in `rom16/src/entry16.s` (`unpack`) decodes it into the PMM body block
//! at its link offset. That stub and [`check`]/[`unpack`] here are two
//! decoders of one format; the encoder ([`pack`], host only) picks a
//! shortest-cost parse.
//!
//! # Format
//! A range decoder as in LZMA: 32-bit `range` and `code`, 11-bit
//! probabilities of a 0 (all start at 1/2; `bound = (range >> 11) * p`,
//! a 0 if `code < bound`), after each bit moved 1/32 of the way towards
//! 2048 (a 0) or 31 (a 1), rounding down; one input byte shifted in *before*
//! a bit whenever `range < 2^24`.
//! `code` starts as the first 4 bytes, big-endian; `range` as `0xFFFF_FFFF`.
//! Each bit is decoded with its own probability, its *context*:
//!
//! ```text
//! token after a literal (or at the start):
//!     KIND+0: 0 -> literal, 1 -> match; for a match REP: 1 -> repeat the
//!     last offset with length num(REPLEN), 0 -> new match
//! token after a match:
//!     KIND+1: 0 -> literal, 1 -> new match
//! literal:   8 bits, most significant first, context LIT + the bits so far
//!            with a leading 1 (a binary tree: 1..=255)
//! new match: offset = num(OFF), length = num(LEN) + 1
//! num(C):    n = 1; i = 0; while n < 2^24 and bit(C + 2i) is 1:
//!                n = 2n + bit(C + 2i + 1); i += 1
//!            (Elias gamma with the flag and data bits interleaved)
//! ```
//!
//! A match copies `length` bytes from `offset` bytes back in the output
//! (overlapping allowed), capped at the output's end. The last offset starts
//! at 1. Decoding stops when the output has its known length; after the last
//! bit the decoder normalises once more, and then has read exactly the whole
//! stream ([`check`] insists). The literal context does not depend on the
//! output, so a stream can be checked without its output buffer.

use core::fmt;

/// Probabilities have this many bits; 1/2 is `PROB_ONE / 2`.
const PROB_BITS: u32 = 11;
const PROB_ONE: u32 = 1 << PROB_BITS;
const PROB_INIT: u16 = (PROB_ONE / 2) as u16;
/// Adaptation speed: a probability moves by 1/2^MOVE_BITS of its distance.
const MOVE_BITS: u32 = 5;
/// `range` below this: shift in a byte.
const TOP: u32 = 1 << 24;

/// Context layout: indices into the probability table. The stub in
/// entry16.s uses the same numbers (`PZ_*`).
pub const CTX_LIT: usize = 0;
pub const CTX_KIND: usize = 256;
pub const CTX_REP: usize = 258;
/// Interleaved gamma: at most this many flag/data pairs.
pub const NUM_STEPS: usize = 24;
pub const CTX_OFF: usize = 260;
pub const CTX_LEN: usize = CTX_OFF + 2 * NUM_STEPS;
pub const CTX_REPLEN: usize = CTX_LEN + 2 * NUM_STEPS;
/// Number of probabilities.
pub const CONTEXTS: usize = CTX_REPLEN + 2 * NUM_STEPS;
/// Numbers stop growing here (a bound for hostile streams; real lengths and
/// offsets are far smaller).
const NUM_LIMIT: u32 = 1 << NUM_STEPS;

/// Why a packed stream does not decode to exactly what its descriptor says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpackError {
    /// The stream ended before the output was complete.
    Truncated { produced: usize },
    /// A match reaches before the start of the output.
    OffsetTooFar { at: usize, offset: u32 },
    /// A match runs past the known output length.
    Overrun { at: usize, len: u32 },
    /// The output is complete but the stream goes on.
    TrailingBytes { unused: usize },
}

impl fmt::Display for UnpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            UnpackError::Truncated { produced } => {
                write!(f, "packed stream ends after {produced} output bytes")
            }
            UnpackError::OffsetTooFar { at, offset } => write!(
                f,
                "match at output byte {at} refers {offset} bytes back, before the start"
            ),
            UnpackError::Overrun { at, len } => write!(
                f,
                "match of {len} bytes at output byte {at} runs past the unpacked length"
            ),
            UnpackError::TrailingBytes { unused } => {
                write!(f, "{unused} bytes of the packed stream are left over")
            }
        }
    }
}

/// Moves probability `p` (of a 0) towards the bit just seen: by
/// floor((target - p) / 32) with target 2048 after a 0 and 31 after a 1, so
/// it stays within [31, 2017] and one normalisation per bit is enough.
fn adapt(p: &mut u16, bit: u32) {
    let target = if bit == 0 { PROB_ONE as i32 } else { P_MIN };
    *p = (i32::from(*p) + ((target - i32::from(*p)) >> MOVE_BITS)) as u16;
}

/// The lowest probability [`adapt`] reaches.
const P_MIN: i32 = 31;

struct Decoder<'a> {
    src: &'a [u8],
    pos: usize,
    range: u32,
    code: u32,
    probs: [u16; CONTEXTS],
}

impl<'a> Decoder<'a> {
    fn new(src: &'a [u8]) -> Option<Self> {
        let head = src.get(..4)?;
        Some(Decoder {
            src,
            pos: 4,
            range: u32::MAX,
            code: u32::from_be_bytes([head[0], head[1], head[2], head[3]]),
            probs: [PROB_INIT; CONTEXTS],
        })
    }

    fn normalize(&mut self) -> Option<()> {
        if self.range < TOP {
            let byte = *self.src.get(self.pos)?;
            self.pos += 1;
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(byte);
        }
        Some(())
    }

    fn bit(&mut self, ctx: usize) -> Option<u32> {
        self.normalize()?;
        let p = &mut self.probs[ctx];
        let bound = (self.range >> PROB_BITS) * u32::from(*p);
        let bit = if self.code < bound {
            self.range = bound;
            0
        } else {
            self.range -= bound;
            self.code -= bound;
            1
        };
        adapt(p, bit);
        Some(bit)
    }

    fn num(&mut self, ctx: usize) -> Option<u32> {
        let mut n = 1u32;
        let mut c = ctx;
        while n < NUM_LIMIT && self.bit(c)? == 1 {
            n = 2 * n + self.bit(c + 1)?;
            c += 2;
        }
        Some(n)
    }
}

/// Decodes `src` into `out` when given, else only checks it; `len` is the
/// unpacked length (`out`, when given, must be that long). Never panics.
fn decode(src: &[u8], len: usize, mut out: Option<&mut [u8]>) -> Result<(), UnpackError> {
    let truncated = |produced| UnpackError::Truncated { produced };
    let mut d = Decoder::new(src).ok_or(truncated(0))?;
    let mut at = 0usize;
    let mut after_match = false;
    let mut last_offset = 1u32;
    while at < len {
        let t = truncated(at);
        if d.bit(CTX_KIND + after_match as usize).ok_or(t)? == 0 {
            let mut node = 1usize;
            while node < 0x100 {
                node = 2 * node + d.bit(CTX_LIT + node).ok_or(t)? as usize;
            }
            if let Some(o) = out.as_deref_mut() {
                o[at] = node as u8;
            }
            at += 1;
            after_match = false;
            continue;
        }
        let length = if !after_match && d.bit(CTX_REP).ok_or(t)? == 1 {
            d.num(CTX_REPLEN).ok_or(t)?
        } else {
            last_offset = d.num(CTX_OFF).ok_or(t)?;
            d.num(CTX_LEN).ok_or(t)? + 1
        };
        if last_offset as usize > at {
            return Err(UnpackError::OffsetTooFar {
                at,
                offset: last_offset,
            });
        }
        if length as usize > len - at {
            return Err(UnpackError::Overrun { at, len: length });
        }
        if let Some(o) = out.as_deref_mut() {
            for i in at..at + length as usize {
                o[i] = o[i - last_offset as usize];
            }
        }
        at += length as usize;
        after_match = true;
    }
    d.normalize().ok_or(truncated(at))?;
    match src.len() - d.pos {
        0 => Ok(()),
        unused => Err(UnpackError::TrailingBytes { unused }),
    }
}

/// Checks that `src` decodes to exactly `len` bytes using all of `src`,
/// without producing them (no buffer needed).
pub fn check(src: &[u8], len: usize) -> Result<(), UnpackError> {
    decode(src, len, None)
}

/// Decodes `src` into all of `out`; `src` must end exactly there.
pub fn unpack(src: &[u8], out: &mut [u8]) -> Result<(), UnpackError> {
    let len = out.len();
    decode(src, len, Some(out))
}

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

#[cfg(any(test, feature = "std"))]
pub use encoder::pack;

#[cfg(any(test, feature = "std"))]
mod encoder {
    use super::*;
    use std::vec::Vec;

    /// The range encoder (LZMA's carry-propagating form).
    struct Encoder {
        low: u64,
        range: u32,
        cache: u8,
        pending: u64,
        out: Vec<u8>,
        probs: [u16; CONTEXTS],
        /// Per context: how often each bit value was coded (for the next
        /// parse's price estimates).
        counts: Vec<[u32; 2]>,
    }

    impl Encoder {
        fn new() -> Self {
            Encoder {
                low: 0,
                range: u32::MAX,
                cache: 0,
                pending: 1,
                out: Vec::new(),
                probs: [PROB_INIT; CONTEXTS],
                counts: vec![[0; 2]; CONTEXTS],
            }
        }

        fn shift_low(&mut self) {
            if self.low < 0xFF00_0000 || self.low >= 1 << 32 {
                let carry = (self.low >> 32) as u8;
                let mut byte = self.cache;
                while self.pending > 0 {
                    self.out.push(byte.wrapping_add(carry));
                    byte = 0xFF;
                    self.pending -= 1;
                }
                self.cache = (self.low >> 24) as u8;
            }
            self.pending += 1;
            self.low = (self.low & 0x00FF_FFFF) << 8;
        }

        fn bit(&mut self, ctx: usize, bit: u32) {
            self.counts[ctx][bit as usize] += 1;
            let p = &mut self.probs[ctx];
            let bound = (self.range >> PROB_BITS) * u32::from(*p);
            if bit == 0 {
                self.range = bound;
            } else {
                self.low += u64::from(bound);
                self.range -= bound;
            }
            adapt(p, bit);
            while self.range < TOP {
                self.range <<= 8;
                self.shift_low();
            }
        }

        fn num(&mut self, ctx: usize, n: u32) {
            debug_assert!((1..NUM_LIMIT).contains(&n));
            let top = 31 - n.leading_zeros();
            for (i, shift) in (0..top).rev().enumerate() {
                self.bit(ctx + 2 * i, 1);
                self.bit(ctx + 2 * i + 1, (n >> shift) & 1);
            }
            self.bit(ctx + 2 * top as usize, 0);
        }

        fn finish(mut self) -> (Vec<u8>, Vec<[u32; 2]>) {
            for _ in 0..5 {
                self.shift_low();
            }
            // The first byte is always 0 (LZMA's decoder skips it); the
            // decoder here starts with the next four.
            debug_assert_eq!(self.out[0], 0);
            self.out.remove(0);
            (self.out, self.counts)
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Token {
        Literal,
        Rep { len: u32 },
        Match { offset: u32, len: u32 },
    }

    fn encode(data: &[u8], tokens: &[Token]) -> (Vec<u8>, Vec<[u32; 2]>) {
        let mut e = Encoder::new();
        let mut at = 0usize;
        let mut after_match = false;
        for &t in tokens {
            match t {
                Token::Literal => {
                    e.bit(CTX_KIND + after_match as usize, 0);
                    let mut node = 1usize;
                    for shift in (0..8).rev() {
                        let b = u32::from(data[at] >> shift) & 1;
                        e.bit(CTX_LIT + node, b);
                        node = 2 * node + b as usize;
                    }
                    at += 1;
                    after_match = false;
                }
                Token::Rep { len } => {
                    debug_assert!(!after_match);
                    e.bit(CTX_KIND, 1);
                    e.bit(CTX_REP, 1);
                    e.num(CTX_REPLEN, len);
                    at += len as usize;
                    after_match = true;
                }
                Token::Match { offset, len } => {
                    e.bit(CTX_KIND + after_match as usize, 1);
                    if !after_match {
                        e.bit(CTX_REP, 0);
                    }
                    e.num(CTX_OFF, offset);
                    e.num(CTX_LEN, len - 1);
                    at += len as usize;
                    after_match = true;
                }
            }
        }
        debug_assert_eq!(at, data.len());
        e.finish()
    }

    /// Prices in 1/16 bit, from the bit counts of the previous pass.
    struct Prices {
        bit: Vec<[u32; 2]>,
        lit: Vec<u32>,
    }

    const PRICE_ONE: u32 = 16;

    impl Prices {
        fn flat() -> Self {
            Self::from_counts(&vec![[0; 2]; CONTEXTS])
        }

        fn from_counts(counts: &[[u32; 2]]) -> Self {
            let bit: Vec<[u32; 2]> = counts
                .iter()
                .map(|&[zeros, ones]| {
                    // Laplace-smoothed estimate of each value's probability.
                    let total = f64::from(zeros) + f64::from(ones) + 1.0;
                    let price = |k: u32| {
                        let p = (f64::from(k) + 0.5) / total;
                        (-p.log2() * f64::from(PRICE_ONE)).round() as u32
                    };
                    [price(zeros), price(ones)]
                })
                .collect();
            let lit = (0..256usize)
                .map(|byte| {
                    let mut node = 1usize;
                    let mut sum = 0;
                    for shift in (0..8).rev() {
                        let b = (byte >> shift) & 1;
                        sum += bit[CTX_LIT + node][b];
                        node = 2 * node + b;
                    }
                    sum
                })
                .collect();
            Prices { bit, lit }
        }

        fn num(&self, ctx: usize, n: u32) -> u32 {
            let top = 31 - n.leading_zeros();
            let mut sum = 0;
            for (i, shift) in (0..top).rev().enumerate() {
                sum += self.bit[ctx + 2 * i][1];
                sum += self.bit[ctx + 2 * i + 1][((n >> shift) & 1) as usize];
            }
            sum + self.bit[ctx + 2 * top as usize][0]
        }

        /// Price table of num(ctx, n) for n in 0..count (0 is not a
        /// number: priced out).
        fn num_table(&self, ctx: usize, count: usize) -> Vec<u32> {
            (0..count as u32)
                .map(|n| {
                    if n == 0 {
                        u32::MAX / 4
                    } else {
                        self.num(ctx, n)
                    }
                })
                .collect()
        }
    }

    /// For each position, the matches worth considering: (length, offset)
    /// pairs, each longer than the one before and with a larger offset (so
    /// each length is reached with the nearest offset found).
    fn find_matches(data: &[u8], max_chain: usize) -> Vec<Vec<(u32, u32)>> {
        let n = data.len();
        const HASH_BITS: u32 = 16;
        let mut head = vec![usize::MAX; 1 << HASH_BITS];
        let mut prev = vec![usize::MAX; n];
        let hash = |p: usize| (usize::from(data[p]) << 8) | usize::from(data[p + 1]);
        let mut all: Vec<Vec<(u32, u32)>> = Vec::with_capacity(n);
        for p in 0..n {
            let mut found: Vec<(u32, u32)> = Vec::new();
            if p + 1 < n {
                // Inside a long match the rest of it is the only candidate
                // (keeps runs linear; the parse takes long matches whole).
                let inside = all
                    .last()
                    .and_then(|m| m.last())
                    .filter(|&&(len, _)| len > NICE_LEN);
                if let Some(&(len, offset)) = inside {
                    found.push((len - 1, offset));
                } else {
                    let mut cand = head[hash(p)];
                    let mut best = 1usize;
                    let mut steps = 0;
                    while cand != usize::MAX && steps < max_chain {
                        steps += 1;
                        // Quick reject: the byte that would make it longer.
                        if p + best < n && data[cand + best] == data[p + best] {
                            let len = common_len(&data[p..], &data[cand..], MAX_LEN);
                            if len > best {
                                best = len;
                                found.push((len as u32, (p - cand) as u32));
                                if p + len == n || len == MAX_LEN {
                                    break;
                                }
                            }
                        }
                        cand = prev[cand];
                    }
                }
                let h = hash(p);
                prev[p] = head[h];
                head[h] = p;
            }
            all.push(found);
        }
        all
    }

    /// Matches are at most this long (longer ones are several tokens).
    const MAX_LEN: usize = 1 << 16;

    fn common_len(a: &[u8], b: &[u8], max: usize) -> usize {
        a.iter()
            .zip(b)
            .take(max)
            .take_while(|(x, y)| x == y)
            .count()
    }

    /// Lengths past this are only taken whole (keeps the parse linear on
    /// long runs).
    const NICE_LEN: u32 = 128;
    /// Repeat-offset matches are measured up to this length.
    const MAX_REP_SCAN: usize = 1024;

    #[derive(Clone, Copy)]
    struct Node {
        cost: u32,
        /// Where the token that arrives here starts, and its state there.
        from: u32,
        from_state: u8,
        token: Token,
        last_offset: u32,
    }

    const UNREACHED: Node = Node {
        cost: u32::MAX,
        from: 0,
        from_state: 0,
        token: Token::Literal,
        last_offset: 1,
    };

    /// Shortest parse under `prices`; state 0 = after a literal, 1 = after
    /// a match (the last offset is kept per node, as LZMA's optimiser does).
    fn parse(data: &[u8], matches: &[Vec<(u32, u32)>], prices: &Prices) -> Vec<Token> {
        let n = data.len();
        let max_len = matches
            .iter()
            .flat_map(|m| m.last())
            .map(|&(l, _)| l as usize)
            .max()
            .unwrap_or(1)
            .max(MAX_REP_SCAN);
        let len_price = prices.num_table(CTX_LEN, max_len + 1);
        let replen_price = prices.num_table(CTX_REPLEN, max_len + 1);
        let off_price = prices.num_table(CTX_OFF, n + 1);
        let mut nodes = vec![[UNREACHED; 2]; n + 1];
        nodes[0][0].cost = 0;
        for p in 0..n {
            for state in 0..2 {
                let node = nodes[p][state];
                if node.cost == u32::MAX {
                    continue;
                }
                let mut relax = |to: usize, to_state: usize, cost: u32, token, last_offset| {
                    let slot = &mut nodes[to][to_state];
                    if cost < slot.cost {
                        *slot = Node {
                            cost,
                            from: p as u32,
                            from_state: state as u8,
                            token,
                            last_offset,
                        };
                    }
                };
                let kind = &prices.bit[CTX_KIND + state];
                let lit = node.cost + kind[0] + prices.lit[usize::from(data[p])];
                relax(p + 1, 0, lit, Token::Literal, node.last_offset);

                let match_base = node.cost + kind[1];
                if state == 0 && node.last_offset as usize <= p {
                    let from = p - node.last_offset as usize;
                    let len = common_len(&data[p..], &data[from..], MAX_REP_SCAN) as u32;
                    let base = match_base + prices.bit[CTX_REP][1];
                    let lens = if len > NICE_LEN { len..=len } else { 1..=len };
                    for l in lens {
                        let cost = base + replen_price[l as usize];
                        relax(
                            p + l as usize,
                            1,
                            cost,
                            Token::Rep { len: l },
                            node.last_offset,
                        );
                    }
                }
                let base = match_base
                    + if state == 0 {
                        prices.bit[CTX_REP][0]
                    } else {
                        0
                    };
                let mut shorter = 1u32;
                for &(len, offset) in &matches[p] {
                    let with_offset = base + off_price[offset as usize];
                    let lens = if len > NICE_LEN {
                        len..=len
                    } else {
                        shorter + 1..=len
                    };
                    for l in lens {
                        let cost = with_offset + len_price[l as usize - 1];
                        relax(
                            p + l as usize,
                            1,
                            cost,
                            Token::Match { offset, len: l },
                            offset,
                        );
                    }
                    shorter = len;
                }
            }
        }
        // Walk back from the cheaper end state.
        let mut state = if nodes[n][0].cost <= nodes[n][1].cost {
            0
        } else {
            1
        };
        let mut p = n;
        let mut tokens = Vec::new();
        while p > 0 {
            let node = nodes[p][state];
            tokens.push(node.token);
            p = node.from as usize;
            state = node.from_state as usize;
        }
        tokens.reverse();
        tokens
    }

    /// Packs `data` (host side, deterministic). A few passes: each parses
    /// with bit prices estimated from the previous pass's statistics; the
    /// smallest result wins.
    pub fn pack(data: &[u8]) -> Vec<u8> {
        assert!(
            data.len() < NUM_LIMIT as usize,
            "pack: input over {NUM_LIMIT} bytes"
        );
        if data.is_empty() {
            return Encoder::new().finish().0;
        }
        let matches = find_matches(data, 2048);
        let mut prices = Prices::flat();
        let mut best: Option<Vec<u8>> = None;
        for _ in 0..6 {
            let tokens = parse(data, &matches, &prices);
            let (out, counts) = encode(data, &tokens);
            if best.as_ref().is_none_or(|b| out.len() < b.len()) {
                best = Some(out);
            }
            prices = Prices::from_counts(&counts);
        }
        best.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::sum8;

    /// Makes the whole image sum to 0 through its last byte.
    fn fix_byte(rom: &mut [u8], at: usize) {
        rom[at] = crate::field::fix_byte(sum8(rom), rom[at]);
    }
    use crate::verify::{verify_to_vec, Problem};

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

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
}
