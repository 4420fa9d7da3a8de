//! The scan of one blob: runs rules over their windows, extracts and checks secrets,
//! applies allowlists, and turns what is left into located, redacted findings.

use std::borrow::Cow;
use std::collections::BTreeMap;

use regex::bytes::Captures;

use super::allow::{human_line, Subject};
use super::checks::{is_source_path, Candidate};
use super::entropy::shannon;
use super::rule::{Compiled, Rule};
use super::text::LineIndex;
use super::unescape::{self, Unescaped};
use super::{redact, Finding, Scanner};

/// A secret found by a rule, located by byte offsets.
struct Hit {
    rule: usize,
    start: usize,
    end: usize,
    match_start: usize,
    match_end: usize,
}

/// Returns the findings of path-only rules (rules that flag files by name).
pub(crate) fn path_findings(rules: &[Rule], path: &str) -> Vec<Finding> {
    rules
        .iter()
        .filter(|rule| {
            rule.regex.is_none() && rule.path.as_ref().is_some_and(|re| re.is_match(path))
        })
        .map(|rule| Finding {
            rule_id: rule.id.clone(),
            path: path.to_string(),
            line: 1,
            column: 1,
            redacted: redact(""),
        })
        .collect()
}

/// Scans `data` with every rule of `scanner` and returns its findings, unsorted.
pub(crate) fn scan(scanner: &Scanner, path: &str, data: &[u8]) -> Vec<Finding> {
    scan_part(scanner, path, data, 0..data.len(), Origin::default())
}

/// Where a part of a larger blob begins: the lines before it, and the characters of its
/// first line that lie before it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Origin {
    pub lines: usize,
    pub columns: usize,
}

/// Scans `data`, a part of a larger blob that begins at `origin`, and returns the findings
/// whose secret starts at a byte offset in `report`, unsorted, located in the whole blob.
///
/// The part is scanned as written and, when it holds `\uXXXX` or `\/` escapes, once more
/// as its unescaped view (`unescape`), whose findings are located in the part as written.
pub(crate) fn scan_part(
    scanner: &Scanner,
    path: &str,
    data: &[u8],
    report: std::ops::Range<usize>,
    origin: Origin,
) -> Vec<Finding> {
    let mut found = scan_view(scanner, path, data, None, report.clone(), origin);
    if let Some(view) = unescape::view(data) {
        found.extend(scan_view(scanner, path, data, Some(&view), report, origin));
    }
    found
}

/// Scans `data`, or its unescaped `view` when given, as [`scan_part`] describes.
fn scan_view(
    scanner: &Scanner,
    path: &str,
    data: &[u8],
    view: Option<&Unescaped>,
    report: std::ops::Range<usize>,
    origin: Origin,
) -> Vec<Finding> {
    let text = view.map_or(data, |v| v.text.as_slice());
    let to_blob = |at: usize| view.map_or(at, |v| v.to_blob(at));
    let rules = &scanner.rules;
    let skip: Vec<bool> = rules.iter().map(|rule| !rule.applies_to(path)).collect();
    let source_code = is_source_path(path);
    let mut hits = Vec::new();
    scanner.prefilter.plan(rules, text, |index, start, end| {
        if !skip[index] {
            let window = Window {
                data: text,
                start,
                end,
                source_code,
            };
            run_rule(&rules[index], index, &window, &mut hits);
        }
    });
    if hits.is_empty() {
        return Vec::new();
    }
    let mut hits = drop_overlaps(rules, hits);
    // In the order of the blob, so that lines and columns are counted once for all hits
    // on one line, and each line is searched for an inline marker once.
    hits.sort_by_key(|hit| hit.start);
    let lines = LineIndex::new(data);
    let view_lines = view.map(|v| LineIndex::new(&v.text));
    let marker_lines = view_lines.as_ref().unwrap_or(&lines);
    let mut marked = BTreeMap::new();
    hits.into_iter()
        .filter(|hit| report.contains(&to_blob(hit.start)))
        .filter(|hit| keep(scanner, path, text, marker_lines, &mut marked, hit))
        .map(|hit| {
            let (line, column) = lines.position(to_blob(hit.start));
            let column = if line == 1 {
                column + origin.columns
            } else {
                column
            };
            Finding {
                rule_id: rules[hit.rule].id.clone(),
                path: path.to_string(),
                line: line + origin.lines,
                column,
                redacted: redact(&lossy(&text[hit.start..hit.end])),
            }
        })
        .collect()
}

/// A part of a blob searched by one rule.
struct Window<'a> {
    data: &'a [u8],
    start: usize,
    end: usize,
    source_code: bool,
}

/// Runs `rule` (number `index`) over its window, pushing the secrets that pass its checks.
fn run_rule(rule: &Rule, index: usize, win: &Window<'_>, hits: &mut Vec<Hit>) {
    let Some(lazy) = &rule.regex else {
        return;
    };
    let compiled = lazy.get();
    let (start, window) = (win.start, &win.data[win.start..win.end]);
    // When a match ends with the terminator of its secret (at most two bytes, as `\n`),
    // the next search starts where the secret ends: the byte that ended one token (`,` in
    // `KEY1,KEY2`) may be the one that must precede the next. Re-reading at most two bytes
    // per match keeps the cost linear.
    let mut at = 0;
    while let Some(caps) = compiled.regex.captures_at(window, at) {
        let whole = caps.get(0).map_or((at, at), |m| (m.start(), m.end()));
        let span = secret_span(rule, compiled, &caps);
        at = match span {
            Some((_, e)) if e <= whole.1 && whole.1 - e <= 2 => e,
            _ => whole.1,
        }
        .max(whole.0 + 1);
        if at > window.len() {
            at = window.len();
            if whole.0 >= window.len() {
                break;
            }
        }
        let Some((s, e)) = span else {
            continue;
        };
        let secret = lossy(&window[s..e]);
        let ident = ident_of(compiled, &caps);
        if secret.is_empty() || rule.entropy.is_some_and(|min| shannon(&secret) < min) {
            continue;
        }
        let matched = lossy(&window[whole.0..whole.1]);
        let quote = s.checked_sub(1).and_then(|q| window.get(q)).copied();
        let quoted = matches!(quote, Some(b'"' | b'\'' | b'`')) && window.get(e).copied() == quote;
        let candidate = Candidate {
            secret: &secret,
            ident: ident.as_deref(),
            matched: &matched,
            quoted,
            source_code: win.source_code,
        };
        if !(rule.check)(&candidate) {
            continue;
        }
        hits.push(Hit {
            rule: index,
            start: start + s,
            end: start + e,
            match_start: start + whole.0,
            match_end: start + whole.1,
        });
    }
}

