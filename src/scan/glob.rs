//! Path globs for allowlists, matched by globset: `*` matches within one path segment, `?`
//! one character of a segment, `**/` any number of whole segments, a `**` not followed by
//! `/` the rest of the path; `\` makes the next character literal, and every other
//! character (brackets and braces included) matches itself. A glob without `/` matches the
//! whole path or its file name.
//!
//! globset matches bytes, so its `?` would take one byte of a multi-byte character, and it
//! gives brackets, braces and backslashes meanings of its own. Both the glob and the path
//! are therefore written in one alphabet before globset sees them: `/` stays, and every
//! other character becomes one unit of four ASCII letters and digits (a lead from [`LEAD`]
//! and three from [`TAIL`], disjoint, none of them glob syntax). `?` becomes four `?`, and a
//! unit can only match where a character starts, so globset's matches are exactly those of
//! the dialect above.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The first character of a unit: three bits of the code point.
const LEAD: &[u8; 8] = b"ABCDEFGH";
/// The other three characters of a unit: six bits each.
const TAIL: &[u8; 64] = b"IJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-=_@%~^.;";

/// One element of a glob as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**/`: zero or more whole segments (each up to and including a `/`).
    Segments,
    /// A `**` not followed by `/`: the rest of the path, whatever the glob says after it.
    Rest,
}

/// The `allow_paths` globs, compiled: any match skips the path.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathGlobs {
    /// Matched against the whole path.
    paths: GlobSet,
    /// Globs without `/`, matched against the file name too.
    names: GlobSet,
}

impl PathGlobs {
    /// Compiles `globs`; a glob fails when it is empty (once a leading `./` is gone), and
    /// the error names it.
    pub fn new(globs: &[String]) -> Result<PathGlobs, (String, &'static str)> {
        let mut paths = GlobSetBuilder::new();
        let mut names = GlobSetBuilder::new();
        for written in globs {
            let fail = |reason: &'static str| (written.clone(), reason);
            let glob = written.strip_prefix("./").unwrap_or(written);
            if glob.is_empty() {
                return Err(fail("empty glob"));
            }
            let compiled = GlobBuilder::new(&translate(&tokens(glob)))
                .literal_separator(true)
                .backslash_escape(false)
                .empty_alternates(true)
                .build()
                .map_err(|_| fail("the glob does not compile"))?;
            if !glob.contains('/') {
                names.add(compiled.clone());
            }
            paths.add(compiled);
        }
        let build = |set: GlobSetBuilder| {
            set.build()
                .map_err(|_| (globs.join(", "), "the globs do not compile together"))
        };
        Ok(PathGlobs {
            paths: build(paths)?,
            names: build(names)?,
        })
    }

    /// Returns whether `path` (with `/` separators, a leading `./` ignored) matches a glob.
    pub fn is_match(&self, path: &str) -> bool {
        if self.paths.is_empty() {
            return false;
        }
        let path = path.strip_prefix("./").unwrap_or(path);
        if self.paths.is_match(encode(path)) {
            return true;
        }
        !self.names.is_empty() && {
            let name = path.rsplit('/').next().unwrap_or(path);
            self.names.is_match(encode(name))
        }
    }
}

/// Splits a glob into tokens: `**` followed by `/` is [`Token::Segments`], any other `**`
/// is [`Token::Rest`], and `\` before a character makes it literal (a trailing `\` is
/// itself).
fn tokens(glob: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            '*' if chars.next_if_eq(&'*').is_some() => {
                if chars.next_if_eq(&'/').is_some() {
                    Token::Segments
                } else {
                    Token::Rest
                }
            }
            '*' => Token::Star,
            '?' => Token::One,
            '\\' => Token::Literal(chars.next().unwrap_or('\\')),
            c => Token::Literal(c),
        };
        tokens.push(token);
    }
    tokens
}

/// Writes `tokens` as one globset glob over encoded paths (see [`encode`]).
fn translate(tokens: &[Token]) -> String {
    let mut out = String::new();
    for token in tokens {
        match token {
            Token::Literal('/') => out.push('/'),
            Token::Literal(c) => push_unit(*c, &mut out),
            Token::One => out.push_str("????"),
            Token::Star => out.push('*'),
            // Nothing, or the rest of this segment and then any number of segments.
            Token::Segments => out.push_str("{,*/**/}"),
            // The rest of this segment, or of it and every segment after it.
            Token::Rest => {
                out.push_str("{*,*/**}");
                break;
            }
        }
    }
    out
}

/// Returns `path` with every character but `/` written as its unit.
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len() * 4);
    for c in path.chars() {
        match c {
            '/' => out.push('/'),
            c => push_unit(c, &mut out),
        }
    }
    out
}

/// Appends the four-character unit of `c`: 21 bits, three in the lead and six in each tail.
fn push_unit(c: char, out: &mut String) {
    let code = c as usize;
    out.push(char::from(LEAD[(code >> 18) & 7]));
    for shift in [12, 6, 0] {
        out.push(char::from(TAIL[(code >> shift) & 63]));
    }
}

#[cfg(test)]
mod tests {
    use super::{PathGlobs, LEAD, TAIL};

    fn is_match(glob: &str, path: &str) -> bool {
        PathGlobs::new(&[glob.to_string()])
            .map(|g| g.is_match(path))
            .unwrap_or(false)
    }

    #[test]
    fn the_alphabet_is_plain_and_leads_differ_from_tails() {
        for &b in LEAD.iter().chain(TAIL.iter()) {
            assert!(b.is_ascii_graphic() && !b"/\\*?[]{},!".contains(&b), "{b}");
        }
        assert!(LEAD.iter().all(|b| !TAIL.contains(b)));
        let mut tail = TAIL.to_vec();
        tail.sort_unstable();
        tail.dedup();
        assert_eq!(tail.len(), 64);
    }

    #[test]
    fn star_stays_within_a_segment() {
        assert!(is_match("docs/*.md", "docs/a.md"));
        assert!(!is_match("docs/*.md", "docs/sub/a.md"));
        assert!(is_match("*.lock", "deep/dir/Cargo.lock"));
    }

    #[test]
    fn double_star_crosses_segments() {
        assert!(is_match("fixtures/**", "fixtures/a/b/c.txt"));
        assert!(is_match("**/test_*.py", "test_a.py"));
        assert!(is_match("**/test_*.py", "a/b/test_a.py"));
        assert!(is_match("a/**/z.txt", "a/z.txt"));
        assert!(is_match("a/**/z.txt", "a/b/c/z.txt"));
        assert!(!is_match("a/**/z.txt", "b/z.txt"));
    }

    #[test]
    fn question_mark_and_escapes() {
        assert!(is_match("file?.txt", "file1.txt"));
        assert!(!is_match("file?.txt", "file10.txt"));
        assert!(is_match("f?.txt", "fé.txt"));
        assert!(!is_match("f??.txt", "fé.txt"));
        assert!(is_match("a\\*b", "a*b"));
        assert!(!is_match("a\\*b", "axb"));
        assert!(PathGlobs::new(&[String::new()]).is_err());
        assert!(!PathGlobs::default().is_match("a"));
    }
}
