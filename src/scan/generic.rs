//! Checks of generic assignments (`api_key = ...`, `password: ...`): the name must end in
//! a secret noun of the rule's family and the value must not be a look-alike.

use super::checks::{self, ident_words, Candidate};
use super::lookalike::{is_lookalike, is_snake_identifier};

/// The kind of secret a generic rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    ApiKey,
    SecretKey,
    Password,
    Token,
}

/// Words that, anywhere in a name, mark a value that is not a secret (pagination tokens,
/// token counts, public keys, hashes, lengths, ...).
const QUALIFIERS: &[&str] = &[
    "public",
    "pub",
    "publishable",
    "csrf",
    "xsrf",
    "next",
    "page",
    "continuation",
    "cursor",
    "pagination",
    "sync",
    "sequence",
    "schema",
    "bucket",
    "foreign",
    "primary",
    "natural",
    "hot",
    "idx",
    "index",
    "partition",
    "sort",
    "cache",
    "cached",
    "idempotency",
    "dedup",
    "dedupe",
    "lookup",
    "max",
    "min",
    "num",
    "count",
    "total",
    "input",
    "output",
    "prompt",
    "completion",
    "reasoning",
    "special",
    "pad",
    "bos",
    "eos",
    "unk",
    "sep",
    "cls",
    "mask",
    "example",
    "sample",
    "dummy",
    "fake",
    "mock",
    "placeholder",
    "hash",
    "checksum",
    "digest",
    "fingerprint",
    "length",
    "size",
    "type",
    "format",
    "version",
    "prefix",
    "suffix",
    "i18n",
    "translation",
    "validation",
    "regex",
    "pattern",
    "label",
    "hint",
    "expected",
    "expires",
    "expiry",
    "ttl",
];

/// Single words ending in `key` that name keys (a name like `hubspotKey` splits into
/// words on its own; other words ending in `key`, like `monkey`, are not keys).
const KEY_WORDS: &[&str] = &[
    "key",
    "apikey",
    "accesskey",
    "appkey",
    "authkey",
    "clientkey",
    "devkey",
    "licensekey",
    "restkey",
    "servicekey",
    "userkey",
    "writekey",
    "readkey",
    "ingestkey",
    "deploykey",
    "hmackey",
];

/// Single words that name secret keys.
const SECRET_KEY_WORDS: &[&str] = &[
    "secretkey",
    "privatekey",
    "signingkey",
    "encryptionkey",
    "masterkey",
];

/// Returns whether `ident` names a secret of `family`.
pub(crate) fn names_secret(ident: &str, family: Family) -> bool {
    let words = ident_words(ident);
    let Some(last) = words.last().map(String::as_str) else {
        return false;
    };
    if words.iter().any(|w| QUALIFIERS.contains(&w.as_str())) {
        return false;
    }
    let prev = words.len().checked_sub(2).map(|i| words[i].as_str());
    let keyed_secret = matches!(
        prev,
        Some("secret" | "private" | "signing" | "encryption" | "master")
    );
    match family {
        Family::ApiKey => {
            KEY_WORDS.contains(&last) && !(last == "key" && (words.len() == 1 || keyed_secret))
        }
        Family::SecretKey => {
            last.ends_with("secret")
                || (last == "key" && keyed_secret)
                || SECRET_KEY_WORDS.contains(&last)
        }
        Family::Password => {
            [
                "password",
                "passwd",
                "pwd",
                "pass",
                "pw",
                "passphrase",
                "passcode",
            ]
            .contains(&last)
                || ["password", "passwd", "passphrase"]
                    .iter()
                    .any(|n| last.ends_with(n))
        }
        Family::Token => {
            (last.ends_with("token") && last != "jsonwebtoken")
                || last.ends_with("auth")
                || ["credential", "credentials", "creds", "bearer"].contains(&last)
        }
    }
}

/// The longest value a generic rule reports; longer ones are data, not credentials.
const MAX_VALUE: usize = 200;

fn generic(c: &Candidate<'_>, family: Family) -> bool {
    (family == Family::Password || !is_snake_identifier(c.secret))
        && (c.quoted || !c.source_code)
        && c.secret.len() <= MAX_VALUE
        // Code expressions: `_private_name`, `*pointer`, `&reference`.
        && !c.secret.starts_with(['_', '*', '&'])
        && c.ident.is_some_and(|ident| names_secret(ident, family))
        && !is_lookalike(c.secret)
}

/// Check of `generic-api-key`.
pub(crate) fn api_key(c: &Candidate<'_>) -> bool {
    generic(c, Family::ApiKey)
}

/// Check of `generic-secret-key`.
pub(crate) fn secret_key(c: &Candidate<'_>) -> bool {
    generic(c, Family::SecretKey)
}

/// Check of `generic-password`.
pub(crate) fn password(c: &Candidate<'_>) -> bool {
    generic(c, Family::Password)
}

