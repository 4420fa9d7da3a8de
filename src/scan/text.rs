//! Text helpers: mapping byte offsets to lines and columns.

/// Byte offsets of line starts, built once per blob that has findings.
pub(crate) struct LineIndex<'a> {
    data: &'a [u8],
    starts: Vec<usize>,
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
        LineIndex { data, starts }
    }

    /// Returns the 1-based line and 1-based character column of byte `offset`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let column = 1 + self.data[start..offset]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        (line, column)
    }

    /// Returns the text of the line holding byte `offset`, without its line break.
    pub fn line_of(&self, offset: usize) -> &'a [u8] {
        let line = self.starts.partition_point(|&s| s <= offset);
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
    }
}
