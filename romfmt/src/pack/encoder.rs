//! The host-side encoder: a shortest-cost parse priced by the adaptive
//! model, refined over several passes, then range coded.

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