/// Check of `generic-token`.
pub(crate) fn token(c: &Candidate<'_>) -> bool {
    generic(c, Family::Token)
}

/// Check of secrets in URL query strings: any secret family, or `key`/`sig`/`signature`.
pub(crate) fn url_query(c: &Candidate<'_>) -> bool {
    let Some(ident) = c.ident else {
        return false;
    };
    let families = [
        Family::ApiKey,
        Family::SecretKey,
        Family::Password,
        Family::Token,
    ];
    let last = ident_words(ident).pop().unwrap_or_default();
    (families.iter().any(|&f| names_secret(ident, f))
        || ["key", "sig", "signature"].contains(&last.as_str()))
        && c.secret.len() <= MAX_VALUE * 4
        && !is_lookalike(c.secret)
}

/// Check of credentials in URLs and `curl -u`: the password must not be a placeholder, a
/// variable, a common default, nor equal to the user name, and the host must not be a
/// documentation host (`example.com`).
pub(crate) fn credential(c: &Candidate<'_>) -> bool {
    let pass = c.secret;
    let host = c
        .matched
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let documentation_host = host.starts_with("example.") || host.contains(".example.");
    let same_as_user = c.ident.is_some_and(|user| user.eq_ignore_ascii_case(pass));
    !(documentation_host || same_as_user || is_weak_password(pass))
}

