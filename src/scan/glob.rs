//! Path globs for allowlists: `*` matches within one path segment, `?` one character of a
//! segment, and `**` any number of whole segments; a glob without `/` matches the file name.

/// One element of a compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**/` (or a trailing `/**`): zero or more whole segments.
    Segments,
    /// A trailing `**`: everything, `/` included.
    Rest,
}

/// A compiled path glob.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
    /// The glob has no `/`: it is matched against the file name as well.
    basename: bool,
}

impl Glob {
    /// Compiles `glob`; it fails only on an empty glob.
    pub fn new(glob: &str) -> Result<Glob, &'static str> {
        let glob = glob.strip_prefix("./").unwrap_or(glob);
        if glob.is_empty() {
            return Err("empty glob");
        }
        let chars: Vec<char> = glob.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let token = match chars[i] {
                '*' if chars.get(i + 1) == Some(&'*') => {
                    i += 1;
                    if chars.get(i + 1) == Some(&'/') {
                        i += 1;
                        Token::Segments
                    } else {
                        Token::Rest
                    }
                }
                '*' => Token::Star,
                '?' => Token::One,
                '\\' if i + 1 < chars.len() => {
                    i += 1;
                    Token::Literal(chars[i])
                }
                c => Token::Literal(c),
            };
            tokens.push(token);
            i += 1;
        }
        Ok(Glob {
            tokens,
            basename: !glob.contains('/'),
        })
    }

    /// Returns whether `path` (with `/` separators) matches.
    pub fn is_match(&self, path: &str) -> bool {
        let path = path.strip_prefix("./").unwrap_or(path);
        if matches(&self.tokens, path) {
            return true;
        }
        if self.basename {
            let name = path.rsplit('/').next().unwrap_or(path);
            return matches(&self.tokens, name);
        }
        false
    }
}

/// Matches `tokens` against `text` by dynamic programming over (token, char) positions.
fn matches(tokens: &[Token], text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let width = chars.len() + 1;
    // ok[t * width + c]: tokens[t..] match chars[c..].
    let mut ok = vec![false; (tokens.len() + 1) * width];
    ok[tokens.len() * width + chars.len()] = true;
    for t in (0..tokens.len()).rev() {
        for c in (0..=chars.len()).rev() {
            let here = chars.get(c).copied();
            let next_token = ok[(t + 1) * width + c];
            let value = match &tokens[t] {
                Token::Literal(l) => here == Some(*l) && ok[(t + 1) * width + c + 1],
                Token::One => here.is_some_and(|h| h != '/') && ok[(t + 1) * width + c + 1],
                Token::Star => {
                    next_token || (here.is_some_and(|h| h != '/') && ok[t * width + c + 1])
                }
                Token::Rest => true,
                Token::Segments => {
                    // Zero segments, or skip up to and including the next `/`.
                    next_token || skip_segment(&chars, c).is_some_and(|n| ok[t * width + n])
                }
            };
            ok[t * width + c] = value;
        }
    }
    ok[0]
}

/// Returns the position just past the next `/` at or after `from`.
fn skip_segment(chars: &[char], from: usize) -> Option<usize> {
    chars[from..]
        .iter()
        .position(|&c| c == '/')
        .map(|p| from + p + 1)
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn is_match(glob: &str, path: &str) -> bool {
        Glob::new(glob).map(|g| g.is_match(path)).unwrap_or(false)
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
        assert!(is_match("a\\*b", "a*b"));
        assert!(!is_match("a\\*b", "axb"));
        assert!(Glob::new("").is_err());
    }
}
