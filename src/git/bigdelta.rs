//! Deltas of blobs too large to hold in memory, in git's delta format, made and applied
//! with bounded memory.
//!
//! [`super::delta`] holds both versions whole; for a 1 GiB log that is two gigabytes. Here
//! the base (the newer version) is read forward as a stream and reduced to a *signature*:
//! per fixed block (4 KiB, or more so that a base has at most 65,536 blocks) a weak
//! rolling hash and a strong 64-bit hash, about 20 bytes a block. The target (the older
//! version) is then streamed with the rolling hash, as rsync does, and each block whose
//! hashes match becomes a copy. Before that, base and target are compared side by side as
//! they are read: a common prefix is one run of copies, so the usual case here (the older
//! version of a file that only grew) is a few copy instructions and the target is read
//! once.
//!
//! Copies only move forward in the base: a copy is accepted only at or after the end of
//! the previous one. So [`Applied`] can apply the delta reading its base forward once,
//! and the reader of a chain of such deltas needs one stream per link, never a whole
//! version. The delta is written to a [`Write`] (a temporary file, for the caller that
//! keeps it), and abandoned as soon as it exceeds the size the caller allows.

use std::fs::File;
use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::FileExt;

/// Copy offsets have four bytes: a base at or above this size cannot be a delta base.
pub const MAX_BASE: u64 = u32::MAX as u64;
/// A copy instruction names at most this many bytes (its size field has three bytes).
const MAX_COPY: u64 = 0xff_ffff;
/// An insert instruction holds at most this many bytes.
const MAX_INSERT: usize = 0x7f;
/// The smallest block of a signature.
const MIN_BLOCK: usize = 4096;
/// A signature has at most this many blocks (the block grows with the base).
const MAX_BLOCKS: u64 = 65_536;
/// Candidates with the same weak hash tried per position, at most.
const CHAIN: usize = 32;
/// Blocks past where the target's bytes are expected in the base within which a match
/// is taken at once; see [`Signature::find`].
const NEAR: u64 = 8;
/// Blocks of the target searched for a near match after the last copy before a far one
/// is taken.
const PATIENCE: u64 = 2;
/// Bytes read from the target at a time.
const READ: usize = 1 << 20;

/// The signature block size for a base of `len` bytes.
pub fn block_size(len: u64) -> usize {
    usize::try_from(len.div_ceil(MAX_BLOCKS))
        .unwrap_or(usize::MAX)
        .max(MIN_BLOCK)
}

/// Writes to `out` a delta that turns the base (`base`, `base_len` bytes, read forward
/// once) into the target (`target_len` bytes; `open_target` opens it from its start, and
/// is called at most twice). Returns the delta's size, or `None` when it would exceed
/// `max_size` (what was written then is to be discarded) or the base is too large.
pub fn encode(
    base: &mut dyn Read,
    base_len: u64,
    open_target: &mut dyn FnMut() -> io::Result<Box<dyn Read>>,
    target_len: u64,
    out: &mut dyn Write,
    max_size: u64,
) -> io::Result<Option<u64>> {
    if base_len > MAX_BASE {
        return Ok(None);
    }
    let mut out = Emitter::new(out, max_size);
    out.varint(base_len)?;
    out.varint(target_len)?;
    let bs = block_size(base_len);
    let (prefix, sig) = read_base(base, base_len, open_target, target_len, bs)?;
    if prefix == target_len {
        out.copy(0, prefix)?;
        return out.finish();
    }
    let Some(sig) = sig else {
        return Ok(None);
    };
    out.copy(0, prefix)?;
    let mut target = Window::new(open_target()?);
    target.skip_to(prefix)?;
    scan(&sig, &mut target, prefix, target_len, &mut out)?;
    out.finish()
}

