//! The keyword prefilter: one Aho-Corasick pass finds rule keywords, and each hit plans a
//! bounded window for the rules that use the keyword; nearby windows of a rule merge, so a
//! rule's regex reads each part of the data once, not once per hit.
//!
//! The pass reports leftmost-longest non-overlapping matches, which is faster than
//! reporting every overlapping one; a keyword hidden inside a reported one is accounted
//! for by letting each keyword also trigger the rules of the keywords it can hide.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::rule::{HitMemo, Rule, Window};

/// The keyword automaton and, for each keyword, the rules that use it.
#[derive(Debug)]
pub(crate) struct Prefilter {
    automaton: Option<AhoCorasick>,
    /// Rule indices per automaton pattern.
    rules_of: Vec<Vec<usize>>,
    /// Rules without keywords: searched over the whole blob.
    always: Vec<usize>,
}

impl Prefilter {
    /// Builds the automaton over the keywords of `rules`.
    pub fn new(rules: &[Rule]) -> Result<Prefilter, aho_corasick::BuildError> {
        let mut keywords: Vec<String> = Vec::new();
        let mut rules_of: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            if rule.regex.is_none() {
                continue;
            }
            if rule.keywords.is_empty() {
                always.push(index);
            }
            for keyword in &rule.keywords {
                match keywords.iter().position(|k| k == keyword) {
                    Some(p) => rules_of[p].push(index),
                    None => {
                        keywords.push(keyword.clone());
                        rules_of.push(vec![index]);
                    }
                }
            }
        }
        let rules_of = close_over_overlaps(&keywords, rules_of);
        let automaton = if keywords.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&keywords)?,
            )
        };
        Ok(Prefilter {
            automaton,
            rules_of,
            always,
        })
    }

    /// Calls `run(rule, start, end)` once for every merged window of every rule whose
    /// keywords occur in `data`, and once over all of `data` for rules without keywords.
    ///
    /// Hits of a rule gather into runs of lines; a run is widened by the rule's lines
    /// before and after only once, when it is flushed, and two runs merge when their
    /// widened windows would touch. Every step is bounded by the rule's reach, so planning
    /// stays linear in the size of `data` however dense the hits.
    pub fn plan(&self, rules: &[Rule], data: &[u8], mut run: impl FnMut(usize, usize, usize)) {
        let mut open: Vec<Option<(usize, usize)>> = vec![None; rules.len()];
        if let Some(automaton) = &self.automaton {
            let mut lines = LineCursor::new(data);
            let mut memo = HitMemo::default();
            for hit in automaton.find_iter(data) {
                for &index in &self.rules_of[hit.pattern().as_usize()] {
                    let rule = &rules[index];
                    if rule
                        .hit_filter
                        .is_some_and(|keep| !keep(data, hit.start(), hit.end(), &mut memo))
                    {
                        continue;
                    }
                    let window = rule.window;
                    let (start, end) = lines.around(hit.start(), hit.end(), window.reach);
                    open[index] = match open[index] {
                        Some((s, e)) if start <= e || touch(data, e, start, window) => {
                            Some((s.min(start), e.max(end)))
                        }
                        Some((s, e)) => {
                            let (from, to) = widen(data, s, e, window);
                            run(index, from, to);
                            Some((start, end))
                        }
                        None => Some((start, end)),
                    };
                }
            }
        }
        for (index, run_of_lines) in open.into_iter().enumerate() {
            if let Some((s, e)) = run_of_lines {
                let (from, to) = widen(data, s, e, rules[index].window);
                run(index, from, to);
            }
        }
        for &index in &self.always {
            run(index, 0, data.len());
        }
    }
}

/// Returns whether a run ending at `end` and a line starting at `start` lie within the
/// window's lines of each other, so that their widened windows would touch.
fn touch(data: &[u8], end: usize, start: usize, window: Window) -> bool {
    let allowed = (window.before + window.after) as usize;
    if allowed == 0 || start.saturating_sub(end) > 2 * window.reach {
        return false;
    }
    data[end..start]
        .iter()
        .filter(|&&b| b == b'\n')
        .take(allowed + 1)
        .count()
        <= allowed
}

/// Widens the run `start..end` by the window's lines before and after, within its reach;
/// an end cut inside a long line is not widened.
fn widen(data: &[u8], start: usize, end: usize, window: Window) -> (usize, usize) {
    let low = start.saturating_sub(window.reach);
    let mut from = start;
    let cut_before = start > 0 && data[start - 1] != b'\n';
    let cut_after = end > 0 && end < data.len() && data[end - 1] != b'\n';
    for _ in 0..if cut_before { 0 } else { window.before } {
        if from <= low || from == 0 {
            break;
        }
        from = data[low..from - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(low, |p| low + p + 1);
    }
    let high = end.saturating_add(window.reach).min(data.len());
    let mut to = end;
    for _ in 0..if cut_after { 0 } else { window.after } {
        if to >= high {
            break;
        }
        to = next_line_end(&data[..high], to);
    }
    (from, to)
}

/// Returns, for each keyword, its rules plus the rules of every keyword that a reported
/// match of it can hide: keywords it contains, and keywords that begin with one of its
/// ends of three bytes or more (rules match tokens at word boundaries, so a shorter shared
/// end cannot hide a match worth finding).
fn close_over_overlaps(keywords: &[String], rules_of: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
    const SHARED: usize = 3;
    // Both relations need `b` to start at some byte `i` of `a` (`a[i..]` starts with `b`:
    // `a` contains `b`; `b` starts with `a[i..]`, `i >= 1`, at least SHARED bytes: an end
    // of `a` begins `b`), so only the keywords whose first byte is `a[i]` are tried: a
    // commit builds this for a few hundred keywords, and comparing every pair took a
    // tenth of a 1 MB commit's instructions.
    let mut by_first: Vec<Vec<usize>> = vec![Vec::new(); 256];
    let mut empty = Vec::new();
    for (j, b) in keywords.iter().enumerate() {
        match b.as_bytes().first() {
            Some(&first) => by_first[usize::from(first)].push(j),
            None => empty.push(j),
        }
    }
    keywords
        .iter()
        .map(|a| {
            let a = a.as_bytes();
            let mut hidden = empty.clone();
            for i in 0..a.len() {
                let rest = &a[i..];
                for &j in &by_first[usize::from(a[i])] {
                    let b = keywords[j].as_bytes();
                    let overlaps = i >= 1 && rest.len() >= SHARED && b.starts_with(rest);
                    if rest.starts_with(b) || overlaps {
                        hidden.push(j);
                    }
                }
            }
            let mut union: Vec<usize> = hidden
                .into_iter()
                .flat_map(|j| rules_of[j].iter().copied())
                .collect();
            union.sort_unstable();
            union.dedup();
            union
        })
        .collect()
}

/// Finds line bounds around hits, caching the bounds of the current line so that many
/// hits on one long line cost one scan of it.
struct LineCursor<'a> {
    data: &'a [u8],
    /// Start and end (after the `\n`) of the line of the last hit.
    line: (usize, usize),
}

