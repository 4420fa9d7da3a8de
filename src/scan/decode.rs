//! Wide text encodings: UTF-16 and UTF-32, either byte order, with or without a byte order
//! mark (what PowerShell's `>` and many Windows tools write).
//!
//! A blob in a wide encoding is scanned twice: as its bytes (as every blob is, so a BOM
//! cannot hide plain ASCII that follows it) and as the UTF-8 text it decodes to, whose lines
//! and columns are the ones a reader of the decoded text sees. The encoding is decided once
//! per blob from its first [`SAMPLE`] bytes, by the same rule for whole blobs, streamed
//! blobs, staged blobs and pushed blobs:
//!
//! - a byte order mark: `FF FE 00 00` UTF-32LE, `00 00 FE FF` UTF-32BE, `FF FE` UTF-16LE,
//!   `FE FF` UTF-16BE;
//! - without one, the pattern of NUL bytes: ASCII text in UTF-32LE has three NULs after
//!   every non-NUL byte, in UTF-16LE one; at least 40% of the 4-byte groups (UTF-32) or of
//!   the 2-byte units (UTF-16) must show the pattern of one encoding and at most a quarter
//!   as many that of the other byte order. Binary formats spread their NULs over both
//!   offsets; text with no ASCII at all holds no secret a rule can match.
//!
//! Decoding is lossy: an invalid unit or a lone surrogate becomes U+FFFD, which ends a
//! secret as any byte that is not printable ASCII does.

/// Bytes looked at to decide a blob's encoding.
pub(crate) const SAMPLE: usize = 64 << 10;

/// A wide encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wide {
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

impl Wide {
    fn unit(self) -> usize {
        match self {
            Wide::Utf16Le | Wide::Utf16Be => 2,
            Wide::Utf32Le | Wide::Utf32Be => 4,
        }
    }
}

/// Returns the wide encoding of a blob that begins with `head` (its first [`SAMPLE`]
/// bytes, or all of it), or `None` for UTF-8, ASCII and binary blobs.
pub(crate) fn detect(head: &[u8]) -> Option<Wide> {
    let head = &head[..head.len().min(SAMPLE)];
    if head.starts_with(&[0xFF, 0xFE, 0, 0]) {
        return Some(Wide::Utf32Le);
    }
    if head.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Some(Wide::Utf32Be);
    }
    if head.starts_with(&[0xFF, 0xFE]) {
        return Some(Wide::Utf16Le);
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return Some(Wide::Utf16Be);
    }
    let (mut le32, mut be32) = (0usize, 0usize);
    for g in head.chunks_exact(4) {
        le32 += usize::from(g[0] != 0 && g[1] == 0 && g[2] == 0 && g[3] == 0);
        be32 += usize::from(g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] != 0);
    }
    let groups = head.len() / 4;
    let dominant = |this: usize, other: usize, total: usize| {
        this >= 2 && this * 10 >= total * 4 && other * 4 <= this
    };
    if dominant(le32, be32, groups) {
        return Some(Wide::Utf32Le);
    }
    if dominant(be32, le32, groups) {
        return Some(Wide::Utf32Be);
    }
    let (mut le16, mut be16) = (0usize, 0usize);
    for u in head.chunks_exact(2) {
        le16 += usize::from(u[0] != 0 && u[1] == 0);
        be16 += usize::from(u[0] == 0 && u[1] != 0);
    }
    let units = head.len() / 2;
    if dominant(le16, be16, units) {
        return Some(Wide::Utf16Le);
    }
    if dominant(be16, le16, units) {
        return Some(Wide::Utf16Be);
    }
    None
}

/// An incremental decoder from a wide encoding to UTF-8: bytes may arrive in pieces of
/// any size, cut anywhere, even inside a unit or a surrogate pair.
#[derive(Debug)]
pub(crate) struct Decoder {
    wide: Wide,
    /// Bytes of an incomplete unit.
    carry: Vec<u8>,
    /// A high surrogate waiting for its low half.
    high: Option<u16>,
    /// Whether the first character (a byte order mark to drop) is still to come.
    first: bool,
}

const REPLACEMENT: char = '\u{FFFD}';

impl Decoder {
    pub fn new(wide: Wide) -> Decoder {
        Decoder {
            wide,
            carry: Vec::with_capacity(4),
            high: None,
            first: true,
        }
    }

