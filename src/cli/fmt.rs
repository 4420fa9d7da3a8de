//! Human formatting: aligned tables, short shas, ages and dates, byte sizes, counts.

/// Formats rows as columns separated by two spaces, each padded to its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = vec![line(header.to_vec())];
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

/// Returns the first 12 hex digits of a sha.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Formats the age of a unix time: `42s ago`, `5m ago`, `3h ago`, `6d ago`, and beyond a
/// week the UTC date (`2025-03-04`), which says more than `553d ago`.
pub fn ago(unix: i64) -> String {
    let now = std::env::var("ARTIFACT_STORE_NOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp());
    let secs = (now - unix).max(0);
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        86_400..WEEK => format!("{}d ago", secs / 86_400),
        _ => date(unix),
    }
}

/// Seconds in a week: older times print as dates.
const WEEK: i64 = 7 * 86_400;

/// Formats a unix time as its UTC date, `2025-03-04`.
pub fn date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| unix.to_string())
}

/// Formats a count with thousands separators: `1,234,567`.
pub fn thousands(n: impl Into<u64>) -> String {
    let digits = n.into().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats a count and its noun, singular for one: `1 tag`, `2 tags`, `1,024 files`.
pub fn count(n: usize, noun: &str) -> String {
    count_as(n, noun, &format!("{noun}s"))
}

/// Formats a count and its noun with an irregular plural: `1 batch`, `3 batches`.
pub fn count_as(n: usize, singular: &str, plural: &str) -> String {
    let noun = if n == 1 { singular } else { plural };
    format!("{} {noun}", thousands(n as u64))
}

/// Formats a byte count as `1.2 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Quotes `arg` for a POSIX shell when it holds anything but plain characters: `a b` as
/// `'a b'`, `it's` as `'it'\''s'`.
pub fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', "'\\''"))
}

/// Formats a JSON scalar for a table cell.
pub fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_plural_only_when_not_one() {
        assert_eq!(count(0, "tag"), "0 tags");
        assert_eq!(count(1, "tag"), "1 tag");
        assert_eq!(count(2, "problem"), "2 problems");
        assert_eq!(count_as(1, "batch", "batches"), "1 batch");
        assert_eq!(count_as(12_345, "batch", "batches"), "12,345 batches");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0u64), "0");
        assert_eq!(thousands(999u64), "999");
        assert_eq!(thousands(1000u64), "1,000");
        assert_eq!(thousands(1_234_567u64), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("retention.toml"), "retention.toml");
        assert_eq!(shell_quote("my policy.toml"), "'my policy.toml'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn ages_beyond_a_week_are_dates() {
        assert_eq!(date(1_741_046_400), "2025-03-04");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(178 << 20), "178.0 MiB");
    }
}
