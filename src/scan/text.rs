//! Text helpers: mapping byte offsets to lines and columns.

use std::cell::Cell;

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

    /// Returns the offset of the first byte of the line holding byte `offset`.
    pub fn line_start(&self, offset: usize) -> usize {
        self.starts[self.line_number(offset) - 1]
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