/// Returns whether a password is too short, one repeated character, a variable or
/// template reference, a placeholder, or a common default such as `admin123`.
fn is_weak_password(pass: &str) -> bool {
    let letters = pass
        .chars()
        .filter(|ch| ch.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    let first = pass.chars().next().unwrap_or(' ');
    pass.chars().count() < 4
        || pass.chars().all(|ch| ch == first)
        || matches!(first, '$' | '%' | '<' | '[' | '*')
        || pass.starts_with("{{")
        || (letters.len() * 2 >= pass.len() && is_common_word(&letters))
        || checks::is_placeholder(pass)
}

fn is_common_word(letters: &str) -> bool {
    const DEFAULTS: &[&str] = &[
        "pass", "password", "passwd", "pwd", "secret", "token", "test", "admin", "root", "guest",
        "user", "username", "changeme", "changeit", "example", "postgres", "mysql", "redis",
        "rabbitmq", "mongo", "default", "demo", "sample", "dummy", "foo", "bar", "xxx", "yyy",
        "apikey",
    ];
    DEFAULTS.contains(&letters)
}

/// Check of HTTP authorization headers: like generic values, but UUIDs are allowed.
pub(crate) fn header_value(c: &Candidate<'_>) -> bool {
    checks::is_uuid(c.secret) || !is_lookalike(c.secret)
}

/// Returns whether an assignment operator can follow the name holding the keyword hit
/// that starts at `start`; it mirrors the regex of generic assignments, so it never
/// rejects a hit the regex would match. `min` is the shortest value the rule accepts.
#[cfg(test)]
pub(crate) fn assignment_follows(data: &[u8], start: usize, min: usize) -> bool {
    HitMemo::default().assignment_follows(data, start, min)
}

/// What the hit filters learnt from earlier hits of one blob. Hits come in increasing
/// order, and every hit inside one name shares that name's end and what follows it, so a
/// name holding many keywords (`token_secret_password_...`) is read once, not once per
/// keyword: without this, such a name cost time quadratic in its length.
#[derive(Debug, Default)]
pub(crate) struct HitMemo {
    /// `start..end` of the last name read: name bytes up to `end`, which is not one.
    name: Option<(usize, usize)>,
    /// The answers for that name, by shortest value accepted.
    answers: Vec<(usize, bool)>,
    /// Bytes read looking for name ends, so far (tests check it stays linear).
    read: usize,
}

impl HitMemo {
    /// [`assignment_follows`], remembering the answer for every hit in the same name.
    pub(crate) fn assignment_follows(&mut self, data: &[u8], start: usize, min: usize) -> bool {
        let end = match self.name {
            Some((from, end)) if from <= start && start <= end => end,
            _ => {
                let end = start
                    + data[start.min(data.len())..]
                        .iter()
                        .take_while(|&&b| is_name_byte(b))
                        .count();
                self.read += end - start;
                self.name = Some((start, end));
                self.answers.clear();
                end
            }
        };
        if let Some(&(_, answer)) = self.answers.iter().find(|(m, _)| *m == min) {
            return answer;
        }
        let answer = operator_follows(data, end, min);
        self.answers.push((min, answer));
        answer
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Returns whether an assignment operator follows the name that ends at `i`.
fn operator_follows(data: &[u8], mut i: usize, min: usize) -> bool {
    let at = |i: usize| data.get(i).copied().unwrap_or(b'\n');
    let blank = |b: u8| b == b' ' || b == b'\t';
    if at(i) == b'\\' {
        i += 1;
    }
    if matches!(at(i), b'"' | b'\'' | b'`' | b']') {
        i += 1;
    }
    while blank(at(i)) {
        i += 1;
    }
    if at(i).is_ascii_alphabetic() {
        while at(i).is_ascii_alphanumeric() || at(i) == b'_' {
            i += 1;
        }
        while blank(at(i)) {
            i += 1;
        }
    }
    match at(i) {
        b':' | b'=' | b'?' | b'.' | b'|' | b'>' => true,
        b',' => {
            i += 1;
            while blank(at(i)) {
                i += 1;
            }
            let quote = at(i);
            matches!(quote, b'"' | b'\'')
                && data[(i + 1).min(data.len())..]
                    .iter()
                    .take(min)
                    .take_while(|&&b| b != quote && !b.is_ascii_whitespace() && b != b'\\')
                    .count()
                    >= min
        }
        _ => false,
    }
}

/// Hit filter of generic rules whose values have at least 12 characters.
pub(crate) fn follows_12(data: &[u8], start: usize, _end: usize, memo: &mut HitMemo) -> bool {
    memo.assignment_follows(data, start, 12)
}

/// Hit filter of generic rules whose values have at least 6 characters.
pub(crate) fn follows_6(data: &[u8], start: usize, _end: usize, memo: &mut HitMemo) -> bool {
    memo.assignment_follows(data, start, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified_by_their_last_word() {
        assert!(names_secret("OPENAI_API_KEY", Family::ApiKey));
        assert!(names_secret("hubspotKey", Family::ApiKey));
        assert!(!names_secret("key", Family::ApiKey));
        assert!(!names_secret("secret_key", Family::ApiKey));
        assert!(names_secret("secret_key", Family::SecretKey));
        assert!(names_secret("client_secret", Family::SecretKey));
        assert!(names_secret("DB_PASSWORD", Family::Password));
        assert!(names_secret("db_pass", Family::Password));
        assert!(!names_secret("bypass", Family::Password));
        assert!(!names_secret("crc-16-buypass", Family::Password));
        assert!(names_secret("adminpassword", Family::Password));
        assert!(names_secret("apikey", Family::ApiKey));
        assert!(!names_secret("int_aarch64_crypto_sm4ekey", Family::ApiKey));
        assert!(is_snake_identifier("gss_krb5_rfc1964_keydata"));
        assert!(names_secret("access_token", Family::Token));
        assert!(names_secret("user_auth", Family::Token));
        assert!(!names_secret("max_tokens", Family::Token));
        assert!(!names_secret("max_token", Family::Token));
        assert!(!names_secret("next_token", Family::Token));
        assert!(!names_secret("token_count", Family::Token));
        assert!(!names_secret("public_key", Family::ApiKey));
        assert!(!names_secret("monkey", Family::ApiKey));
    }

    #[test]
    fn a_name_holding_many_keywords_is_read_once_not_once_per_keyword() {
        let mut text = "token_secret_".repeat(20_000);
        text.push_str("password = 'abcdefghijklmnop'\n");
        text.push_str(&"api_token ".repeat(1000));
        let data = text.as_bytes();
        let mut memo = HitMemo::default();
        let hits: Vec<usize> = ["token", "secret", "password"]
            .iter()
            .flat_map(|k| text.match_indices(k).map(|(i, _)| i))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert!(hits.len() > 40_000);
        for &start in &hits {
            for min in [12, 6] {
                let remembered = memo.assignment_follows(data, start, min);
                if start % 1009 == 0 || start > 20_000 * 13 {
                    assert_eq!(
                        remembered,
                        assignment_follows(data, start, min),
                        "at {start}"
                    );
                }
            }
        }
        assert!(
            memo.read <= data.len(),
            "{} bytes read of {}",
            memo.read,
            data.len()
        );
        assert!(memo.assignment_follows(data, 0, 12));
    }

    #[test]
    fn hit_filter_accepts_assignments_only() {
        let accepts = |text: &str, keyword: &str| {
            let start = text.find(keyword).unwrap_or(0);
            assignment_follows(text.as_bytes(), start, 12)
        };
        assert!(accepts("api_token = 'x'", "token"));
        assert!(accepts("\"token\": 1", "token"));
        assert!(accepts("var genericToken string = \"v\"", "Token"));
        assert!(accepts("<genericToken>", "Token"));
        assert!(accepts(
            "setProperty(\"A_TOKEN\", \"abcdefghijkl\")",
            "TOKEN"
        ));
        assert!(!accepts("setProperty(\"A_TOKEN\", \"\")", "TOKEN"));
        assert!(!accepts("token refreshed", "token"));
        assert!(!accepts("os.environ.get(\"API_TOKEN\", \"\")", "TOKEN"));
        assert!(accepts("api_key=abcdefghijkl", "key="));
    }
}
