//! Allowlists: inline `artifact-store:allow` comments, path globs, secret regexes, and the
//! allowlists of gitleaks rule files (regexes on the secret, the match or the line, path
//! regexes and stopwords).

use regex::Regex;

use super::glob::PathGlobs;

/// The marker that suppresses findings on its line.
pub(crate) const INLINE_MARKER: &[u8] = b"artifact-store:allow";

/// Which text a gitleaks allowlist regex is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Target {
    #[default]
    Secret,
    Match,
    Line,
}

/// One gitleaks allowlist: it allows a finding when any (or, with `and`, every) of its
/// non-empty criteria hits.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleAllow {
    pub regexes: Vec<Regex>,
    pub target: Target,
    pub paths: Vec<Regex>,
    /// Lowercase words; a secret containing one is allowed.
    pub stopwords: Vec<String>,
    pub and: bool,
}

/// The texts a finding is judged on.
pub(crate) struct Subject<'a> {
    pub path: &'a str,
    pub secret: &'a str,
    pub matched: &'a str,
    pub line: &'a str,
}

impl RuleAllow {
    /// Returns whether a path match alone allows every finding in a file, so that files
    /// at matching paths can be skipped unread.
    pub fn skips_matching_paths(&self) -> bool {
        !self.paths.is_empty()
            && (!self.and || (self.regexes.is_empty() && self.stopwords.is_empty()))
    }

    /// Returns whether this allowlist allows the finding described by `subject`.
    pub fn allows(&self, subject: &Subject<'_>) -> bool {
        let text = match self.target {
            Target::Secret => subject.secret,
            Target::Match => subject.matched,
            Target::Line => subject.line,
        };
        let lower = subject.secret.to_lowercase();
        let mut hits = Vec::with_capacity(3);
        if !self.regexes.is_empty() {
            hits.push(self.regexes.iter().any(|re| re.is_match(text)));
        }
        if !self.paths.is_empty() {
            hits.push(self.paths.iter().any(|re| re.is_match(subject.path)));
        }
        if !self.stopwords.is_empty() {
            hits.push(self.stopwords.iter().any(|w| lower.contains(w.as_str())));
        }
        if self.and {
            !hits.is_empty() && hits.iter().all(|&h| h)
        } else {
            hits.iter().any(|&h| h)
        }
    }
}

/// The scanner-wide allowlist built from the configuration.
#[derive(Debug, Default)]
pub(crate) struct Allowlist {
    pub globs: PathGlobs,
    /// `allow_regexes`: matched against the secret.
    pub regexes: Vec<Regex>,
    /// Global allowlists of gitleaks files.
    pub gitleaks: Vec<RuleAllow>,
}

impl Allowlist {
    /// Returns whether files at `path` are skipped.
    pub fn path_allowed(&self, path: &str) -> bool {
        let path = path.strip_prefix("./").unwrap_or(path);
        self.globs.is_match(path)
            || self
                .gitleaks
                .iter()
                .any(|a| a.skips_matching_paths() && a.paths.iter().any(|re| re.is_match(path)))
    }

    /// Returns whether the finding described by `subject` is allowed.
    pub fn allows(&self, subject: &Subject<'_>) -> bool {
        self.regexes.iter().any(|re| re.is_match(subject.secret))
            || self.gitleaks.iter().any(|a| a.allows(subject))
    }
}

/// Returns whether `line` carries the inline allow marker.
pub(crate) fn has_inline_marker(line: &[u8]) -> bool {
    line.windows(INLINE_MARKER.len())
        .any(|w| w == INLINE_MARKER)
}

/// Returns the length of the line break that starts at `i` in `line`, or 0. A line as a
/// reader sees it ends at `\n` (`\r\n`), a lone `\r`, NUL, vertical tab, form feed, NEL
/// (U+0085), or the line and paragraph separators U+2028 and U+2029: an editor, a terminal
/// or a browser shows what follows on a line of its own, so a marker must not reach it.
fn break_at(line: &[u8], i: usize) -> usize {
    match line[i..] {
        [b'\r' | b'\0' | 0x0b | 0x0c, ..] => 1,
        [0xC2, 0x85, ..] => 2,
        [0xE2, 0x80, 0xA8 | 0xA9, ..] => 3,
        _ => 0,
    }
}

/// Returns whether a line break ends just before `i` in `line`.
fn break_before(line: &[u8], i: usize) -> bool {
    let tail = &line[i.saturating_sub(3)..i];
    matches!(tail.last(), Some(b'\r' | b'\0' | 0x0b | 0x0c))
        || tail.ends_with(&[0xC2, 0x85])
        || tail.ends_with(&[0xE2, 0x80, 0xA8])
        || tail.ends_with(&[0xE2, 0x80, 0xA9])
}

/// Returns the start and end (as blob offsets) of the line, as a reader sees it, that
/// holds byte `offset`, and whether that line carries the inline allow marker. `line` is
/// the text between two `\n` that holds `offset` and begins at blob offset `start`. A byte
/// of a line break belongs to no line: it carries no marker.
pub(crate) fn human_line(start: usize, line: &[u8], offset: usize) -> (usize, usize, bool) {
    let at = offset.saturating_sub(start);
    if at >= line.len() || break_at(line, at) > 0 {
        return (offset, offset + 1, false);
    }
    let mut from = at;
    while from > 0 && !break_before(line, from) {
        from -= 1;
    }
    let mut to = at;
    while to < line.len() && break_at(line, to) == 0 {
        to += 1;
    }
    (start + from, start + to, has_inline_marker(&line[from..to]))
}
