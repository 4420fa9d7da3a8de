//! Look-alike values of generic assignments: placeholders, variable and code references,
//! numbers, UUIDs, paths, URLs, hashes, versions, e-mail addresses and plain words.

use super::checks::{is_placeholder, is_uuid};

/// Values that are common defaults or words rather than secrets.
const WORDS: &[&str] = &[
    "test",
    "testing",
    "tests",
    "password",
    "passwd",
    "pass",
    "secret",
    "token",
    "key",
    "apikey",
    "admin",
    "root",
    "user",
    "username",
    "guest",
    "default",
    "changeme",
    "changeit",
    "example",
    "dummy",
    "none",
    "null",
    "nil",
    "true",
    "false",
    "undefined",
    "empty",
    "foo",
    "bar",
    "baz",
    "foobar",
    "qwerty",
    "letmein",
    "welcome",
    "value",
    "string",
    "mysecret",
    "mypassword",
    "secretkey",
    "accesstoken",
    "postgres",
    "mysql",
    "redis",
    "sample",
    "demo",
    "abc",
    "abcdef",
    "abcdefgh",
    "xyz",
    "temp",
    "tmp",
    "placeholder",
    "redacted",
    "hidden",
    "masked",
    "private",
];

/// Substrings that mark a generic value as a placeholder.
const MARKERS: &[&str] = &[
    "changeme",
    "change_me",
    "changeit",
    "redacted",
    "placeholder",
    "your_",
    "your-",
    "yourkey",
    "yourtoken",
    "yourpass",
    "yoursecret",
    "yourapi",
    "example",
    "dummy",
    "sample",
    "replace",
    "insert",
    "_here",
    "-here",
    "fixme",
    "todo",
    "notreal",
    "not_real",
    "not-real",
    "fake",
    "abcdefghij",
    "0123456789",
    "1234567890",
    "secret_key",
    "api_key",
    "access_token",
];

/// Returns whether a generic value looks like anything but a secret: a placeholder, a
/// variable or code reference, a number, a UUID, a path, a URL, a hash or a plain word.
pub(crate) fn is_lookalike(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let letters: String = lower.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    is_placeholder(value)
        || MARKERS.iter().any(|m| lower.contains(m))
        || WORDS.contains(&letters.as_str())
        || is_uuid(value)
        || value
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b"_.-=".contains(&b))
        || is_number(value)
        || has_format_directive(value)
        || is_email(value)
        || is_slashed_words(value)
        || is_env_name(value)
        || is_reference(&lower)
        || is_pathlike(&lower)
        || has_version_number(value)
}

/// Returns whether `s` holds a dotted version number such as `0.11.2`.
fn has_version_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let mut parts = 0;
        let mut j = i;
        loop {
            let start = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j == start {
                break;
            }
            parts += 1;
            if j < b.len() && b[j] == b'.' {
                j += 1;
            } else {
                break;
            }
        }
        if parts >= 3 {
            return true;
        }
        i = j.max(i + 1);
    }
    false
}

/// Returns whether `s` is a number: decimal, float, or a hex literal, with an optional
/// type suffix (`4096`, `-1.5e3`, `0xC0000022`, `248u32`).
fn is_number(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let body = strip_numeric_suffix(body);
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit() || b == b'_');
    }
    body.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b"_.eE+-".contains(&b))
}

/// Strips a numeric literal's type suffix (`i32`, `usize`, `f64`, `UL`, ...).
fn strip_numeric_suffix(s: &str) -> &str {
    const SUFFIXES: [&str; 20] = [
        "i128", "u128", "isize", "usize", "i64", "u64", "i32", "u32", "i16", "u16", "i8", "u8",
        "f64", "f32", "ull", "ul", "ll", "l", "u", "f",
    ];
    let lower = s.to_ascii_lowercase();
    SUFFIXES
        .iter()
        .find(|suffix| lower.len() > suffix.len() && lower.ends_with(*suffix))
        .map_or(s, |suffix| &s[..s.len() - suffix.len()])
}

