//! Post-match checks that tell secrets from look-alikes: placeholders, variable references,
//! UUIDs, numbers, hashes and the names that generic assignments are made to.

use super::known::is_known_public;

/// What a rule matched: the secret and, for assignments, the name it is assigned to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub secret: &'a str,
    pub ident: Option<&'a str>,
    /// The whole match, context included.
    pub matched: &'a str,
    /// The secret sits between matching quotes.
    pub quoted: bool,
    /// The blob is program source, where unquoted values are expressions, not literals.
    pub source_code: bool,
}

/// File extensions of program source (shell scripts excluded: they assign bare words).
const SOURCE_EXTENSIONS: &[&str] = &[
    "rs", "py", "pyi", "pyx", "js", "jsx", "mjs", "cjs", "ts", "tsx", "go", "java", "kt", "kts",
    "scala", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "cs", "rb", "php", "swift", "m", "mm", "r",
    "jl", "lua", "pl", "pm", "dart", "ex", "exs", "erl", "hs", "ml", "fs", "vb", "groovy", "zig",
];

/// Returns whether `path` names program source.
pub(crate) fn is_source_path(path: &str) -> bool {
    let name = path.rsplit(['/', '\\', ':']).next().unwrap_or(path);
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        SOURCE_EXTENSIONS
            .iter()
            .any(|e| ext.eq_ignore_ascii_case(e))
    })
}

/// Keeps every candidate.
pub(crate) fn any(_: &Candidate<'_>) -> bool {
    true
}

/// Keeps candidates that are not obvious placeholders (`xxxx`, `****`, `...EXAMPLE`).
pub(crate) fn plain(c: &Candidate<'_>) -> bool {
    !is_placeholder(c.secret)
}

/// Keeps non-placeholder candidates that mix upper- and lower-case letters.
pub(crate) fn mixed_case(c: &Candidate<'_>) -> bool {
    plain(c)
        && c.secret.bytes().any(|b| b.is_ascii_uppercase())
        && c.secret.bytes().any(|b| b.is_ascii_lowercase())
}

/// Keeps candidates that hold at least one digit and are not placeholders.
pub(crate) fn with_digit(c: &Candidate<'_>) -> bool {
    plain(c) && c.secret.bytes().any(|b| b.is_ascii_digit())
}

/// Keeps a value assigned to a name that always holds a credential: not a placeholder,
/// quoted in program source (where a bare word is an expression), and not a plain
/// lower-case word or identifier.
pub(crate) fn assigned_value(c: &Candidate<'_>) -> bool {
    plain(c)
        && (c.quoted || !c.source_code)
        && !c
            .secret
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Returns whether `s` is an obvious placeholder or documented example value.
pub(crate) fn is_placeholder(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    const MARKS: [&str; 8] = [
        "xxxx",
        "****",
        "####",
        "....",
        "<",
        "${",
        "{{",
        "examplekey",
    ];
    MARKS.iter().any(|m| lower.contains(m))
        || s.ends_with("EXAMPLE")
        || is_known_public(s)
        || dominated_by_one_char(s)
}

/// Returns whether one character makes up at least 60% of a string of 8 or more.
fn dominated_by_one_char(s: &str) -> bool {
    if s.len() < 8 {
        return false;
    }
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    counts.iter().any(|&n| n * 10 >= s.len() * 6)
}

/// Returns whether `s` is a UUID.
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Splits an identifier into lowercase words at `_`, `.`, `-` and camelCase boundaries.
pub(crate) fn ident_words(ident: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = ident.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            push_word(&mut words, &mut current);
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let lower_to_upper = prev.is_some_and(|p| p.is_ascii_lowercase()) && c.is_ascii_uppercase();
        let acronym_end = prev.is_some_and(|p| p.is_ascii_uppercase())
            && c.is_ascii_uppercase()
            && next.is_some_and(|n| n.is_ascii_lowercase());
        if lower_to_upper || acronym_end {
            push_word(&mut words, &mut current);
        }
        current.push(c.to_ascii_lowercase());
    }
    push_word(&mut words, &mut current);
    words
}

fn push_word(words: &mut Vec<String>, current: &mut String) {
    let word = current.trim_end_matches(|c: char| c.is_ascii_digit());
    if !word.is_empty() {
        words.push(word.to_string());
    }
    current.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ident_words_split_snake_camel_and_acronyms() {
        assert_eq!(
            ident_words("AmazonBedrockAPIKeyToken"),
            ["amazon", "bedrock", "api", "key", "token"]
        );
        assert_eq!(
            ident_words("X-Octopus-ApiKey"),
            ["x", "octopus", "api", "key"]
        );
        assert_eq!(ident_words("bot_token1"), ["bot", "token"]);
        assert_eq!(
            ident_words("AWS_SECRET_ACCESS_KEY"),
            ["aws", "secret", "access", "key"]
        );
    }
}
