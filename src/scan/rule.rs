//! Rules: the compiled form every scan uses, and the helpers that build the built-in ones.

use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};

use super::allow::RuleAllow;
use super::checks::{self, Candidate};
pub(crate) use super::generic::HitMemo;

/// A post-match check: returns `true` to keep the candidate secret.
pub(crate) type Check = fn(&Candidate<'_>) -> bool;

/// A cheap test of one keyword hit (`data`, hit start, hit end) before its window is
/// searched: returns `false` when the rule cannot match there. The memo carries what
/// earlier hits of the same blob learnt, so the tests of all hits together stay linear.
pub(crate) type HitFilter = fn(&[u8], usize, usize, &mut HitMemo) -> bool;

/// The part of a blob searched around a keyword hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// Lines searched before the hit's line.
    pub before: u32,
    /// Lines searched after the hit's line.
    pub after: u32,
    /// Bytes searched at most on each side of the hit.
    pub reach: usize,
}

impl Window {
    /// The hit's line and the next one (values of XML elements sit on the next line).
    pub const LINE: Window = Window {
        before: 0,
        after: 1,
        reach: 4096,
    };
    /// A block for multi-line formats such as PEM keys and YAML manifests.
    pub const fn block(before: u32, after: u32) -> Window {
        Window {
            before,
            after,
            reach: 32 * 1024,
        }
    }
}

/// A regex compiled on first use, with the capture groups the engine reads.
///
/// Built-in rules compile lazily, so a scan pays only for the rules whose keywords occur;
/// configured rules are compiled up front to report errors and stored already compiled.
#[derive(Debug)]
pub(crate) struct LazyRegex {
    pattern: String,
    cell: OnceLock<Compiled>,
}

/// A compiled regex and its notable capture groups.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub regex: Regex,
    /// The group named `secret`, if any.
    pub secret: Option<usize>,
    /// Groups whose names start with `ident`: the assigned name in assignments.
    pub idents: Vec<usize>,
}

impl LazyRegex {
    /// Returns a regex compiled (ASCII classes, multi-line) on first use.
    fn lazy(pattern: String) -> LazyRegex {
        LazyRegex {
            pattern,
            cell: OnceLock::new(),
        }
    }

    /// Wraps an already compiled regex.
    pub fn compiled(regex: Regex) -> LazyRegex {
        let pattern = regex.as_str().to_string();
        let cell = OnceLock::new();
        let _ = cell.set(Compiled::new(regex));
        LazyRegex { pattern, cell }
    }

    /// Returns the compiled regex, compiling a built-in pattern on first use.
    pub fn get(&self) -> &Compiled {
        self.cell.get_or_init(|| {
            let regex = build_builtin(&self.pattern)
                .unwrap_or_else(|err| panic!("built-in pattern does not compile: {err}"));
            Compiled::new(regex)
        })
    }
}

impl Compiled {
    fn new(regex: Regex) -> Compiled {
        let mut secret = None;
        let mut idents = Vec::new();
        for (index, name) in regex.capture_names().enumerate() {
            match name {
                Some("secret") => secret = Some(index),
                Some(name) if name.starts_with("ident") => idents.push(index),
                _ => {}
            }
        }
        Compiled {
            regex,
            secret,
            idents,
        }
    }
}

/// Compiles a built-in pattern: ASCII classes, `^`/`$` at line boundaries.
fn build_builtin(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .multi_line(true)
        .size_limit(32 * 1024 * 1024)
        .build()
}

/// A rule ready to scan with.
#[derive(Debug)]
pub(crate) struct Rule {
    pub id: String,
    pub description: String,
    /// `None` for a path-only rule (a gitleaks rule that flags files by name).
    pub regex: Option<LazyRegex>,
    /// Lowercase keywords; a rule without keywords searches the whole blob.
    pub keywords: Vec<String>,
    pub entropy: Option<f64>,
    /// Capture group holding the secret; `None` means the group named `secret`, else the
    /// first group that took part, else the whole match.
    pub secret_group: Option<usize>,
    pub window: Window,
    pub check: Check,
    pub hit_filter: Option<HitFilter>,
    /// Generic rules yield to specific ones when both match the same text.
    pub generic: bool,
    /// Regex on the path: the rule applies only to matching paths (gitleaks `path`).
    pub path: Option<regex::Regex>,
    pub allowlists: Vec<RuleAllow>,
}

impl Rule {
    /// Returns a rule around `regex` with the given keywords and default settings.
    pub fn new(id: &str, regex: Option<Regex>, keywords: Vec<String>) -> Rule {
        Rule {
            id: id.to_string(),
            description: String::new(),
            regex: regex.map(LazyRegex::compiled),
            keywords,
            entropy: None,
            secret_group: None,
            window: Window::LINE,
            check: checks::any,
            hit_filter: None,
            generic: false,
            path: None,
            allowlists: Vec::new(),
        }
    }

    /// Returns whether the rule searches blobs at `path`.
    pub fn applies_to(&self, path: &str) -> bool {
        self.path.as_ref().is_none_or(|re| re.is_match(path))
    }
}

/// A built-in rule before compilation.
pub(crate) struct Def {
    id: &'static str,
    description: &'static str,
    pattern: String,
    keywords: &'static [&'static str],
    entropy: Option<f64>,
    window: Window,
    check: Check,
    hit_filter: Option<HitFilter>,
    generic: bool,
}

/// Returns a built-in rule definition with a plain placeholder check and line windows.
pub(crate) fn def(
    id: &'static str,
    description: &'static str,
    pattern: impl Into<String>,
    keywords: &'static [&'static str],
) -> Def {
    Def {
        id,
        description,
        pattern: pattern.into(),
        keywords,
        entropy: None,
        window: Window::LINE,
        check: checks::plain,
        hit_filter: None,
        generic: false,
    }
}