    /// Decodes the next bytes of the blob, appending UTF-8 to `out`.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        let unit = self.wide.unit();
        out.reserve(data.len() / unit + 4);
        if !self.carry.is_empty() {
            let take = (unit - self.carry.len()).min(data.len());
            self.carry.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.carry.len() < unit {
                return;
            }
            let mut bytes = [0u8; 4];
            bytes[..unit].copy_from_slice(&self.carry[..unit]);
            self.carry.clear();
            self.unit(&bytes[..unit], out);
        }
        let mut units = data.chunks_exact(unit);
        for bytes in &mut units {
            self.unit(bytes, out);
        }
        self.carry.extend_from_slice(units.remainder());
    }

    /// Ends the blob: an incomplete unit or a pending high surrogate becomes U+FFFD.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.high.take().is_some() {
            push(out, REPLACEMENT);
        }
        if !self.carry.is_empty() {
            self.carry.clear();
            push(out, REPLACEMENT);
        }
    }

    fn unit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let ch = match self.wide {
            Wide::Utf16Le | Wide::Utf16Be => {
                let pair = [bytes[0], bytes[1]];
                let u = if self.wide == Wide::Utf16Le {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                };
                match (self.high.take(), u) {
                    (None, 0xD800..=0xDBFF) => {
                        self.high = Some(u);
                        return;
                    }
                    (Some(high), 0xDC00..=0xDFFF) => {
                        let code =
                            0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(u) - 0xDC00);
                        char::from_u32(code).unwrap_or(REPLACEMENT)
                    }
                    (Some(_), 0xD800..=0xDBFF) => {
                        push(out, REPLACEMENT);
                        self.high = Some(u);
                        return;
                    }
                    (Some(_), _) => {
                        push(out, REPLACEMENT);
                        char::from_u32(u32::from(u)).unwrap_or(REPLACEMENT)
                    }
                    (None, _) => char::from_u32(u32::from(u)).unwrap_or(REPLACEMENT),
                }
            }
            Wide::Utf32Le | Wide::Utf32Be => {
                let quad = [bytes[0], bytes[1], bytes[2], bytes[3]];
                let code = if self.wide == Wide::Utf32Le {
                    u32::from_le_bytes(quad)
                } else {
                    u32::from_be_bytes(quad)
                };
                char::from_u32(code).unwrap_or(REPLACEMENT)
            }
        };
        let first = std::mem::replace(&mut self.first, false);
        if !(first && ch == '\u{FEFF}') {
            push(out, ch);
        }
    }
}

fn push(out: &mut Vec<u8>, ch: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
}

/// Returns the UTF-8 text of a whole blob in a wide encoding.
pub(crate) fn decode(wide: Wide, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut decoder = Decoder::new(wide);
    decoder.feed(data, &mut out);
    decoder.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str, le: bool) -> Vec<u8> {
        text.encode_utf16()
            .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
            .collect()
    }

    #[test]
    fn detects_boms_and_nul_patterns_but_not_utf8_or_binary() {
        assert_eq!(
            detect(&[0xFF, 0xFE, 0, 0, b'a', 0, 0, 0]),
            Some(Wide::Utf32Le)
        );
        assert_eq!(detect(&[0xFF, 0xFE, b'a', 0]), Some(Wide::Utf16Le));
        assert_eq!(detect(&[0xFE, 0xFF, 0, b'a']), Some(Wide::Utf16Be));
        assert_eq!(detect(&[0, 0, 0xFE, 0xFF]), Some(Wide::Utf32Be));
        assert_eq!(detect(&utf16("token = abc", true)), Some(Wide::Utf16Le));
        assert_eq!(detect(&utf16("token = abc", false)), Some(Wide::Utf16Be));
        assert_eq!(detect(b"plain ascii text\n"), None);
        assert_eq!(detect("é ü 中文".as_bytes()), None);
        assert_eq!(detect(b"\0\0\0\0\0\0\0\0"), None);
        assert_eq!(detect(b""), None);
        let elf_like: Vec<u8> = (0u32..4096)
            .flat_map(|i| i.wrapping_mul(2654435761).to_le_bytes())
            .collect();
        assert_eq!(detect(&elf_like), None);
    }

    #[test]
    fn decoding_in_pieces_equals_decoding_whole() {
        let text = "a\u{1F600}b é\r\n\u{FEFF}x";
        for (wide, data) in [
            (Wide::Utf16Le, utf16(text, true)),
            (Wide::Utf16Be, utf16(text, false)),
        ] {
            let whole = decode(wide, &data);
            assert_eq!(String::from_utf8_lossy(&whole), text);
            for piece in 1..5 {
                let mut out = Vec::new();
                let mut d = Decoder::new(wide);
                for part in data.chunks(piece) {
                    d.feed(part, &mut out);
                }
                d.finish(&mut out);
                assert_eq!(out, whole, "{wide:?} pieces of {piece}");
            }
        }
        let lone = [0x00u8, 0xD8, b'a', 0];
        assert_eq!(decode(Wide::Utf16Le, &lone), "\u{FFFD}a".as_bytes());
        assert_eq!(
            decode(Wide::Utf16Le, &[b'a', 0, b'b']),
            "a\u{FFFD}".as_bytes()
        );
        assert_eq!(
            decode(Wide::Utf32Be, &[0, 0x11, 0, 0]),
            "\u{FFFD}".as_bytes()
        );
    }
}
