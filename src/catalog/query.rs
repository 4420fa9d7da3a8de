//! `--where key<op>value` filters on metadata and `--since` dates.

use serde_json::Value;

use crate::error::{Error, Result};

/// A comparison operator of `--where`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// One `--where` filter: a dotted metadata key, an operator and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Where {
    /// Key path, `test_metrics.win_rate` as `["test_metrics", "win_rate"]`.
    pub path: Vec<String>,
    /// Operator.
    pub op: Op,
    /// Value to compare with, as written.
    pub value: String,
}

const OPS: [(&str, Op); 6] = [
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("!=", Op::Ne),
    ("=", Op::Eq),
    ("<", Op::Lt),
    (">", Op::Gt),
];

impl Op {
    /// Whether the operator orders values (`<`, `<=`, `>`, `>=`), which only numbers do.
    pub fn orders(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }

    /// Returns the operator as written: `=`, `!=`, `<`, `<=`, `>` or `>=`.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// Prints the filter as `--where` takes it; the text parses back to the same filter.
impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.path.join("."),
            self.op.symbol(),
            self.value
        )
    }
}

impl Where {
    /// Parses `key=value`, `a.b>=0.5`, `status!=failed`.
    ///
    /// Refused (invalid input, with an example): no operator, an empty key or key part, a
    /// doubled operator, an empty value (`win_rate>=` would compare with nothing), and a
    /// value that is not a number after `<`, `<=`, `>` or `>=` (which compare numbers).
    pub fn parse(text: &str) -> Result<Where> {
        let bad = |why: &str| {
            Error::InvalidInput(format!(
                "--where {text:?}: {why}; expected KEY OP VALUE with OP one of = != < <= > >= (e.g. test_metrics.win_rate>=0.5)"
            ))
        };
        let at = text
            .find(['=', '!', '<', '>'])
            .ok_or_else(|| bad("no operator"))?;
        let (key, rest) = text.split_at(at);
        let (op, value) = OPS
            .iter()
            .find_map(|(sym, op)| rest.strip_prefix(sym).map(|v| (*op, v)))
            .ok_or_else(|| bad("unknown operator"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(bad("empty key"));
        }
        let path: Vec<String> = key.split('.').map(str::to_string).collect();
        if path.iter().any(String::is_empty) {
            return Err(bad("empty part in the key"));
        }
        let value = value.trim();
        if value.starts_with(['=', '<', '>', '!']) {
            return Err(bad("doubled operator"));
        }
        if value.is_empty() {
            return Err(Error::InvalidInput(format!(
                "--where {text:?}: nothing to compare {key} with after {}; give a value, e.g. --where '{key}{}{}'",
                op.symbol(),
                op.symbol(),
                if op.orders() { "0.5" } else { "passed" }
            )));
        }
        if op.orders() && value.parse::<f64>().map_or(true, |v| !v.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "--where {text:?}: {} compares numbers, and {value:?} is not one; e.g. --where '{key}{}0.5' (use = or != to compare text, --since for dates)",
                op.symbol(),
                op.symbol()
            )));
        }
        Ok(Where {
            path,
            op,
            value: value.to_string(),
        })
    }

    /// Returns the key as typed, dotted: `test_metrics.win_rate`.
    pub fn key(&self) -> String {
        self.path.join(".")
    }

    /// Returns whether `metadata` satisfies the filter; a missing key never does.
    pub fn matches(&self, metadata: &Value) -> bool {
        let mut node = metadata;
        for part in &self.path {
            match node.get(part) {
                Some(next) => node = next,
                None => return false,
            }
        }
        let ordering = match (as_number(node), self.value.parse::<f64>()) {
            (Some(a), Ok(b)) => a.partial_cmp(&b),
            _ => {
                let text = match node {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some(text.as_str().cmp(self.value.as_str()))
            }
        };
        let Some(ordering) = ordering else {
            return false;
        };
        use std::cmp::Ordering::*;
        match self.op {
            Op::Eq => ordering == Equal,
            Op::Ne => ordering != Equal,
            Op::Lt => ordering == Less,
            Op::Le => ordering != Greater,
            Op::Gt => ordering == Greater,
            Op::Ge => ordering != Less,
        }
    }
}