/// Returns whether `s` holds a printf-style directive such as `%s` or `%0.f`.
fn has_format_directive(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'%' && {
            let rest = &b[i + 1..];
            let flags = rest
                .iter()
                .take_while(|&&x| x.is_ascii_digit() || b"-+ #.".contains(&x))
                .count();
            rest.get(flags)
                .is_some_and(|x| b"sdifFeEgGxXoucbrq".contains(x))
        }
    })
}

/// Returns whether `s` is a snake- or kebab-case identifier of three or more short
/// lowercase parts, such as `gss_krb5_rfc1964_keydata` (a name, unless it is a password:
/// passphrases look the same).
pub(crate) fn is_snake_identifier(s: &str) -> bool {
    let parts: Vec<&str> = s.split(['_', '-']).collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 12
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Returns whether `s` is an e-mail address.
fn is_email(s: &str) -> bool {
    let Some((user, domain)) = s.split_once('@') else {
        return false;
    };
    let part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
    };
    part(user) && part(domain) && domain.contains('.') && !domain.contains('@')
}

/// Returns whether `s` is words joined by `/`, such as `kadmin/server` or `a/b/c`.
fn is_slashed_words(s: &str) -> bool {
    s.contains('/')
        && s.split('/').all(|part| {
            part.bytes()
                .all(|b| b.is_ascii_alphabetic() || b"_.-".contains(&b))
        })
}

/// Returns whether `s` has the shape of an environment variable name (`API_KEY_2`).
fn is_env_name(s: &str) -> bool {
    s.contains('_')
        && s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Returns whether a lowercase value references a variable, a call or a hash digest.
fn is_reference(lower: &str) -> bool {
    const PREFIXES: [&str; 12] = [
        "$",
        "%",
        "env.",
        "env(",
        "process.env",
        "os.environ",
        "os.getenv",
        "self.",
        "this.",
        "sha256:",
        "sha1:",
        "md5:",
    ];
    PREFIXES.iter().any(|p| lower.starts_with(p))
        || lower.contains("://")
        || lower.starts_with("sha512-")
        || lower.starts_with("sha384-")
        || is_dotted_words(lower)
}

/// Returns whether `s` is a dotted path of identifiers ending in a word, such as
/// `settings.api_key2` or `win32api.RegEnumKey` (a random last part, as in `s.Zc9Ef4`,
/// is not a word).
fn is_dotted_words(s: &str) -> bool {
    let identifier = |part: &str| {
        part.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let word = |part: &str| {
        let word = part.trim_end_matches(|c: char| c.is_ascii_digit());
        !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
    };
    s.contains('.') && s.split('.').all(identifier) && s.rsplit('.').next().is_some_and(word)
}

/// Returns whether a lowercase value is a file path rather than a secret.
fn is_pathlike(lower: &str) -> bool {
    const EXTENSIONS: [&str; 14] = [
        ".pem", ".key", ".txt", ".json", ".yaml", ".yml", ".crt", ".cer", ".p12", ".pfx", ".env",
        ".cfg", ".conf", ".ini",
    ];
    lower.starts_with('/')
        || lower.starts_with("./")
        || lower.starts_with("../")
        || lower.starts_with("~/")
        || EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes_are_recognised() {
        for value in [
            "process.env.API_KEY",
            "os.environ",
            "${API_KEY}",
            "$TOKEN",
            "4096",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "your_api_key_here",
            "changeme",
            "REDACTED",
            "********",
            "xxxxxxxxxxxx",
            "sha256:0f8fad5bd9cb469fa16570867728950e",
            "api_key",
            "password",
            "API_KEY_2",
            "/etc/ssl/private.key",
            "https://example.org/a",
            "0xC0000022",
            "-2147024891i32",
            "248u32",
            "1.5e-3",
            "win32api.RegEnumKey",
            "VS%0.f0COMNTOOLS",
            "anonymous@domain.org",
            "kadmin/server",
        ] {
            assert!(is_lookalike(value), "{value} should be a look-alike");
        }
        for value in [
            "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB",
            "thisIsDog11",
            "s.ZC9Ecf4M5g9o34Q6RkzGsj0z",
        ] {
            assert!(!is_lookalike(value), "{value} should not be a look-alike");
        }
    }
}
