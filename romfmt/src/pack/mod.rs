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

mod descriptor;
pub use descriptor::*;

#[cfg(any(test, feature = "std"))]
mod encoder;
#[cfg(any(test, feature = "std"))]
pub use encoder::pack;

#[cfg(test)]
mod tests;
