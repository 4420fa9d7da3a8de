//! Loading of gitleaks TOML rule files: `[[rules]]` with `id`, `regex`, `secretGroup`,
//! `entropy`, `keywords`, `path` and allowlists, plus the file's global allowlists.
//! Regexes this crate's engine cannot compile (look-around, backreferences) are reported
//! as rejected rule ids instead of failing the load.

use std::path::{Path, PathBuf};

use regex::bytes::RegexBuilder;

use super::allow::{RuleAllow, Target};
use super::checks;
use super::rule::{Rule, Window};
use super::ScanError;

/// The rules and allowlists loaded from one gitleaks file.
pub(crate) struct Loaded {
    pub rules: Vec<Rule>,
    pub allowlists: Vec<RuleAllow>,
    pub rejected: Vec<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct File {
    rules: Vec<FileRule>,
    allowlist: Option<FileAllow>,
    allowlists: Vec<FileAllow>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct FileRule {
    id: String,
    description: String,
    regex: Option<String>,
    secret_group: Option<usize>,
    entropy: Option<f64>,
    keywords: Vec<String>,
    path: Option<String>,
    allowlist: Option<FileAllow>,
    allowlists: Vec<FileAllow>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct FileAllow {
    regexes: Vec<String>,
    paths: Vec<String>,
    stopwords: Vec<String>,
    regex_target: Option<String>,
    condition: Option<String>,
}

/// Reads and compiles the gitleaks file at `path`.
pub(crate) fn load(path: &Path) -> Result<Loaded, ScanError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScanError::GitleaksRead {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Compiles the gitleaks TOML `text`; `path` names it in errors.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Loaded, ScanError> {
    let file: File = toml::from_str(text).map_err(|source| ScanError::Gitleaks {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let mut allowlists = Vec::new();
    for allow in file.allowlist.iter().chain(&file.allowlists) {
        let compiled = compile_allow(allow).map_err(|source| ScanError::GitleaksAllowlist {
            path: PathBuf::from(path),
            source,
        })?;
        allowlists.push(compiled);
    }
    let mut rules = Vec::new();
    let mut rejected = Vec::new();
    for spec in file.rules {
        if spec.id.is_empty() {
            continue;
        }
        match compile_rule(&spec) {
            Some(rule) => rules.push(rule),
            None => rejected.push(spec.id),
        }
    }
    Ok(Loaded {
        rules,
        allowlists,
        rejected,
    })
}

/// Compiles one gitleaks rule, or returns `None` when a pattern does not compile.
fn compile_rule(spec: &FileRule) -> Option<Rule> {
    let regex = match spec.regex.as_deref().filter(|r| !r.is_empty()) {
        Some(pattern) => Some(compile_regex(pattern)?),
        None if spec.path.is_some() => None,
        None => return None,
    };
    let path = match &spec.path {
        Some(p) => Some(regex::Regex::new(&translate(p)).ok()?),
        None => None,
    };
    if spec
        .secret_group
        .is_some_and(|g| regex.as_ref().is_some_and(|re| g >= re.captures_len()))
    {
        return None;
    }
    let keywords = spec
        .keywords
        .iter()
        .filter(|k| !k.is_empty())
        .map(|k| k.to_ascii_lowercase())
        .collect();
    let multi_line = spec.regex.as_deref().is_some_and(spans_lines);
    let mut rule = Rule::new(&spec.id, regex, keywords);
    rule.description = spec.description.clone();
    rule.entropy = spec.entropy.filter(|e| e.is_finite() && *e > 0.0);
    if spec.secret_group.is_some_and(|g| g > 0) {
        rule.secret_group = spec.secret_group;
    }
    rule.path = path;
    rule.check = checks::any;
    if multi_line {
        rule.window = Window::block(2, 30);
    }
    for allow in spec.allowlist.iter().chain(&spec.allowlists) {
        rule.allowlists.push(compile_allow(allow).ok()?);
    }
    Some(rule)
}

/// Compiles a gitleaks (Go RE2) pattern: ASCII classes as in Go, falling back to Unicode
/// classes for patterns that need them.
fn compile_regex(pattern: &str) -> Option<regex::bytes::Regex> {
    let pattern = translate(pattern);
    let build = |unicode: bool| {
        RegexBuilder::new(&pattern)
            .unicode(unicode)
            .multi_line(true)
            .size_limit(64 * 1024 * 1024)
            .build()
    };
    build(false).or_else(|_| build(true)).ok()
}

/// Rewrites the Go RE2 syntax this crate's engine reads differently: a `{` that does not
/// open a counted repetition is a literal in Go, and `\Q...\E` quotes a literal.
pub(crate) fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'Q') => {
                let body_start = i + 2;
                let body_end = (body_start..chars.len())
                    .find(|&j| chars[j] == '\\' && chars.get(j + 1) == Some(&'E'))
                    .unwrap_or(chars.len());
                let literal: String = chars[body_start..body_end].iter().collect();
                out.push_str(&regex::escape(&literal));
                i = body_end + 2;
                continue;
            }
            '\\' => {
                out.push('\\');
                if let Some(&next) = chars.get(i + 1) {
                    out.push(next);
                }
                i += 2;
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class && !opens_repetition(&chars[i..]) => {
                out.push_str("\\{");
                i += 1;
                continue;
            }
            _ => {}
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Returns whether `rest` (starting at `{`) is a counted repetition `{n}`, `{n,}` or `{n,m}`.
fn opens_repetition(rest: &[char]) -> bool {
    let close = match rest.iter().position(|&c| c == '}') {
        Some(p) => p,
        None => return false,
    };
    let inner: String = rest[1..close].iter().collect();
    let mut parts = inner.splitn(2, ',');
    let low = parts.next().unwrap_or_default();
    let high = parts.next();
    !low.is_empty()
        && low.chars().all(|c| c.is_ascii_digit())
        && high.is_none_or(|h| h.chars().all(|c| c.is_ascii_digit()))
}

/// Returns whether a pattern can match across lines.
fn spans_lines(pattern: &str) -> bool {
    ["(?s", "[\\s\\S", "\\n", "\\r"]
        .iter()
        .any(|m| pattern.contains(m))
}

fn compile_allow(allow: &FileAllow) -> Result<RuleAllow, regex::Error> {
    let compile = |r: &String| regex::Regex::new(&translate(r));
    let regexes = allow
        .regexes
        .iter()
        .map(compile)
        .collect::<Result<_, _>>()?;
    let paths = allow.paths.iter().map(compile).collect::<Result<_, _>>()?;
    let target = match allow.regex_target.as_deref() {
        Some("match") => Target::Match,
        Some("line") => Target::Line,
        _ => Target::Secret,
    };
    Ok(RuleAllow {
        regexes,
        target,
        paths,
        stopwords: allow.stopwords.iter().map(|w| w.to_lowercase()).collect(),
        and: allow
            .condition
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("and")),
    })
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn go_syntax_is_translated() {
        assert_eq!(translate(r"^\$(?:\d+|{\d+})$"), r"^\$(?:\d+|\{\d+})$");
        assert_eq!(translate(r"a{2,3}b{4}c{5,}"), r"a{2,3}b{4}c{5,}");
        assert_eq!(translate(r"[{}]x{"), r"[{}]x\{");
        assert_eq!(translate(r"\Qa.b\Ec"), r"a\.bc");
        assert_eq!(translate(r"\{\d"), r"\{\d");
    }
}
