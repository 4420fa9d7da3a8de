//! CSV files read as tables: what makes a file a table, and what changed between two.
//!
//! A file is a table when its name ends in `.csv` (comma) or `.tsv` (tab), it parses as
//! RFC 4180 (quoted fields may hold the delimiter, quotes and newlines; a UTF-8 byte order
//! mark is skipped), its first record is a header of at least two names, each non-empty,
//! UTF-8 and unique, and every record has as many fields as the header. Anything else
//! (prose, JSON, a log saved as `.csv`, ragged rows) is not a table, and `diff` shows its
//! line counts only. `docs/read-side.md` states the rules.

use std::collections::HashMap;

use csv::{ByteRecord, Reader, ReaderBuilder};
use serde::Serialize;

/// What changed between two versions of a CSV table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsvSummary {
    /// Data rows (the header not counted) in A.
    pub rows_a: u64,
    /// Data rows in B.
    pub rows_b: u64,
    /// Rows of B that A does not have, compared on the columns both have.
    pub rows_added: u64,
    /// Rows of A that B does not have, compared on the columns both have.
    pub rows_removed: u64,
    /// Columns of B that A does not have, in B's order.
    pub columns_added: Vec<String>,
    /// Columns of A that B does not have, in A's order.
    pub columns_removed: Vec<String>,
}

/// The delimiter of a table file by its name: `,` for `.csv`, tab for `.tsv`; `None` for
/// any other name.
pub fn delimiter_of(path: &str) -> Option<u8> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Some(b',')
    } else if lower.ends_with(".tsv") {
        Some(b'\t')
    } else {
        None
    }
}

/// A CSV reader over `bytes` that checks the header; `None` when the header does not make
/// a table (fewer than two names, an empty, non-UTF-8 or repeated one, no record at all).
pub(crate) fn open(bytes: &[u8], delimiter: u8) -> Option<(Vec<String>, Reader<&[u8]>)> {
    let mut reader = reader(bytes, delimiter, true);
    let header = reader.headers().ok()?.clone();
    let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    if names.len() < 2 || names.iter().any(String::is_empty) {
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    if !names.iter().all(|n| seen.insert(n.as_str())) {
        return None;
    }
    Some((names, reader))
}

/// An RFC 4180 reader over `bytes` past a UTF-8 byte order mark: with `table`, the first
/// record is the header and every record must have as many fields; without, records are
/// read as they come, of any length.
fn reader(bytes: &[u8], delimiter: u8, table: bool) -> Reader<&[u8]> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(table)
        .flexible(!table)
        .from_reader(bytes)
}

/// Reads every record of `reader`, calling `each` with it; `None` when a record does not
/// parse or has another number of fields than the header.
pub(crate) fn each_record(
    reader: &mut Reader<&[u8]>,
    mut each: impl FnMut(&ByteRecord),
) -> Option<u64> {
    let mut record = ByteRecord::new();
    let mut n = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {
                n += 1;
                each(&record);
            }
            Ok(false) => return Some(n),
            Err(_) => return None,
        }
    }
}

/// Reads a whole table: its header names and every record's cells as text (invalid UTF-8
/// replaced); `None` when it is not a table.
pub(crate) fn read_all(bytes: &[u8], delimiter: u8) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let (names, mut reader) = open(bytes, delimiter)?;
    let mut rows = Vec::new();
    each_record(&mut reader, |record| {
        rows.push(
            record
                .iter()
                .map(|cell| String::from_utf8_lossy(cell).into_owned())
                .collect(),
        );
    })?;
    Some((names, rows))
}

/// The first rows of a CSV file as a page shows them, whether or not it is a table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preview {
    /// The first record's cells.
    pub header: Vec<String>,
    /// The records after it, each with as many cells as it had.
    pub rows: Vec<Vec<String>>,
    /// Whether more records follow the rows read.
    pub truncated: bool,
}

/// Reads the header and at most `max_rows` records of CSV bytes (RFC 4180, records of any
/// length, blank lines skipped); reading stops at the first record that does not parse.
pub fn preview(bytes: &[u8], delimiter: u8, max_rows: usize) -> Preview {
    let mut reader = reader(bytes, delimiter, false);
    let mut records = reader.byte_records().map_while(|r| r.ok()).map(|r| {
        r.iter()
            .map(|cell| String::from_utf8_lossy(cell).into_owned())
            .collect::<Vec<String>>()
    });
    let header = records.next().unwrap_or_default();
    let rows: Vec<Vec<String>> = records.by_ref().take(max_rows).collect();
    Preview {
        header,
        rows,
        truncated: records.next().is_some(),
    }
}

