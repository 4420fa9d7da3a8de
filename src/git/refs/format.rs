//! The one reader of the `packed-refs` format, and of loose ref files.
//!
//! `packed-refs` is an optional header line (`# pack-refs with: <traits>`), then one
//! `<hex> <name>` line per ref, each optionally followed by a `^<hex>` line naming what an
//! annotated tag finally points at. [`crate::git::refs::RefDb::with_prefix`] reads it by
//! binary search, the bulk writers read it whole under its lock; both take their lines
//! apart here.

use std::path::Path;

use std::str::FromStr;

use crate::git::ObjectId as Oid;

/// The first line of `packed-refs` when it says how the file is written.
pub const HEADER_PREFIX: &[u8] = b"# pack-refs with:";

/// The header git writes.
pub const DEFAULT_HEADER: &[u8] = b"# pack-refs with: peeled fully-peeled sorted ";

/// What a `packed-refs` header promises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traits {
    /// Refs are sorted by name.
    pub sorted: bool,
    /// Every annotated tag has its `^` line.
    pub fully_peeled: bool,
    /// Every annotated tag under `refs/tags/` has its `^` line.
    pub tags_peeled: bool,
}

impl Traits {
    /// Reads the traits of `line`, the first line of the file; a line that is not a header
    /// promises nothing.
    pub fn of(line: &[u8]) -> Traits {
        let Some(words) = line.strip_prefix(HEADER_PREFIX) else {
            return Traits::default();
        };
        let has = |name: &[u8]| words.split(|b| *b == b' ').any(|w| w == name);
        Traits {
            sorted: has(b"sorted"),
            fully_peeled: has(b"fully-peeled"),
            tags_peeled: has(b"peeled"),
        }
    }

    /// Whether a ref `name` without a `^` line is known not to be an annotated tag.
    pub fn peel_known(&self, name: &[u8]) -> bool {
        self.fully_peeled || (self.tags_peeled && name.starts_with(b"refs/tags/"))
    }
}

/// One line of `packed-refs`, without its newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// The header, or another comment.
    Comment,
    /// `<hex> <name>`; `hex_len` is where the space is.
    Ref {
        /// The id as text.
        hex: &'a [u8],
        /// The full ref name.
        name: &'a [u8],
    },
    /// `^<hex>`: what the ref above peels to.
    Peeled(&'a [u8]),
    /// Anything else (a blank line, a damaged entry).
    Other,
}

/// Takes one line apart.
pub fn parse(line: &[u8]) -> Line<'_> {
    match line.first() {
        Some(b'#') => Line::Comment,
        Some(b'^') => Line::Peeled(&line[1..]),
        _ => match line.iter().position(|b| *b == b' ') {
            Some(space) if space >= 40 && space + 1 < line.len() => Line::Ref {
                hex: &line[..space],
                name: &line[space + 1..],
            },
            _ => Line::Other,
        },
    }
}

/// The id a hex field names.
pub fn oid(hex: &[u8]) -> Option<Oid> {
    Oid::from_str(std::str::from_utf8(hex).ok()?.trim()).ok()
}

/// The id a loose ref file holds; `None` for a missing, symbolic or damaged one.
pub fn read_loose(path: &Path) -> Option<Oid> {
    let text = std::fs::read(path).ok()?;
    oid(text.strip_suffix(b"\n").unwrap_or(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";

    #[test]
    fn lines_and_traits_are_read_as_git_writes_them() {
        let t = Traits::of(b"# pack-refs with: peeled fully-peeled sorted ");
        assert!(t.sorted && t.fully_peeled && t.tags_peeled);
        let t = Traits::of(b"# pack-refs with: peeled ");
        assert!(!t.sorted && !t.fully_peeled && t.tags_peeled);
        assert!(t.peel_known(b"refs/tags/a") && !t.peel_known(b"refs/heads/a"));
        assert_eq!(
            Traits::of(format!("{A} refs/heads/a").as_bytes()),
            Traits::default()
        );
        let line = format!("{A} refs/heads/a");
        assert_eq!(
            parse(line.as_bytes()),
            Line::Ref {
                hex: A.as_bytes(),
                name: b"refs/heads/a"
            }
        );
        assert_eq!(
            parse(format!("^{A}").as_bytes()),
            Line::Peeled(A.as_bytes())
        );
        assert_eq!(parse(b"# a comment"), Line::Comment);
        for bad in [
            &b""[..],
            b"not a ref",
            format!("{A} ").as_bytes(),
            b"abc refs/x",
        ] {
            assert_eq!(
                parse(bad),
                Line::Other,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            oid(A.as_bytes()).map(|o| o.to_string()),
            Some(A.to_string())
        );
        assert_eq!(oid(b"zz"), None);
    }
}