impl<'a> LineCursor<'a> {
    fn new(data: &'a [u8]) -> LineCursor<'a> {
        LineCursor { data, line: (0, 0) }
    }

    /// Returns the line of the hit at `start..end`, cut to `reach` bytes on each side.
    fn around(&mut self, start: usize, end: usize, reach: usize) -> (usize, usize) {
        if start < self.line.0 || start >= self.line.1 {
            let line_start = self.data[..start]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            self.line = (line_start, next_line_end(self.data, start));
        }
        let low = start.saturating_sub(reach);
        let high = end.saturating_add(reach).min(self.data.len());
        (self.line.0.max(low), self.line.1.min(high))
    }
}

/// Returns the offset just past the `\n` that ends the line holding `from`, or the end of
/// `data` when the line is the last one.
fn next_line_end(data: &[u8], from: usize) -> usize {
    data[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(data.len(), |p| from + p + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(data: &str, at: usize, window: Window) -> (usize, usize) {
        let (start, end) = LineCursor::new(data.as_bytes()).around(at, at + 1, window.reach);
        widen(data.as_bytes(), start, end, window)
    }

    /// Every pair compared, as the closure was first written: the reference the indexed
    /// version must agree with.
    fn close_over_overlaps_by_pairs(
        keywords: &[String],
        rules_of: &[Vec<usize>],
    ) -> Vec<Vec<usize>> {
        let hides = |a: &str, b: &str| {
            a.contains(b) || (1..a.len().saturating_sub(2)).any(|i| b.starts_with(&a[i..]))
        };
        keywords
            .iter()
            .map(|a| {
                let mut union: Vec<usize> = keywords
                    .iter()
                    .zip(rules_of)
                    .filter(|(b, _)| hides(a, b))
                    .flat_map(|(_, rules)| rules.iter().copied())
                    .collect();
                union.sort_unstable();
                union.dedup();
                union
            })
            .collect()
    }

    #[test]
    fn overlap_closure_agrees_with_comparing_every_pair() {
        let mut sets: Vec<Vec<String>> = vec![
            [
                "key",
                "apikey",
                "api",
                "token",
                "kenobi",
                "pass",
                "password",
                "swordfish",
            ]
            .map(String::from)
            .to_vec(),
            ["abc", "bcd", "cde", "ab", "abcd", "a", "bc"]
                .map(String::from)
                .to_vec(),
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..50 {
            let mut words = Vec::new();
            for _ in 0..40 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = 1 + (x % 7) as usize;
                words.push(
                    (0..len)
                        .map(|k| char::from(b'a' + ((x >> (8 * k)) % 4) as u8))
                        .collect(),
                );
            }
            words.sort();
            words.dedup();
            sets.push(words);
        }
        for words in sets {
            let rules_of: Vec<Vec<usize>> =
                (0..words.len()).map(|i| vec![i, i % 3 + 100]).collect();
            assert_eq!(
                close_over_overlaps(&words, rules_of.clone()),
                close_over_overlaps_by_pairs(&words, &rules_of),
                "{words:?}"
            );
        }
    }

    #[test]
    fn windows_follow_lines() {
        let data = "one\ntwo key\nthree\nfour\n";
        let at = data.find("key").unwrap_or(0);
        let line_only = Window {
            before: 0,
            after: 0,
            reach: 4096,
        };
        assert_eq!(windows(data, at, line_only), (4, 12));
        assert_eq!(windows(data, at, Window::LINE), (4, 18));
        assert_eq!(windows(data, at, Window::block(1, 2)), (0, 23));
    }

    #[test]
    fn long_lines_are_capped() {
        let data = format!("{}key{}", "a".repeat(10_000), "b".repeat(10_000));
        let at = 10_000;
        assert_eq!(windows(&data, at, Window::LINE), (at - 4096, at + 1 + 4096));
    }

    #[test]
    fn runs_touch_within_the_window_lines() {
        let data = b"a\nb\nc\nd\n";
        assert!(touch(data, 2, 6, Window::block(1, 1)));
        assert!(!touch(data, 2, 8, Window::block(1, 0)));
        assert!(!touch(
            data,
            2,
            4,
            Window {
                before: 0,
                after: 0,
                reach: 10
            }
        ));
    }
}