/// Compares two versions of a table file; `None` unless both are tables.
///
/// Rows are compared as multisets on the columns both versions have (by name): a row
/// whose shared values appear in both counts as neither added nor removed, whatever its
/// position; a column added or removed alone changes no row. Work and memory are linear
/// in the two files' sizes, which the caller bounds.
pub fn summarize(a: &[u8], b: &[u8], delimiter: u8) -> Option<CsvSummary> {
    let (names_a, mut reader_a) = open(a, delimiter)?;
    let (names_b, mut reader_b) = open(b, delimiter)?;
    let shared: Vec<(usize, usize)> = names_a
        .iter()
        .enumerate()
        .filter_map(|(i, n)| names_b.iter().position(|m| m == n).map(|j| (i, j)))
        .collect();
    let key = |record: &ByteRecord, side: fn(&(usize, usize)) -> usize| {
        let mut key = Vec::new();
        for column in &shared {
            let field = record.get(side(column)).unwrap_or_default();
            key.extend_from_slice(&(field.len() as u64).to_le_bytes());
            key.extend_from_slice(field);
        }
        key
    };
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    let rows_a = each_record(&mut reader_a, |r| {
        *counts.entry(key(r, |c| c.0)).or_default() += 1;
    })?;
    let mut rows_added = 0u64;
    let rows_b = each_record(&mut reader_b, |r| match counts.get_mut(&key(r, |c| c.1)) {
        Some(n) if *n > 0 => *n -= 1,
        _ => rows_added += 1,
    })?;
    Some(CsvSummary {
        rows_a,
        rows_b,
        rows_added,
        rows_removed: counts.values().sum(),
        columns_added: names_b
            .iter()
            .filter(|n| !names_a.contains(n))
            .cloned()
            .collect(),
        columns_removed: names_a
            .iter()
            .filter(|n| !names_b.contains(n))
            .cloned()
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_reads_quotes_line_ends_and_stops_at_max_rows() {
        let t = preview(b"a,b\r\n1,\"x, \"\"y\"\"\"\n\n2,3", b',', 10);
        assert_eq!(t.header, ["a", "b"]);
        assert_eq!(t.rows, [vec!["1", "x, \"y\""], vec!["2", "3"]]);
        assert!(!t.truncated);
        let t = preview(b"a\n1\n2\n3\n", b',', 2);
        assert_eq!(t.rows.len(), 2);
        assert!(t.truncated);
        let t = preview(b"a,b\n1\n2,3,4\n", b',', 10);
        assert_eq!(t.rows, [vec!["1"], vec!["2", "3", "4"]]);
    }

    #[test]
    fn rows_and_columns_added_and_removed() {
        let a = b"time,equity\n1,100\n2,101\n3,99\n";
        let b = b"time,equity,fee\n1,100,0\n3,99,1\n4,102,0\n5,103,0\n";
        let s = summarize(a, b, b',').unwrap();
        assert_eq!((s.rows_a, s.rows_b), (3, 4));
        assert_eq!((s.rows_added, s.rows_removed), (2, 1));
        assert_eq!(s.columns_added, ["fee"]);
        assert!(s.columns_removed.is_empty());
    }

    #[test]
    fn quoted_fields_hold_commas_quotes_and_newlines() {
        let a = "id,note\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n3,\"two\nlines\"\n";
        let b = "id,note\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n3,\"two\nlines!\"\n";
        let s = summarize(a.as_bytes(), b.as_bytes(), b',').unwrap();
        assert_eq!(
            (s.rows_a, s.rows_b, s.rows_added, s.rows_removed),
            (3, 3, 1, 1)
        );
    }

    #[test]
    fn files_that_are_not_tables_are_none() {
        let table = b"a,b\n1,2\n";
        for not in [
            &b""[..],
            b"just some prose\nwith lines\n",
            b"a,b\n1,2,3\n",
            b"{\"json\": 1}\n",
            b"a,a\n1,2\n",
            b"a,\n1,2\n",
            b"\xff\xfe,x\n1,2\n",
        ] {
            assert!(summarize(table, not, b',').is_none(), "{not:?}");
            assert!(summarize(not, table, b',').is_none(), "{not:?}");
        }
        assert!(summarize(b"\xef\xbb\xbfa,b\n", table, b',').is_some());
        assert_eq!(delimiter_of("x/Trades.CSV"), Some(b','));
        assert_eq!(delimiter_of("x.tsv"), Some(b'\t'));
        assert_eq!(delimiter_of("x.txt"), None);
    }
}