/// Collects every key path of `metadata` into `out`, dotted: `test_metrics` and
/// `test_metrics.net_pnl` for `{"test_metrics": {"net_pnl": 1}}`.
pub fn key_paths(
    metadata: &serde_json::Map<String, Value>,
    out: &mut std::collections::BTreeSet<String>,
) {
    fn walk(
        map: &serde_json::Map<String, Value>,
        prefix: &str,
        out: &mut std::collections::BTreeSet<String>,
    ) {
        for (key, value) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if let Value::Object(inner) = value {
                walk(inner, &path, out);
            }
            out.insert(path);
        }
    }
    walk(metadata, "", out);
}

/// Returns the existing key nearest to `key`, the one a user most likely meant: a key
/// that ends with it (`net_pnl` -> `test_metrics.net_pnl`), else the one at the smallest
/// edit distance, whole or by its last parts, when that distance is small for the key's
/// length (at most a third of it).
pub fn nearest_key(key: &str, keys: &[String]) -> Option<String> {
    let suffix = format!(".{key}");
    if let Some(found) = keys
        .iter()
        .filter(|k| k.ends_with(&suffix))
        .min_by_key(|k| (k.len(), k.as_str()))
    {
        return Some(found.clone());
    }
    let parts = key.split('.').count();
    let distance = |candidate: &str| {
        let segments: Vec<&str> = candidate.split('.').collect();
        let tail = segments[segments.len().saturating_sub(parts)..].join(".");
        edit_distance(key, candidate).min(edit_distance(key, &tail))
    };
    let limit = (key.chars().count() / 3).max(1);
    keys.iter()
        .map(|k| (distance(k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, k)| (*d, k.len(), k.as_str()))
        .map(|(_, k)| k.clone())
}

/// The Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Parses `--since`: `2025-11-07`, an RFC 3339 time, or an age like `90m`, `36h`, `7d`, `2w`.
pub fn parse_since(text: &str, now: i64) -> Result<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        return Ok(midnight.and_utc().timestamp());
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits.parse().map_err(|_| bad_since(text))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad_since(text)),
    };
    n.checked_mul(secs)
        .and_then(|age| now.checked_sub(age))
        .ok_or_else(|| bad_since(text))
}

