//! git's delta format: a target object written as copies from a base object and literal
//! inserts (`Documentation/gitformat-pack.txt`, "Deltified representation").
//!
//! [`encode`] finds the copies the way git's `diff-delta.c` does, simplified: the base is
//! indexed by a hash of each 16-byte block, the target is scanned with a rolling hash, and
//! each hit is extended both ways. A common prefix and suffix are taken first, by plain
//! comparison, so the usual case here (a file that grew, an older version against a newer
//! one) costs a `memcmp`. [`apply`] is the reader's side, used to check every delta before
//! it is written.

/// Bytes hashed per index entry.
const BLOCK: usize = 16;
/// A copy instruction names at most this many bytes (its size field has three bytes).
const MAX_COPY: usize = 0xff_ffff;
/// An insert instruction holds at most this many bytes.
const MAX_INSERT: usize = 0x7f;
/// Copies shorter than this cost more than the bytes they replace.
const MIN_COPY: usize = BLOCK;

/// A delta turning `base` into `target`, or `None` when it would exceed `max_size` bytes
/// (the caller stores the target whole then) or `base` is too large for copy offsets.
pub fn encode(base: &[u8], target: &[u8], max_size: usize) -> Option<Vec<u8>> {
    if base.len() > u32::MAX as usize {
        return None;
    }
    let mut out = Vec::with_capacity(64);
    varint(&mut out, base.len() as u64);
    varint(&mut out, target.len() as u64);
    let prefix = common_prefix(base, target);
    let room = base.len().min(target.len()) - prefix;
    let suffix = common_suffix(&base[base.len() - room..], &target[target.len() - room..]);
    let mut pending = Vec::new();
    copy(&mut out, 0, prefix);
    let middle = &target[prefix..target.len() - suffix];
    if !middle.is_empty() {
        if base.len() >= BLOCK && middle.len() >= BLOCK {
            let index = Index::new(base);
            scan(&index, base, middle, &mut out, &mut pending, max_size)?;
        } else {
            pending.extend_from_slice(middle);
        }
    }
    insert(&mut out, &mut pending);
    copy(&mut out, base.len() - suffix, suffix);
    (out.len() <= max_size).then_some(out)
}