/// Reads the base once: its signature, and the length of the prefix it shares with the
/// target (read beside it). When the whole target is that prefix, the signature is not
/// needed and `None`.
fn read_base(
    base: &mut dyn Read,
    base_len: u64,
    open_target: &mut dyn FnMut() -> io::Result<Box<dyn Read>>,
    target_len: u64,
    bs: usize,
) -> io::Result<(u64, Option<Signature>)> {
    if target_len == 0 {
        return Ok((0, None));
    }
    let mut sig = Signature::new(bs, base_len);
    let mut target = open_target()?;
    let mut bbuf = vec![0u8; bs];
    let mut tbuf = vec![0u8; bs];
    let mut prefix = 0u64;
    let mut comparing = target_len > 0;
    let mut at = 0u64;
    while at < base_len {
        let n = (base_len - at).min(bs as u64) as usize;
        base.read_exact(&mut bbuf[..n])?;
        sig.add(at, &bbuf[..n]);
        if comparing {
            let m = (target_len - prefix).min(n as u64) as usize;
            target.read_exact(&mut tbuf[..m])?;
            let same = common_prefix(&bbuf[..m], &tbuf[..m]);
            prefix += same as u64;
            if prefix == target_len {
                return Ok((prefix, None));
            }
            comparing = same == n;
        }
        at += n as u64;
    }
    Ok((prefix, Some(sig.finish())))
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 64 <= n && a[i..i + 64] == b[i..i + 64] {
        i += 64;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// The base's blocks by hash: block `k` covers `k * bs ..`; chains list the blocks of one
/// weak hash slot in ascending order.
struct Signature {
    bs: usize,
    weak: Vec<u32>,
    strong: Vec<u64>,
    next: Vec<u32>,
    heads: Vec<u32>,
    shift: u32,
    /// The last, shorter block: its offset, length and strong hash.
    tail: Option<(u64, usize, u64)>,
}

impl Signature {
    fn new(bs: usize, len: u64) -> Signature {
        let blocks = (len / bs as u64) as usize;
        Signature {
            bs,
            weak: Vec::with_capacity(blocks),
            strong: Vec::with_capacity(blocks),
            next: Vec::new(),
            heads: Vec::new(),
            shift: 0,
            tail: None,
        }
    }

    fn add(&mut self, at: u64, block: &[u8]) {
        if block.len() == self.bs {
            self.weak.push(weak(block));
            self.strong.push(strong(block));
        } else {
            self.tail = Some((at, block.len(), strong(block)));
        }
    }

    /// Builds the hash table; chains come out ascending because blocks are pushed on
    /// their slot from the last to the first.
    fn finish(mut self) -> Signature {
        let size = (self.weak.len() * 2).next_power_of_two().max(16);
        self.shift = 32 - size.trailing_zeros();
        self.heads = vec![0u32; size];
        self.next = vec![0u32; self.weak.len()];
        for k in (0..self.weak.len()).rev() {
            let slot = self.slot(self.weak[k]);
            self.next[k] = self.heads[slot];
            self.heads[slot] = k as u32 + 1;
        }
        self
    }

    fn slot(&self, h: u32) -> usize {
        (h.wrapping_mul(0x9E37_79B1) >> self.shift) as usize
    }

    /// A block at or after base offset `from` holding `window` (weak hash `h`): the
    /// block right at `from` first, so that a run of copies continues; else the one
    /// nearest to `expected` (where the target's bytes would be in the base had nothing
    /// been inserted or removed since the last copy). One further than [`NEAR`] blocks
    /// past `expected` only when `far` is allowed: in a file whose content repeats (a
    /// log), the bytes after an edit match far copies of themselves before they reach
    /// their own place again, and a copy far ahead would leave every block between out
    /// of reach of the forward-only copies that follow.
    fn find(&self, h: u32, window: &[u8], from: u64, expected: u64, far: bool) -> Option<u64> {
        let bs = self.bs as u64;
        let mut strong_hash = None;
        let mut confirm = |k: usize| {
            self.weak[k] == h
                && *strong_hash.get_or_insert_with(|| strong(window)) == self.strong[k]
        };
        if from.is_multiple_of(bs) {
            let k = (from / bs) as usize;
            if k < self.weak.len() && confirm(k) {
                return Some(from);
            }
        }
        let mut best: Option<u64> = None;
        let mut s = self.heads[self.slot(h)];
        for _ in 0..CHAIN {
            if s == 0 {
                break;
            }
            let k = s as usize - 1;
            let at = k as u64 * bs;
            if at >= from
                && best.is_none_or(|b| at.abs_diff(expected) < b.abs_diff(expected))
                && confirm(k)
            {
                best = Some(at);
            }
            s = self.next[k];
        }
        best.filter(|&at| far || at <= expected + NEAR * bs)
    }
}

/// The rolling hash of a block: a polynomial in `B`, wrapping.
const B: u32 = 0x0100_0193;

fn weak(block: &[u8]) -> u32 {
    block
        .iter()
        .fold(0u32, |h, &c| h.wrapping_mul(B).wrapping_add(u32::from(c)))
}

/// `B` to the power `n`: the weight of the byte leaving an `n`-byte window.
fn out_weight(n: usize) -> u32 {
    (0..n).fold(1u32, |w, _| w.wrapping_mul(B))
}

/// A 64-bit hash of a block, eight bytes at a step. Not cryptographic: a false match only
/// makes a delta that fails the SHA-1 check every delta goes through, and is dropped.
fn strong(block: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = 0x243F_6A88_85A3_08D3 ^ block.len() as u64;
    let mut words = block.chunks_exact(8);
    for w in &mut words {
        let v = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        h = (h ^ v).wrapping_mul(K).rotate_left(31);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^ (h >> 33)
}

/// The target, read forward with the bytes from a position on kept at hand.
struct Window {
    r: Box<dyn Read>,
    buf: Vec<u8>,
    /// Target offset of `buf[0]`.
    start: u64,
    eof: bool,
}

impl Window {
    fn new(r: Box<dyn Read>) -> Window {
        Window {
            r,
            buf: Vec::with_capacity(READ * 2),
            start: 0,
            eof: false,
        }
    }

    fn skip_to(&mut self, pos: u64) -> io::Result<()> {
        let skipped = io::copy(&mut (&mut self.r).take(pos), &mut io::sink())?;
        if skipped != pos {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        self.start = pos;
        Ok(())
    }

    /// Makes `n` bytes from `pos` available (fewer at the end), dropping those before.
    fn get(&mut self, pos: u64, n: usize) -> io::Result<&[u8]> {
        let from = (pos - self.start) as usize;
        if from + n > self.buf.len() && !self.eof {
            self.buf.drain(..from);
            self.start = pos;
            while self.buf.len() < n + READ && !self.eof {
                let have = self.buf.len();
                self.buf.resize(have + READ, 0);
                let got = loop {
                    match self.r.read(&mut self.buf[have..]) {
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                let got = got.inspect_err(|_| self.buf.truncate(have))?;
                self.buf.truncate(have + got);
                self.eof = got == 0;
            }
        }
        let from = (pos - self.start) as usize;
        let end = (from + n).min(self.buf.len());
        Ok(&self.buf[from.min(end)..end])
    }
}

/// The rolling search over the target from `from` (the end of the common prefix).
fn scan(
    sig: &Signature,
    target: &mut Window,
    from: u64,
    target_len: u64,
    out: &mut Emitter<'_>,
) -> io::Result<()> {
    let bs = sig.bs;
    let weight = out_weight(bs);
    let mut last_end = from;
    let mut copied_to = from;
    let mut j = from;
    let mut h: Option<u32> = None;
    while j < target_len && !out.over {
        let window = target.get(j, bs + 1)?;
        if window.len() < bs {
            let rest = window.to_vec();
            return tail(sig, &rest, last_end, out);
        }
        let hash = match h {
            Some(h) => h,
            None => weak(&window[..bs]),
        };
        let expected = last_end + (j - copied_to);
        let far = j - copied_to >= PATIENCE * bs as u64;
        if let Some(at) = sig.find(hash, &window[..bs], last_end, expected, far) {
            out.copy(at, bs as u64)?;
            last_end = at + bs as u64;
            j += bs as u64;
            copied_to = j;
            h = None;
            continue;
        }
        let leaving = window[0];
        h = window.get(bs).map(|&entering| {
            hash.wrapping_mul(B)
                .wrapping_sub(u32::from(leaving).wrapping_mul(weight))
                .wrapping_add(u32::from(entering))
        });
        out.literal(leaving)?;
        j += 1;
    }
    Ok(())
}

/// The last bytes of the target, fewer than a block: a copy of the base's own last block
/// when they are it (the common suffix of a file edited in the middle), else literals.
fn tail(sig: &Signature, rest: &[u8], last_end: u64, out: &mut Emitter<'_>) -> io::Result<()> {
    if let Some((at, len, hash)) = sig.tail {
        if len == rest.len() && at >= last_end && strong(rest) == hash {
            return out.copy(at, len as u64);
        }
    }
    rest.iter().try_for_each(|&b| out.literal(b))
}

/// Writes instructions, merging adjacent copies and batching literals.
struct Emitter<'a> {
    out: &'a mut dyn Write,
    written: u64,
    max: u64,
    copy: Option<(u64, u64)>,
    literals: Vec<u8>,
    over: bool,
}

impl<'a> Emitter<'a> {
    fn new(out: &'a mut dyn Write, max: u64) -> Emitter<'a> {
        Emitter {
            out,
            written: 0,
            max,
            copy: None,
            literals: Vec::with_capacity(MAX_INSERT),
            over: false,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        if self.written > self.max {
            self.over = true;
            return Ok(());
        }
        self.out.write_all(bytes)
    }

    fn varint(&mut self, mut n: u64) -> io::Result<()> {
        let mut buf = Vec::with_capacity(10);
        while n >= 0x80 {
            buf.push((n as u8) | 0x80);
            n >>= 7;
        }
        buf.push(n as u8);
        self.put(&buf)
    }

    fn copy(&mut self, at: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        self.flush_literals()?;
        match &mut self.copy {
            Some((start, n)) if *start + *n == at => *n += len,
            _ => {
                self.flush_copy()?;
                self.copy = Some((at, len));
            }
        }
        Ok(())
    }

    fn literal(&mut self, byte: u8) -> io::Result<()> {
        self.flush_copy()?;
        self.literals.push(byte);
        if self.literals.len() == MAX_INSERT {
            self.flush_literals()?;
        }
        Ok(())
    }

    fn flush_literals(&mut self) -> io::Result<()> {
        if self.literals.is_empty() || self.over {
            self.literals.clear();
            return Ok(());
        }
        let mut buf = Vec::with_capacity(self.literals.len() + 1);
        buf.push(self.literals.len() as u8);
        buf.extend_from_slice(&self.literals);
        self.literals.clear();
        self.put(&buf)
    }

    fn flush_copy(&mut self) -> io::Result<()> {
        let Some((mut at, mut len)) = self.copy.take() else {
            return Ok(());
        };
        while len > 0 && !self.over {
            let n = len.min(MAX_COPY);
            let mut buf = vec![0x80u8];
            for i in 0..4 {
                let byte = (at >> (8 * i)) as u8;
                if byte != 0 {
                    buf[0] |= 1 << i;
                    buf.push(byte);
                }
            }
            for i in 0..3 {
                let byte = (n >> (8 * i)) as u8;
                if byte != 0 {
                    buf[0] |= 0x10 << i;
                    buf.push(byte);
                }
            }
            self.put(&buf)?;
            at += n;
            len -= n;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<Option<u64>> {
        self.flush_literals()?;
        self.flush_copy()?;
        self.out.flush()?;
        Ok((!self.over).then_some(self.written))
    }
}

/// Where a delta's copies come from.
pub enum BaseSource {
    /// The base read forward: every copy must start at or after the previous one's end.
    Forward(Box<dyn Read>),
    /// The base in a file, read where each copy says (for a delta whose copies go back).
    File(File),
}

/// A delta applied as it is read: the target's bytes, in order.
pub struct Applied {
    delta: Box<dyn Read>,
    base: BaseSource,
    /// How far the forward base has been read.
    base_pos: u64,
    base_len: u64,
    target_len: u64,
    produced: u64,
    op: Op,
}

enum Op {
    Idle,
    Copy { at: u64, left: u64 },
    Insert { left: usize },
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("bad delta: {why}"))
}

impl Applied {
    /// Reads the delta's header; `base_len` is the base's actual size, which the delta
    /// must name.
    pub fn new(mut delta: Box<dyn Read>, base: BaseSource, base_len: u64) -> io::Result<Applied> {
        let declared = read_varint(&mut delta)?;
        if declared != base_len {
            return Err(invalid(&format!(
                "it is against a base of {declared} bytes, the base has {base_len}"
            )));
        }
        let target_len = read_varint(&mut delta)?;
        Ok(Applied {
            delta,
            base,
            base_pos: 0,
            base_len,
            target_len,
            produced: 0,
            op: Op::Idle,
        })
    }

    /// The size the delta declares for its result.
    pub fn target_len(&self) -> u64 {
        self.target_len
    }

    fn next_op(&mut self) -> io::Result<bool> {
        let mut byte = [0u8; 1];
        if read_some(&mut self.delta, &mut byte)? == 0 {
            return if self.produced == self.target_len {
                Ok(false)
            } else {
                Err(invalid("it ends before its result is complete"))
            };
        }
        let op = byte[0];
        if op & 0x80 != 0 {
            let (at, size) = read_copy(op, &mut self.delta)?;
            if at + size > self.base_len {
                return Err(invalid("a copy reaches past its base"));
            }
            self.op = Op::Copy { at, left: size };
        } else if op != 0 {
            self.op = Op::Insert {
                left: usize::from(op),
            };
        } else {
            return Err(invalid("it holds the reserved instruction 0"));
        }
        Ok(true)
    }

    fn copy_into(&mut self, at: u64, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.base {
            BaseSource::File(file) => file.read_at(buf, at),
            BaseSource::Forward(r) => {
                if at < self.base_pos {
                    return Err(invalid("a copy goes back in its base"));
                }
                let gap = at - self.base_pos;
                if gap > 0 {
                    let skipped = io::copy(&mut r.take(gap), &mut io::sink())?;
                    self.base_pos += skipped;
                    if skipped != gap {
                        return Err(ErrorKind::UnexpectedEof.into());
                    }
                }
                let n = read_some(r, buf)?;
                self.base_pos += n as u64;
                Ok(n)
            }
        }
    }
}

impl Read for Applied {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = match self.op {
                Op::Idle => {
                    if !self.next_op()? {
                        return Ok(0);
                    }
                    continue;
                }
                Op::Copy { at, left } => {
                    let want = (left.min(buf.len() as u64)) as usize;
                    let n = self.copy_into(at, &mut buf[..want])?;
                    if n == 0 {
                        return Err(ErrorKind::UnexpectedEof.into());
                    }
                    self.op = if left == n as u64 {
                        Op::Idle
                    } else {
                        Op::Copy {
                            at: at + n as u64,
                            left: left - n as u64,
                        }
                    };
                    n
                }
                Op::Insert { left } => {
                    let want = left.min(buf.len());
                    let n = read_some(&mut self.delta, &mut buf[..want])?;
                    if n == 0 {
                        return Err(ErrorKind::UnexpectedEof.into());
                    }
                    self.op = if left == n {
                        Op::Idle
                    } else {
                        Op::Insert { left: left - n }
                    };
                    n
                }
            };
            self.produced += n as u64;
            if self.produced > self.target_len {
                return Err(invalid("its result is longer than it declares"));
            }
            return Ok(n);
        }
    }
}

/// Whether every copy of `delta` starts at or after the end of the previous one, so that
/// [`BaseSource::Forward`] can serve it.
pub fn copies_forward(delta: &mut dyn Read) -> io::Result<bool> {
    let mut delta = BufReader::with_capacity(64 << 10, delta);
    read_varint(&mut delta)?;
    read_varint(&mut delta)?;
    let mut end = 0u64;
    let mut byte = [0u8; 1];
    loop {
        if read_some(&mut delta, &mut byte)? == 0 {
            return Ok(true);
        }
        let op = byte[0];
        if op & 0x80 == 0 {
            if op == 0 {
                return Err(invalid("it holds the reserved instruction 0"));
            }
            let n = u64::from(op);
            if io::copy(&mut (&mut delta).take(n), &mut io::sink())? != n {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            continue;
        }
        let (at, size) = read_copy(op, &mut delta)?;
        if at < end {
            return Ok(false);
        }
        end = at + size;
    }
}

fn read_some(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn read_varint(r: &mut (impl Read + ?Sized)) -> io::Result<u64> {
    let mut n = 0u64;
    let mut shift = 0;
    let mut byte = [0u8; 1];
    loop {
        r.read_exact(&mut byte)?;
        n |= u64::from(byte[0] & 0x7f)
            .checked_shl(shift)
            .ok_or_else(|| invalid("a size overflows"))?;
        if byte[0] & 0x80 == 0 {
            return Ok(n);
        }
        shift += 7;
        if shift > 63 {
            return Err(invalid("a size overflows"));
        }
    }
}

/// Reads the offset and size of a copy instruction whose opcode is `op` (its bit 7 set):
/// the bytes its low seven bits announce, little-endian; a size of 0 means 0x10000.
fn read_copy(op: u8, delta: &mut impl Read) -> io::Result<(u64, u64)> {
    let mut byte = [0u8; 1];
    let mut at = 0u64;
    let mut size = 0u64;
    for i in 0..7 {
        if op & (1 << i) != 0 {
            delta.read_exact(&mut byte)?;
            if i < 4 {
                at |= u64::from(byte[0]) << (8 * i);
            } else {
                size |= u64::from(byte[0]) << (8 * (i - 4));
            }
        }
    }
    Ok((at, if size == 0 { 0x10000 } else { size }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::testing::noise;

    /// Encodes with no size limit, applies streamed and through the in-memory decoder,
    /// and returns the delta's size.
    fn round_trip(base: &[u8], target: &[u8]) -> usize {
        let mut delta = Vec::new();
        let mut opens = 0;
        let owned = target.to_vec();
        let size = encode(
            &mut &base[..],
            base.len() as u64,
            &mut || {
                opens += 1;
                Ok(Box::new(io::Cursor::new(owned.clone())))
            },
            target.len() as u64,
            &mut delta,
            u64::MAX,
        )
        .unwrap()
        .expect("no size limit");
        assert!(opens <= 2);
        assert_eq!(size, delta.len() as u64);
        assert!(copies_forward(&mut &delta[..]).unwrap());
        assert_eq!(
            super::super::delta::apply(base, &delta).as_deref(),
            Some(target)
        );
        let mut applied = Applied::new(
            Box::new(io::Cursor::new(delta.clone())),
            BaseSource::Forward(Box::new(io::Cursor::new(base.to_vec()))),
            base.len() as u64,
        )
        .unwrap();
        assert_eq!(applied.target_len(), target.len() as u64);
        let mut out = Vec::new();
        applied.read_to_end(&mut out).unwrap();
        assert_eq!(out, target);
        delta.len()
    }

    #[test]
    fn an_older_version_that_is_a_prefix_is_a_few_copies() {
        let newer = noise(1, 3 * (MAX_COPY as usize) + 12_345);
        assert!(round_trip(&newer, &newer[..newer.len() - 7_000]) < 40);
        assert!(round_trip(&newer, &newer) < 40);
        assert!(round_trip(&newer, &[]) < 10);
    }

    #[test]
    fn edits_insertions_and_deletions_cost_about_a_block_each() {
        let base = noise(7, 2_000_000);
        let mut target = base.clone();
        target[500_000..500_050].copy_from_slice(&noise(9, 50));
        target.splice(1_000_000..1_000_000, noise(11, 1000));
        target.drain(1_500_000..1_502_000);
        let n = round_trip(&base, &target);
        assert!(n < 4 * (MIN_BLOCK + MIN_BLOCK / 64) + 1200, "{n}");
        // An insertion at the very start leaves no common prefix.
        let mut shifted = noise(3, 10).clone();
        shifted.extend_from_slice(&base);
        assert!(round_trip(&base, &shifted) < 200);
    }

    #[test]
    fn unrelated_and_empty_inputs_round_trip_and_respect_the_limit() {
        for (a, b) in [
            (0usize, 0usize),
            (0, 10),
            (10, 0),
            (4095, 4097),
            (9000, 20_000),
        ] {
            round_trip(&noise(1, a), &noise(2, b));
            round_trip(&noise(3, a), &noise(3, b));
        }
        let base = noise(1, 100_000);
        let target = noise(2, 100_000);
        let mut sink = Vec::new();
        let got = encode(
            &mut &base[..],
            base.len() as u64,
            &mut || Ok(Box::new(io::Cursor::new(target.clone()))),
            target.len() as u64,
            &mut sink,
            50_000,
        )
        .unwrap();
        assert!(got.is_none());
        assert!(sink.len() <= 50_000);
    }

    #[test]
    fn repeated_blocks_still_copy_forward_only() {
        let block = noise(5, MIN_BLOCK);
        let base: Vec<u8> = (0..20).flat_map(|_| block.clone()).collect();
        let mut target = noise(6, 100);
        target.extend_from_slice(&base[..MIN_BLOCK * 5]);
        target.extend_from_slice(&base[..MIN_BLOCK * 3]);
        round_trip(&base, &target);
    }

    /// Like a log: a few chunks repeated in a shuffled order, each after its own header
    /// line, so that bytes after an edit also match far copies of themselves.
    #[test]
    fn an_edit_in_repeating_content_resyncs_near_not_on_a_far_copy() {
        let pool: Vec<Vec<u8>> = (0..4).map(|i| noise(100 + i, 40_000)).collect();
        let order = noise(99, 200);
        let mut base = Vec::new();
        for (n, pick) in order.iter().enumerate() {
            base.extend_from_slice(format!("# chunk {n}\n").as_bytes());
            base.extend_from_slice(&pool[usize::from(*pick) % 4]);
        }
        // The target is the base with bytes overwritten and bytes removed in the middle.
        let mut target = base.clone();
        target[3_000_000..3_000_100].fill(b'X');
        target.drain(5_000_000..5_003_000);
        let n = round_trip(&base, &target);
        assert!(n < 8 * MIN_BLOCK, "{n}");
        // And the other way: bytes inserted.
        let n = round_trip(&target, &base);
        assert!(n < 8 * MIN_BLOCK, "{n}");
    }

    #[test]
    fn a_backward_copy_needs_a_file_base_and_reads_from_it() {
        let base = noise(8, 10_000);
        // Copy 5000..6000, then 0..100: git may write this, our encoder never does.
        let delta = vec![
            0x80 | 0x01 | 0x02 | 0x10 | 0x20,
            0x88,
            0x13,
            0xe8,
            0x03,
            0x90,
            100,
        ];
        let mut full = Vec::new();
        full.extend_from_slice(&[0x90, 0x4e, 0xcc, 0x08]); // sizes 10000, 1100
        full.extend_from_slice(&delta);
        assert!(!copies_forward(&mut &full[..]).unwrap());
        let forward = Applied::new(
            Box::new(io::Cursor::new(full.clone())),
            BaseSource::Forward(Box::new(io::Cursor::new(base.clone()))),
            10_000,
        )
        .unwrap();
        let mut sink = Vec::new();
        let mut forward = forward;
        assert!(forward.read_to_end(&mut sink).is_err());
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&base).unwrap();
        let mut out = Vec::new();
        Applied::new(
            Box::new(io::Cursor::new(full)),
            BaseSource::File(file),
            10_000,
        )
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
        let mut expected = base[5000..6000].to_vec();
        expected.extend_from_slice(&base[..100]);
        assert_eq!(out, expected);
    }
}