fn bad_since(text: &str) -> Error {
    Error::InvalidInput(format!(
        "--since {text:?}: expected a date (2025-11-07), an RFC 3339 time, or an age (90m, 36h, 7d, 2w)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn where_parses_every_operator() {
        let w = Where::parse("test_metrics.win_rate>=0.5").unwrap();
        assert_eq!((w.path.len(), w.op, w.value.as_str()), (2, Op::Ge, "0.5"));
        assert_eq!(Where::parse("a!=b").unwrap().op, Op::Ne);
        assert_eq!(Where::parse("a<=1").unwrap().op, Op::Le);
        assert_eq!(Where::parse("a<1").unwrap().op, Op::Lt);
        assert_eq!(Where::parse("a>1").unwrap().op, Op::Gt);
        for bad in [
            "", "novalue", "=1", ".a=1", "a..b=1", "a==1", "a=>1", "a!1", "a=", "a!=", "a>=",
            "a< ", "a>abc", "a<=1e", "a>nan", "a<inf",
        ] {
            assert!(Where::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn where_compares_numbers_numerically_and_text_exactly() {
        let meta = json!({"test_metrics": {"win_rate": 0.58, "net_pnl": -3}, "llm_version": "gpt-4", "n": 10});
        let yes = [
            "test_metrics.win_rate>=0.5",
            "test_metrics.net_pnl<0",
            "llm_version=gpt-4",
            "n>9",
            "n=10",
            "llm_version!=gpt-3",
        ];
        let no = [
            "test_metrics.win_rate<0.5",
            "llm_version=gpt",
            "missing=1",
            "n>10",
            "n!=10",
        ];
        for w in yes {
            assert!(Where::parse(w).unwrap().matches(&meta), "{w}");
        }
        for w in no {
            assert!(!Where::parse(w).unwrap().matches(&meta), "{w}");
        }
    }

    #[test]
    fn since_takes_dates_times_and_ages() {
        assert_eq!(parse_since("2025-11-07", 0).unwrap(), 1762473600);
        assert_eq!(parse_since("2025-11-07T14:30:00Z", 0).unwrap(), 1762525800);
        assert_eq!(parse_since("2d", 1_000_000).unwrap(), 1_000_000 - 172_800);
        assert!(parse_since("yesterday", 0).is_err());
        assert!(parse_since("3y", 0).is_err());
    }

    #[test]
    fn since_an_age_too_long_for_a_timestamp_is_refused_not_overflowed() {
        assert!(parse_since("9223372036854775807m", 1_700_000_000).is_err());
        assert!(parse_since("9223372036854775807s", 1_700_000_000).is_ok());
        assert!(parse_since("15250284452472w", 0).is_err());
        assert!(parse_since("1s", i64::MIN).is_err());
        assert_eq!(parse_since("0s", i64::MIN).unwrap(), i64::MIN);
    }

    #[test]
    fn where_prints_back_to_the_filter_it_parsed() {
        for text in ["a.b>=0.5", " k = v ", "x!=y", "n<-1", "a. b<=1e3"] {
            let w = Where::parse(text).unwrap();
            assert_eq!(Where::parse(&w.to_string()).unwrap(), w, "{text:?}");
        }
        // A value is trimmed first; one that then starts with an operator is a doubled one.
        assert!(Where::parse("a= =1").is_err());
        assert!(Where::parse("a< >1").is_err());
    }

    #[test]
    fn where_refuses_what_it_cannot_compare_with_an_example() {
        let empty = Where::parse("test_metrics.win_rate>=")
            .unwrap_err()
            .to_string();
        assert!(empty.contains("nothing to compare"), "{empty}");
        assert!(
            empty.contains("--where 'test_metrics.win_rate>=0.5'"),
            "{empty}"
        );
        let text = Where::parse("test_metrics.win_rate>=abc")
            .unwrap_err()
            .to_string();
        assert!(text.contains("\"abc\" is not one"), "{text}");
        assert!(
            text.contains("--where 'test_metrics.win_rate>=0.5'"),
            "{text}"
        );
        for op in ["<", "<=", ">"] {
            assert!(Where::parse(&format!("k{op}x")).is_err(), "{op}");
        }
        assert_eq!(Where::parse("k=abc").unwrap().value, "abc");
        assert_eq!(Where::parse("k!=abc").unwrap().value, "abc");
        assert_eq!(Where::parse("k>-1.5e3").unwrap().value, "-1.5e3");
    }

    #[test]
    fn the_nearest_key_is_a_suffix_first_then_a_close_spelling() {
        let keys: Vec<String> = [
            "test_metrics",
            "test_metrics.net_pnl",
            "test_metrics.win_rate",
            "llm_version",
            "agent_version",
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
        let near = |k: &str| nearest_key(k, &keys);
        assert_eq!(near("net_pnl").as_deref(), Some("test_metrics.net_pnl"));
        assert_eq!(near("win_rate").as_deref(), Some("test_metrics.win_rate"));
        assert_eq!(near("llm_verison").as_deref(), Some("llm_version"));
        assert_eq!(
            near("test_metrics.netpnl").as_deref(),
            Some("test_metrics.net_pnl")
        );
        assert_eq!(near("winrate").as_deref(), Some("test_metrics.win_rate"));
        assert_eq!(near("zzz"), None);
    }
}
