//! The unescaped view of a blob: JSON's (and JavaScript's, Python's, Java's) `\uXXXX`
//! escapes and `\/` replaced by the characters they stand for, so that `"ghp_\u0041..."`,
//! a token escaped character by character and `https:\/\/hooks.slack.com\/...` are
//! scanned as the text a JSON reader gets.
//!
//! `\\` is an escaped backslash and is kept (with what follows it) as it is. Escapes of
//! control characters and of U+2028/U+2029 stay escaped, so the view has the blob's lines;
//! a surrogate pair `\uD83D\uDE00` is one character, a lone surrogate U+FFFD. Offsets in
//! the view map back to the blob, so findings are located in the blob as written.

use std::sync::OnceLock;

use regex::bytes::Regex;

/// A blob's unescaped text and the map from its offsets back to the blob's.
pub(crate) struct Unescaped {
    pub text: Vec<u8>,
    /// `(view offset, blob offset)` at each point where the two shift against each other,
    /// in increasing order; between anchors both advance together.
    anchors: Vec<(usize, usize)>,
}

impl Unescaped {
    /// Returns the blob offset of view offset `at` (an offset inside a replaced escape maps
    /// into that escape).
    pub fn to_blob(&self, at: usize) -> usize {
        let i = self.anchors.partition_point(|&(view, _)| view <= at);
        match i.checked_sub(1).map(|i| self.anchors[i]) {
            Some((view, blob)) => blob + (at - view),
            None => at,
        }
    }
}

fn escapes() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\\(?:\\|/|u[0-9A-Fa-f]{4})").unwrap_or_else(|e| panic!("escape regex: {e}"))
    })
}

fn hex4(bytes: &[u8]) -> Option<u16> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| u16::from_str_radix(s, 16).ok())
}

/// Returns whether a decoded character may replace its escape in the view: not a control
/// character nor a line or paragraph separator, so the view keeps the blob's lines.
fn replaceable(ch: char) -> bool {
    !ch.is_control() && ch != '\u{2028}' && ch != '\u{2029}'
}

/// Returns the unescaped view of `data`, or `None` when it holds no escape to replace.
pub(crate) fn view(data: &[u8]) -> Option<Unescaped> {
    let re = escapes();
    let mut found = re.find_iter(data).peekable();
    let mut text = Vec::new();
    let mut anchors = Vec::new();
    let mut copied = 0;
    while let Some(m) = found.next() {
        let (start, mut end) = (m.start(), m.end());
        let ch = match m.as_bytes().get(1) {
            Some(b'/') => '/',
            Some(b'u') => {
                let Some(unit) = hex4(&m.as_bytes()[2..]) else {
                    continue;
                };
                match unit {
                    0xD800..=0xDBFF => {
                        let low = found
                            .peek()
                            .filter(|next| {
                                next.start() == end && next.as_bytes().get(1) == Some(&b'u')
                            })
                            .and_then(|next| hex4(&next.as_bytes()[2..]))
                            .filter(|low| (0xDC00..=0xDFFF).contains(low));
                        match low {
                            Some(low) => {
                                end = found.next().map_or(end, |next| next.end());
                                let code = 0x10000
                                    + ((u32::from(unit) - 0xD800) << 10)
                                    + (u32::from(low) - 0xDC00);
                                char::from_u32(code).unwrap_or('\u{FFFD}')
                            }
                            None => '\u{FFFD}',
                        }
                    }
                    _ => char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}'),
                }
            }
            // `\\`: an escaped backslash, kept.
            _ => continue,
        };
        if !replaceable(ch) {
            continue;
        }
        if text.capacity() == 0 {
            text.reserve(data.len());
        }
        text.extend_from_slice(&data[copied..start]);
        anchors.push((text.len(), start));
        let mut buf = [0u8; 4];
        text.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        anchors.push((text.len(), end));
        copied = end;
    }
    if anchors.is_empty() {
        return None;
    }
    text.extend_from_slice(&data[copied..]);
    Some(Unescaped { text, anchors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_replaced_and_offsets_map_back() {
        let data = br#"{"k": "ab\u0063d\/e\\u0041 \ud83d\ude00!\u000a"}"#;
        let v = view(data).unwrap_or_else(|| panic!("escapes present"));
        assert_eq!(
            String::from_utf8_lossy(&v.text),
            "{\"k\": \"abcd/e\\\\u0041 \u{1F600}!\\u000a\"}"
        );
        let d = v.text.iter().position(|&b| b == b'd').unwrap_or(0);
        assert_eq!(data[v.to_blob(d)], b'd');
        let bang = v.text.iter().position(|&b| b == b'!').unwrap_or(0);
        assert_eq!(data[v.to_blob(bang)], b'!');
        assert_eq!(v.to_blob(0), 0);
        assert!(view(br#"plain \\u0041 \n text"#).is_none());
        assert!(view(b"\\uZZZZ").is_none());
    }
}
