//! Text helpers: binary detection and mapping byte offsets to lines and columns.

use std::cell::Cell;

/// Bytes inspected for a NUL byte and for the share of non-text bytes.
const SNIFF: usize = 8 * 1024;

/// Returns whether `data` is binary: a NUL byte in the first 8 KiB, or invalid UTF-8 in
/// the first 8 KiB where non-text bytes (invalid sequences and control characters) make up
/// over 30% of them.
pub(crate) fn is_binary(data: &[u8]) -> bool {
    let head = &data[..data.len().min(SNIFF)];
    if head.contains(&0) {
        return true;
    }
    match std::str::from_utf8(head) {
        Ok(_) => return false,
        // A character cut by the end of the sniffed bytes is not a sign of binary data.
        Err(err) if err.error_len().is_none() => return false,
        Err(_) => {}
    }
    let mut odd = 0usize;
    for chunk in head.utf8_chunks() {
        odd += chunk.invalid().len();
        odd += chunk
            .valid()
            .bytes()
            .filter(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
            .count();
    }
    odd * 10 > head.len() * 3
}

/// Byte offsets of line starts, built once per blob that has findings.
///
/// It remembers the last position it counted, so positions asked in increasing order on
/// one long line cost the line once, not once each.
pub(crate) struct LineIndex<'a> {
    data: &'a [u8],
    starts: Vec<usize>,
    /// The last offset counted: its line, its offset and its column.
    last: Cell<(usize, usize, usize)>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the line starts of `data`.
    pub fn new(data: &'a [u8]) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(
            data.iter()
                .enumerate()
                .filter(|&(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            data,
            starts,
            last: Cell::new((1, 0, 1)),
        }
    }

    /// Returns the 1-based line and 1-based character column of byte `offset`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line_number(offset);
        let (last_line, last_offset, last_column) = self.last.get();
        let (from, column) = if last_line == line && last_offset <= offset {
            (last_offset, last_column)
        } else {
            (self.starts[line - 1], 1)
        };
        let column = column
            + self.data[from..offset]
                .iter()
                .filter(|&&b| b & 0xC0 != 0x80)
                .count();
        self.last.set((line, offset, column));
        (line, column)
    }

    /// Returns the 1-based number of the line holding byte `offset`.
    pub fn line_number(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// Returns the text of the line holding byte `offset`, without its line break.
    pub fn line_of(&self, offset: usize) -> &'a [u8] {
        let line = self.line_number(offset);
        let start = self.starts[line - 1];
        let end = self
            .starts
            .get(line)
            .map_or(self.data.len(), |&next| next - 1);
        let text = &self.data[start..end];
        text.strip_suffix(b"\r").unwrap_or(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_byte_means_binary() {
        assert!(is_binary(b"abc\0def"));
        assert!(!is_binary(b"plain text\n"));
    }

    #[test]
    fn latin1_text_is_not_binary_but_noise_is() {
        assert!(!is_binary(
            b"msgstr \"N\xe4yt\xe4 asiakirjamallikansio.\"\n"
        ));
        let noise: Vec<u8> = (0..4096u32).map(|i| (i * 37 % 251) as u8 | 0x80).collect();
        assert!(is_binary(&noise));
    }

    #[test]
    fn positions_count_lines_and_chars() {
        let data = "ab\nçd key\n".as_bytes();
        let index = LineIndex::new(data);
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(3), (2, 1));
        let key = data.windows(3).position(|w| w == b"key").unwrap_or(0);
        assert_eq!(index.position(key), (2, 4));
        assert_eq!(index.line_of(key), "çd key".as_bytes());
        assert_eq!(
            index.position(1),
            (1, 2),
            "an earlier offset after a later one"
        );
        assert_eq!(index.position(key + 2), (2, 6));
        assert_eq!(index.position(key), (2, 4));
    }
}