/// Applies `delta` to `base`; `None` when the delta is malformed or does not fit `base`.
pub fn apply(base: &[u8], delta: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    let base_len = read_varint(delta, &mut at)?;
    if base_len != base.len() as u64 {
        return None;
    }
    let target_len = usize::try_from(read_varint(delta, &mut at)?).ok()?;
    let mut out = Vec::with_capacity(target_len);
    while at < delta.len() {
        let op = delta[at];
        at += 1;
        if op & 0x80 != 0 {
            let mut offset = 0usize;
            let mut size = 0usize;
            for i in 0..4 {
                if op & (1 << i) != 0 {
                    offset |= usize::from(*delta.get(at)?) << (8 * i);
                    at += 1;
                }
            }
            for i in 0..3 {
                if op & (0x10 << i) != 0 {
                    size |= usize::from(*delta.get(at)?) << (8 * i);
                    at += 1;
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            out.extend_from_slice(base.get(offset..offset.checked_add(size)?)?);
        } else if op != 0 {
            let n = usize::from(op);
            out.extend_from_slice(delta.get(at..at + n)?);
            at += n;
        } else {
            return None;
        }
        if out.len() > target_len {
            return None;
        }
    }
    (out.len() == target_len).then_some(out)
}

/// The result size a delta declares, without applying it.
#[cfg(test)]
pub fn target_size(delta: &[u8]) -> Option<u64> {
    let mut at = 0;
    read_varint(delta, &mut at)?;
    read_varint(delta, &mut at)
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const STEP: usize = 4096;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + STEP <= n && a[i..i + STEP] == b[i..i + STEP] {
        i += STEP;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i < n && a[a.len() - 1 - i] == b[b.len() - 1 - i] {
        i += 1;
    }
    i
}

/// The base's 16-byte blocks by hash: an open-addressed table of block offsets + 1.
struct Index {
    slots: Vec<u32>,
    mask: usize,
}

impl Index {
    fn new(base: &[u8]) -> Index {
        let blocks = base.len() / BLOCK;
        let size = (blocks * 2).next_power_of_two().max(16);
        let mut slots = vec![0u32; size];
        let mask = size - 1;
        // From the end, so that the first occurrence of a repeated block wins its slot.
        for b in (0..blocks).rev() {
            let at = b * BLOCK;
            let h = hash_block(&base[at..at + BLOCK]);
            let mut slot = h as usize & mask;
            for _ in 0..8 {
                let s = slots[slot];
                if s == 0 || hash_block(&base[s as usize - 1..s as usize - 1 + BLOCK]) == h {
                    slots[slot] = at as u32 + 1;
                    break;
                }
                slot = (slot + 1) & mask;
            }
        }
        Index { slots, mask }
    }

    /// A base offset whose block has hash `h`, if any (the caller compares the bytes).
    fn candidates(&self, h: u32) -> impl Iterator<Item = usize> + '_ {
        let start = h as usize & self.mask;
        (0..8)
            .map(move |i| self.slots[(start + i) & self.mask])
            .take_while(|&s| s != 0)
            .map(|s| s as usize - 1)
    }
}

/// The rolling hash of a block: a polynomial in `B`, wrapping.
const B: u32 = 0x0100_0193;

fn hash_block(block: &[u8]) -> u32 {
    block
        .iter()
        .fold(0u32, |h, &c| h.wrapping_mul(B).wrapping_add(u32::from(c)))
}

/// `B` to the power `BLOCK`: what the byte leaving the window weighs.
fn out_weight() -> u32 {
    (0..BLOCK).fold(1u32, |w, _| w.wrapping_mul(B))
}

fn scan(
    index: &Index,
    base: &[u8],
    target: &[u8],
    out: &mut Vec<u8>,
    pending: &mut Vec<u8>,
    max_size: usize,
) -> Option<()> {
    let weight = out_weight();
    let mut j = 0;
    let mut h = hash_block(&target[..BLOCK]);
    loop {
        let mut best: Option<(usize, usize)> = None;
        for at in index.candidates(h) {
            if base[at..at + BLOCK] != target[j..j + BLOCK] {
                continue;
            }
            let len = BLOCK + common_prefix(&base[at + BLOCK..], &target[j + BLOCK..]);
            if best.is_none_or(|(_, l)| len > l) {
                best = Some((at, len));
            }
        }
        if let Some((mut at, forward)) = best.filter(|&(_, len)| len >= MIN_COPY) {
            let mut len = forward;
            // Extend backwards over bytes still waiting as literals.
            while at > 0 && pending.last() == Some(&base[at - 1]) {
                pending.pop();
                at -= 1;
                len += 1;
            }
            insert(out, pending);
            copy(out, at, len);
            if out.len() > max_size {
                return None;
            }
            j += forward;
            if j + BLOCK > target.len() {
                pending.extend_from_slice(&target[j..]);
                return Some(());
            }
            h = hash_block(&target[j..j + BLOCK]);
            continue;
        }
        pending.push(target[j]);
        if pending.len() >= MAX_INSERT {
            insert(out, pending);
            if out.len() > max_size {
                return None;
            }
        }
        if j + BLOCK >= target.len() {
            pending.extend_from_slice(&target[j + 1..]);
            return Some(());
        }
        h = h
            .wrapping_mul(B)
            .wrapping_sub(u32::from(target[j]).wrapping_mul(weight))
            .wrapping_add(u32::from(target[j + BLOCK]));
        j += 1;
    }
}

/// Writes `pending` as insert instructions and empties it.
fn insert(out: &mut Vec<u8>, pending: &mut Vec<u8>) {
    for chunk in pending.chunks(MAX_INSERT) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    pending.clear();
}

/// Writes copy instructions for `len` bytes of the base from `offset`.
fn copy(out: &mut Vec<u8>, mut offset: usize, mut len: usize) {
    while len > 0 {
        let n = len.min(MAX_COPY);
        let mut op = 0x80u8;
        let at = out.len();
        out.push(0);
        for i in 0..4 {
            let byte = (offset >> (8 * i)) as u8;
            if byte != 0 {
                op |= 1 << i;
                out.push(byte);
            }
        }
        for i in 0..3 {
            let byte = (n >> (8 * i)) as u8;
            if byte != 0 {
                op |= 0x10 << i;
                out.push(byte);
            }
        }
        out[at] = op;
        offset += n;
        len -= n;
    }
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let byte = *data.get(*at)?;
        *at += 1;
        n |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(n);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::noise;

    fn round_trip(base: &[u8], target: &[u8]) -> usize {
        let delta = encode(base, target, usize::MAX).expect("no size limit");
        assert_eq!(apply(base, &delta).as_deref(), Some(target));
        assert_eq!(target_size(&delta), Some(target.len() as u64));
        delta.len()
    }

    #[test]
    fn an_older_version_against_a_grown_one_is_a_few_bytes() {
        let rows: Vec<u8> = (0..50_000)
            .flat_map(|i| format!("2024-01-01,{i},{},{}\n", i * 7 % 1000, i % 13).into_bytes())
            .collect();
        let old = &rows[..rows.len() * 9 / 10];
        assert!(round_trip(&rows, old) < 16);
        // The other way the delta holds what was added.
        let grown = round_trip(old, &rows);
        assert!(grown < rows.len() / 10 + rows.len() / 500, "{grown}");
    }

    #[test]
    fn edits_in_the_middle_cost_about_what_changed() {
        let base = noise(7, 300_000);
        let mut target = base.clone();
        target[100_000..100_050].copy_from_slice(&noise(9, 50));
        target.splice(200_000..200_000, noise(11, 1000));
        target.drain(250_000..252_000);
        let n = round_trip(&base, &target);
        assert!(n < 1_300, "{n}");
    }

    #[test]
    fn unrelated_bytes_round_trip_and_respect_the_limit() {
        for (a, b) in [
            (0usize, 0usize),
            (0, 10),
            (10, 0),
            (15, 17),
            (17, 15),
            (5000, 7000),
        ] {
            round_trip(&noise(1, a), &noise(2, b));
            round_trip(&noise(3, a), &noise(3, b));
        }
        let base = noise(1, 10_000);
        let target = noise(2, 10_000);
        assert!(encode(&base, &target, 5_000).is_none());
        // Repeated blocks, in base and target.
        let base: Vec<u8> = b"abcdefghijklmnop".repeat(1000);
        let mut target = base.clone();
        target.extend_from_slice(b"tail");
        target.splice(0..0, b"head".iter().copied());
        assert!(round_trip(&base, &target) < 64);
    }

    #[test]
    fn copies_longer_than_one_instruction_split() {
        let base = noise(5, MAX_COPY * 2 + 100);
        let mut target = base.clone();
        target.push(1);
        round_trip(&base, &target);
        round_trip(&target, &base);
    }

    #[test]
    fn malformed_deltas_are_refused() {
        let base = b"hello world".to_vec();
        let delta = encode(&base, b"hello", usize::MAX).unwrap();
        assert!(apply(b"other base!!", &delta).is_none());
        assert!(apply(&base, &delta[..delta.len() - 1]).is_none());
        assert!(apply(&base, &[11, 5, 0]).is_none());
        assert!(apply(&base, &[11, 5, 0x91, 200, 5]).is_none());
    }
}