impl Def {
    /// Sets the minimum Shannon entropy (bits per character) of the secret.
    pub fn entropy(mut self, bits: f64) -> Def {
        self.entropy = Some(bits);
        self
    }

    /// Sets the window searched around keyword hits.
    pub fn window(mut self, window: Window) -> Def {
        self.window = window;
        self
    }

    /// Sets the post-match check.
    pub fn check(mut self, check: Check) -> Def {
        self.check = check;
        self
    }

    /// Sets the test that skips keyword hits where the rule cannot match.
    pub fn hit_filter(mut self, filter: HitFilter) -> Def {
        self.hit_filter = Some(filter);
        self
    }

    /// Marks the rule as generic: it yields to specific rules on the same text.
    pub fn generic(mut self) -> Def {
        self.generic = true;
        self
    }

    fn into_rule(self) -> Rule {
        let keywords = self
            .keywords
            .iter()
            .map(|k| k.to_ascii_lowercase())
            .collect();
        let mut rule = Rule::new(self.id, None, keywords);
        rule.regex = Some(LazyRegex::lazy(self.pattern));
        rule.description = self.description.to_string();
        rule.entropy = self.entropy;
        rule.window = self.window;
        rule.check = self.check;
        rule.hit_filter = self.hit_filter;
        rule.generic = self.generic;
        rule
    }
}

/// What may follow a secret: a quote, space, `;`, `,`, `<`, `>`, an escaped newline, the
/// end of the line, or a byte that is not printable ASCII (a NUL ending a C string, a
/// pickle opcode, a length byte of a binary format).
pub(crate) const TERM: &str = r#"(?:[\x60'"\s;,<>\x00-\x08\x0e-\x1f\x7f-\xff]|\\[nrt]|$)"#;

/// A UUID in any letter case.
pub(crate) const UUID: &str =
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// What may follow a self-identifying token: [`TERM`], URL and code punctuation (`@` in
/// `https://TOKEN@host`, `&` in query strings, brackets, `/`, `|`), a token used as a key
/// or a name (`ghp_...: 1`, `ghp_...=1`), or ending a sentence (`ghp_... .`, `ghp_...!`
/// before a space or the end of the line: a `.` inside a file or host name does not end one).
const TOKEN_TERM: &str = r#"(?:[\x60'"\s;,<>@&()\]}/|:=#*+%$\x00-\x08\x0e-\x1f\x7f-\xff]|[.!?]+(?:[\s"')\]}]|$)|\\[nrt]|$)"#;

/// Returns `\b(body)` followed by a token terminator: a self-identifying token such as
/// `ghp_...`.
pub(crate) fn token(body: &str) -> String {
    format!(r"\b({body}){TOKEN_TERM}")
}

/// Returns `(body)` followed by a token terminator, with no boundary before it: a token
/// whose prefix is distinctive enough (`ghp_`, `sk_live_`, `xoxb-`, `AKIA`) to be found
/// glued to an identifier (`config_token_ghp_...`, `pre_sk_live_...`, `xAKIA...`), where
/// `\b` would reject it because `_` and letters are word characters.
pub(crate) fn glued(body: &str) -> String {
    format!(r"({body}){TOKEN_TERM}")
}

/// Returns `(body)` followed by a token terminator, after the start of a line or a byte
/// that is not a letter or digit: a token found glued after `_` (`my_AIza...`) but not
/// inside a longer run of letters and digits, for prefixes short or plain enough
/// (`AIza`) to occur by chance in random base62 text.
pub(crate) fn after_non_alnum(body: &str) -> String {
    format!(r"(?:^|[^A-Za-z0-9])({body}){TOKEN_TERM}")
}

/// Returns a regex for `<name> <op> <value>` where the name contains `ident` (a regex,
/// case-insensitive unless it says otherwise) and the value matches `value`; the
/// operators cover `=`, `:`, `:=`, `=>`, `?=`, `.=`, `,` (call arguments) and `>` (an XML
/// element whose value may sit on the next line).
pub(crate) fn assign(ident: &str, value: &str) -> String {
    format!(
        r#"(?i:(?:^|[^\w.\-])\$?[\w.\-]*?(?:{ident})[\w.\-]*(?:\\?["'\x60\]])?(?:[ \t]+\w+)?[ \t]*(?:(?:\|\|=|:::=|::=|:=|=>|\?=|\.=|=|:|,)[ \t]*(?:\\?["'\x60])?|>\s{{0,40}}))({value}){TERM}"#
    )
}

/// Returns all built-in rules (compiled on first use), specific ones first.
pub(crate) fn builtin_rules() -> Vec<Rule> {
    let mut defs = Vec::new();
    defs.extend(super::builtin_ai::rules());
    defs.extend(super::builtin_cloud::rules());
    defs.extend(super::builtin_dev::rules());
    defs.extend(super::builtin_saas::rules());
    defs.extend(super::builtin_generic::rules());
    defs.into_iter().map(Def::into_rule).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_pattern_compiles_and_ids_are_unique() {
        let rules = builtin_rules();
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        for rule in &rules {
            let lazy = rule
                .regex
                .as_ref()
                .map(|r| r.pattern.as_str())
                .unwrap_or_default();
            assert!(
                build_builtin(lazy).is_ok(),
                "rule {} does not compile",
                rule.id
            );
            assert!(!rule.keywords.is_empty(), "rule {} has no keyword", rule.id);
        }
        ids.sort_unstable();
        let count = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), count, "duplicate built-in rule ids");
    }
}