/// Returns the span of the secret: the configured group, else the first group that took
/// part (ident groups aside), else the whole match.
fn secret_span(rule: &Rule, compiled: &Compiled, caps: &Captures<'_>) -> Option<(usize, usize)> {
    if let Some(group) = rule.secret_group.or(compiled.secret) {
        return caps.get(group).map(|m| (m.start(), m.end()));
    }
    let first = (1..caps.len())
        .filter(|i| !compiled.idents.contains(i))
        .find_map(|i| caps.get(i));
    first.or_else(|| caps.get(0)).map(|m| (m.start(), m.end()))
}

/// Returns the assigned name captured by the rule, if any.
fn ident_of<'a>(compiled: &Compiled, caps: &Captures<'a>) -> Option<Cow<'a, str>> {
    compiled
        .idents
        .iter()
        .find_map(|&i| caps.get(i))
        .map(|m| String::from_utf8_lossy(m.as_bytes()))
}

fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Keeps one hit per overlapping span: specific rules win over generic ones, then the
/// rule listed first.
fn drop_overlaps(rules: &[Rule], mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_by_key(|hit| (rules[hit.rule].generic, hit.rule, hit.start));
    let mut taken: BTreeMap<usize, usize> = BTreeMap::new();
    let mut kept = Vec::with_capacity(hits.len());
    for hit in hits {
        let before = taken.range(..hit.end).next_back();
        let overlaps = before.is_some_and(|(_, &end)| end > hit.start);
        if !overlaps {
            taken.insert(hit.start, hit.end);
            kept.push(hit);
        }
    }
    kept
}

/// Returns whether a hit survives inline markers (on the line where the secret starts, or
/// for multi-line formats where their match starts; a line as a reader sees it: see
/// [`human_line`]) and the rule and scanner allowlists. `marked` remembers, by the offset
/// where each such line starts, where it ends and whether it holds a marker.
fn keep(
    scanner: &Scanner,
    path: &str,
    data: &[u8],
    lines: &LineIndex<'_>,
    marked: &mut BTreeMap<usize, (usize, bool)>,
    hit: &Hit,
) -> bool {
    let mut has_marker = |offset: usize| {
        if let Some((_, &(end, marker))) = marked.range(..=offset).next_back() {
            if offset < end {
                return marker;
            }
        }
        let (start, end, marker) =
            human_line(lines.line_start(offset), lines.line_of(offset), offset);
        marked.insert(start, (end, marker));
        marker
    };
    // A multi-line format (a PEM block) is allowed from its first line too; any other
    // rule only from the secret's own line, so that a match reaching back across a line
    // break (`<password># artifact-store:allow\r...`) cannot carry a marker with it.
    let rule = &scanner.rules[hit.rule];
    let block = rule.window.before > 0 || rule.window.after > 1;
    if has_marker(hit.start) || (block && has_marker(hit.match_start)) {
        return false;
    }
    let line = lines.line_of(hit.start);
    if rule.allowlists.is_empty()
        && scanner.allow.regexes.is_empty()
        && scanner.allow.gitleaks.is_empty()
    {
        return true;
    }
    let secret = lossy(&data[hit.start..hit.end]);
    let matched = lossy(&data[hit.match_start..hit.match_end]);
    let line = lossy(line);
    let subject = Subject {
        path,
        secret: &secret,
        matched: &matched,
        line: &line,
    };
    !(rule.allowlists.iter().any(|a| a.allows(&subject)) || scanner.allow.allows(&subject))
}

/// Sorts findings by line, column and rule id and removes duplicates.
pub(crate) fn finish(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        (a.line, a.column, &a.rule_id, &a.path).cmp(&(b.line, b.column, &b.rule_id, &b.path))
    });
    findings.dedup();
}

/// Scans a single-line value labelled `file:key.path` as if it were assigned to the last
/// key of the label, returning findings not already in `found`.
pub(crate) fn scan_labelled_value(
    scanner: &Scanner,
    path: &str,
    text: &str,
    found: &[Finding],
) -> Vec<Finding> {
    let Some((_, keys)) = path.rsplit_once(':') else {
        return Vec::new();
    };
    let key = keys.rsplit('.').next().unwrap_or(keys);
    let simple = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if key.is_empty() || !key.chars().all(simple) || text.contains(['\n', '"']) || text.len() > 4096
    {
        return Vec::new();
    }
    let prefix = format!("{key} = \"");
    let line = format!("{prefix}{text}\"");
    let shift = prefix.chars().count();
    scan(scanner, path, line.as_bytes())
        .into_iter()
        .filter(|f| f.column > shift)
        .map(|mut f| {
            f.column -= shift;
            f
        })
        .filter(|f| {
            !found
                .iter()
                .any(|g| g.line == f.line && g.column == f.column)
        })
        .collect()
}
