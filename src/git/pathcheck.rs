//! The names and contents git refuses in a tree, checked before anything is written.
//!
//! Every path the store puts into a tree goes through here, from input collection and
//! again where a tree is built from names, so the rules are applied once for every way in
//! (command line, [`crate::CommitRequest`], batch commit, subscriber). The rules follow
//! git's own `fsck` (`fsck_tree`, `fsck_gitmodules`, `fsck_gitattributes`), its `path.c`
//! (`is_ntfs_dotgit`, `is_ntfs_dot_generic`) and `utf8.c` (`is_hfs_dotgit`), so that what
//! the store writes passes `git fsck --strict` and a remote with `receive.fsckObjects`.
//! A few rules are stricter than git, where git's leniency would let a file be dropped or
//! misread on checkout; `docs/commit.md` lists them all.
//!
//! Messages name the path (escaped) and the rule, never a file's content.

use crate::error::{Error, Result};

/// Longest name of one path component, in bytes (ext4, APFS and NTFS all stop at 255).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Longest path in the repository tree, in bytes, artifact directory included.
pub const MAX_PATH_BYTES: usize = 1024;
/// git refuses a `.gitattributes` line of this many bytes or more (`ATTR_MAX_LINE_LENGTH`).
pub const ATTR_MAX_LINE_LENGTH: usize = 2048;
/// git refuses a `.gitattributes` blob over this many bytes (`ATTR_MAX_FILE_SIZE`).
pub const ATTR_MAX_FILE_SIZE: u64 = 100 << 20;

/// A file name git reads itself, whatever its spelling on HFS+ or NTFS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `.gitmodules`: submodule names, paths and urls that git acts on.
    GitModules,
    /// `.gitattributes`.
    GitAttributes,
    /// `.gitignore`.
    GitIgnore,
    /// `.mailmap`.
    MailMap,
}

impl Special {
    /// The canonical spelling.
    pub fn name(self) -> &'static str {
        match self {
            Special::GitModules => ".gitmodules",
            Special::GitAttributes => ".gitattributes",
            Special::GitIgnore => ".gitignore",
            Special::MailMap => ".mailmap",
        }
    }
}

/// Code points HFS+ ignores when comparing names (git's `next_hfs_char`).
fn hfs_ignored(c: char) -> bool {
    matches!(
        c,
        '\u{200c}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{206a}'..='\u{206f}' | '\u{feff}'
    )
}

/// Whether HFS+ would take `name` for `.` + `needle` (ASCII, lower case): ignorable code
/// points dropped, case folded (git's `is_hfs_dot_generic`).
fn is_hfs_dot(name: &str, needle: &str) -> bool {
    let mut chars = name.chars().filter(|&c| !hfs_ignored(c));
    if chars.next() != Some('.') {
        return false;
    }
    for want in needle.chars() {
        match chars.next() {
            Some(c) if c.is_ascii() && c.to_ascii_lowercase() == want => {}
            _ => return false,
        }
    }
    chars.next().is_none()
}

/// Whether the rest of an NTFS name is only dots and spaces up to its end or an alternate
/// data stream (`:`), which NTFS drops.
fn ntfs_tail(rest: &[u8]) -> bool {
    for &c in rest {
        match c {
            b':' => return true,
            b' ' | b'.' => {}
            _ => return false,
        }
    }
    true
}

/// Whether NTFS would take `name` for `.git` (git's `is_ntfs_dotgit`): `.git` or its short
/// name `git~1`, any case, followed only by dots, spaces or an alternate stream.
fn is_ntfs_dotgit(name: &[u8]) -> bool {
    let rest = if name.len() >= 4 && name[0] == b'.' && name[1..4].eq_ignore_ascii_case(b"git") {
        &name[4..]
    } else if name.len() >= 5 && name[..5].eq_ignore_ascii_case(b"git~1") {
        &name[5..]
    } else {
        return false;
    };
    ntfs_tail(rest)
}

/// Whether NTFS would take `name` for `.` + `dotted` (git's `is_ntfs_dot_generic`): the long
/// name, its short form `dotted[..6]~1..4`, or the hashed short form `prefix~N`.
fn is_ntfs_dot(name: &[u8], dotted: &str, prefix: &str) -> bool {
    let dotted = dotted.as_bytes();
    let len = dotted.len();
    if name.len() > len && name[0] == b'.' && name[1..=len].eq_ignore_ascii_case(dotted) {
        return ntfs_tail(&name[len + 1..]);
    }
    if name.len() >= 8
        && name[..6].eq_ignore_ascii_case(&dotted[..6])
        && name[6] == b'~'
        && (b'1'..=b'4').contains(&name[7])
    {
        return ntfs_tail(&name[8..]);
    }
    let prefix = prefix.as_bytes();
    let mut saw_tilde = false;
    let mut i = 0;
    while i < 8 {
        let Some(&c) = name.get(i) else {
            return false;
        };
        if saw_tilde {
            if !c.is_ascii_digit() {
                return false;
            }
        } else if c == b'~' {
            i += 1;
            match name.get(i) {
                Some(d) if (b'1'..=b'9').contains(d) => saw_tilde = true,
                _ => return false,
            }
        } else if i >= 6 || c >= 0x80 || c.to_ascii_lowercase() != prefix[i] {
            return false;
        }
        i += 1;
    }
    ntfs_tail(&name[8.min(name.len())..])
}

/// Whether `name` is `.git` to git, HFS+ or NTFS.
pub fn is_dotgit(name: &str) -> bool {
    is_hfs_dot(name, "git") || is_ntfs_dotgit(name.as_bytes())
}

/// The file git reads itself that `name` stands for on some file system, if any.
pub fn special(name: &str) -> Option<Special> {
    let bytes = name.as_bytes();
    [
        (Special::GitModules, "gitmodules", "gi7eba"),
        (Special::GitAttributes, "gitattributes", "gi7d29"),
        (Special::GitIgnore, "gitignore", "gi250a"),
        (Special::MailMap, "mailmap", "maba30"),
    ]
    .into_iter()
    .find(|(_, dotted, prefix)| is_hfs_dot(name, dotted) || is_ntfs_dot(bytes, dotted, prefix))
    .map(|(special, _, _)| special)
}

/// Checks one name of a tree entry; returns why it is refused.
pub fn check_component(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("has an empty path component".to_string());
    }
    if name == "." || name == ".." {
        return Err(format!("has a {name:?} path component"));
    }
    if name.len() > MAX_COMPONENT_BYTES {
        return Err(format!(
            "has a name of {} bytes; at most {MAX_COMPONENT_BYTES} bytes fit in a file name",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| c == '\0' || c == '/' || c == '\\' || c.is_control())
    {
        return Err(format!(
            "has {} in a name",
            match c {
                '\0' => "a NUL byte".to_string(),
                '/' => "a '/'".to_string(),
                '\\' => "a backslash".to_string(),
                c => format!("the control character {:?}", c),
            }
        ));
    }
    if is_dotgit(name) {
        return Err(format!(
            "has {:?}, which git, HFS+ or NTFS reads as '.git'; git refuses it in a tree",
            name
        ));
    }
    if let Some(special) = special(name) {
        if name != special.name() {
            return Err(format!(
                "has {:?}, which HFS+ or NTFS reads as {}; name it {} or something else",
                name,
                special.name(),
                special.name()
            ));
        }
    }
    Ok(())
}

/// Checks every component of a `/`-separated path in the tree, and its length.
pub fn check_path(path: &str) -> Result<()> {
    if path.len() > MAX_PATH_BYTES {
        return Err(refused(
            path,
            &format!(
                "is {} bytes long; a path in the store holds at most {MAX_PATH_BYTES} bytes",
                path.len()
            ),
        ));
    }
    let mut parts = path.split('/').peekable();
    while let Some(part) = parts.next() {
        check_component(part).map_err(|why| refused(path, &why))?;
        // git fsck wants a blob wherever it finds these names (gitmodulesBlob,
        // gitattributesBlob), so neither may name a directory.
        let parsed = matches!(
            special(part),
            Some(Special::GitModules | Special::GitAttributes)
        );
        if parsed && parts.peek().is_some() {
            return Err(refused(
                path,
                &format!(
                    "has a directory named {part:?}; git fsck refuses anything but a file there"
                ),
            ));
        }
    }
    Ok(())
}

/// Checks the path of a file of `size` bytes, a symlink when `symlink`: a `.gitmodules`,
/// `.gitattributes`, `.gitignore` or `.mailmap` may not be a symlink, and the ones git
/// parses have size limits: a `.gitmodules` or `.gitattributes` above `max_parsed` bytes
/// (the size above which the caller streams a file instead of holding it) is refused.
pub fn check_entry(path: &str, symlink: bool, size: u64, max_parsed: u64) -> Result<()> {
    check_path(path)?;
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some(special) = special(name) else {
        return Ok(());
    };
    if symlink {
        return Err(refused(
            path,
            &format!(
                "is a symbolic link named {}; git refuses that",
                special.name()
            ),
        ));
    }
    // Content checks run on bytes held in memory, which a streamed file never is.
    let max = max_parsed;
    let parsed = matches!(special, Special::GitModules | Special::GitAttributes);
    if parsed && size > max {
        return Err(refused(
            path,
            &format!(
                "is {size} bytes; the store checks a {} of at most {max} bytes as git fsck does, and takes no larger one",
                special.name()
            ),
        ));
    }
    Ok(())
}

/// Checks what git parses in a file's content: `.gitmodules` (names, urls, paths, update
/// commands, syntax) and `.gitattributes` (line length). Other files pass.
pub fn check_content(path: &str, bytes: &[u8]) -> Result<()> {
    let name = path.rsplit('/').next().unwrap_or(path);
    match special(name) {
        Some(Special::GitModules) => gitmodules::check(bytes)
            .map_err(|why| refused(path, &format!("{why}; git fsck refuses such a .gitmodules"))),
        Some(Special::GitAttributes) => {
            check_gitattributes(bytes).map_err(|why| refused(path, &why))
        }
        _ => Ok(()),
    }
}

fn check_gitattributes(bytes: &[u8]) -> std::result::Result<(), String> {
    if bytes.len() as u64 > ATTR_MAX_FILE_SIZE {
        return Err(format!(
            "is over {ATTR_MAX_FILE_SIZE} bytes, which git refuses in a .gitattributes"
        ));
    }
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.len() >= ATTR_MAX_LINE_LENGTH {
            return Err(format!(
                "line {} is {} bytes; git refuses a .gitattributes line of {ATTR_MAX_LINE_LENGTH} bytes or more",
                i + 1,
                line.len()
            ));
        }
    }
    Ok(())
}

/// Checks a set of paths for entries that would collide in one tree or on checkout: the
/// same path twice, a file that another path needs as a directory, or two paths that
/// differ only in case, ignorable code points, trailing dots or spaces or a `:` stream (one
/// of them would be lost on a case-insensitive or Windows file system).
/// `reserved` are names the store writes itself at the root of the set.
pub fn check_collisions<'a>(
    paths: impl IntoIterator<Item = &'a str>,
    reserved: &[&str],
) -> Result<()> {
    use std::collections::BTreeMap;
    let mut files: BTreeMap<String, &str> = BTreeMap::new();
    let mut dirs: BTreeMap<String, &str> = BTreeMap::new();
    for name in reserved {
        files.insert(fold(name), name);
    }
    for path in paths {
        let folded = fold(path);
        if let Some(first) = files.get(&folded) {
            return Err(collision(path, first, reserved));
        }
        if let Some(first) = dirs.get(&folded) {
            return Err(Error::InvalidInput(format!(
                "artifact path {path:?} is a file, and {first:?} needs it as a directory"
            )));
        }
        let mut end = 0;
        while let Some(slash) = folded[end..].find('/') {
            let dir = &folded[..end + slash];
            if let Some(file) = files.get(dir) {
                return Err(if reserved.contains(file) {
                    collision(path, file, reserved)
                } else {
                    Error::InvalidInput(format!(
                        "artifact path {file:?} is a file, and {path:?} needs it as a directory"
                    ))
                });
            }
            dirs.entry(dir.to_string()).or_insert(path);
            end += slash + 1;
        }
        files.insert(folded, path);
    }
    Ok(())
}

fn collision(path: &str, first: &str, reserved: &[&str]) -> Error {
    if reserved.contains(&first) {
        Error::InvalidInput(format!(
            "artifact path {path:?} would collide with {first}, which the store writes itself; pass caller metadata with --metadata, or rename the file"
        ))
    } else if path == first {
        Error::InvalidInput(format!(
            "two inputs both map to {path:?} in the artifact directory"
        ))
    } else {
        Error::InvalidInput(format!(
            "artifact paths {first:?} and {path:?} differ only in case, ignorable code points, trailing dots or spaces, or a ':' stream; one would be lost on a case-insensitive or Windows file system"
        ))
    }
}

/// A path as a case-insensitive file system compares it: HFS+ ignorable code points
/// dropped, case folded, and each name cut as NTFS reads it (at an alternate data stream's
/// `:`, trailing dots and spaces dropped), so `metadata.json.`, `metadata.json ` and
/// `metadata.json::$DATA` are the store's own file on a Windows checkout.
fn fold(path: &str) -> String {
    let folded: String = path
        .chars()
        .filter(|&c| !hfs_ignored(c))
        .flat_map(char::to_lowercase)
        .collect();
    let names: Vec<&str> = folded
        .split('/')
        .map(|name| {
            let name = name.split(':').next().unwrap_or(name);
            name.trim_end_matches(['.', ' '])
        })
        .collect();
    names.join("/")
}

fn refused(path: &str, why: &str) -> Error {
    Error::InvalidInput(format!("artifact path {path:?} {why}"))
}

/// `.gitmodules` as git's fsck reads it: a git config file whose `submodule.<name>.*`
/// entries are checked (`check_submodule_name`, `check_submodule_url`, `path`, `update`).
mod gitmodules {
    /// Parses `bytes` as a git config file and checks each submodule entry.
    pub(super) fn check(bytes: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for entry in parse(text)? {
            check_entry(&entry)?;
        }
        Ok(())
    }

    /// One `section.subsection.key = value` of a config file.
    #[derive(Debug)]
    pub(super) struct Entry {
        pub(super) line: usize,
        pub(super) section: String,
        pub(super) subsection: Option<String>,
        pub(super) key: String,
        pub(super) value: Option<String>,
    }

    fn check_entry(e: &Entry) -> Result<(), String> {
        if e.section != "submodule" {
            return Ok(());
        }
        let Some(name) = &e.subsection else {
            return Ok(());
        };
        let at = |what: &str| format!("line {}: {what}", e.line);
        if !name_ok(name) {
            return Err(at(
                "a submodule name is empty or has a '..' component (gitmodulesName)",
            ));
        }
        let Some(value) = &e.value else {
            return Ok(());
        };
        match e.key.as_str() {
            "url" if !url_ok(value) => Err(at(
                "a submodule url looks like an option, climbs out of its root, or holds a newline or a bad host (gitmodulesUrl)",
            )),
            "path" if value.starts_with('-') => {
                Err(at("a submodule path looks like an option (gitmodulesPath)"))
            }
            "update" if value.starts_with('!') => {
                Err(at("a submodule update setting runs a command (gitmodulesUpdate)"))
            }
            _ => Ok(()),
        }
    }

    fn is_sep(c: u8) -> bool {
        c == b'/' || c == b'\\'
    }

    /// git's `check_submodule_name`: not empty, no `..` component (either separator).
    pub(super) fn name_ok(name: &str) -> bool {
        !name.is_empty() && !name.split(['/', '\\']).any(|part| part == "..")
    }

    fn starts_dot_slash(s: &[u8]) -> bool {
        s.len() >= 2 && s[0] == b'.' && is_sep(s[1])
    }

    fn starts_dot_dot_slash(s: &[u8]) -> bool {
        s.len() >= 3 && s[0] == b'.' && s[1] == b'.' && is_sep(s[2])
    }

    fn decode(s: &str) -> Option<Vec<u8>> {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        Some(out)
    }

    /// git's `check_submodule_url`, a little stricter for urls handed to curl.
    pub(super) fn url_ok(url: &str) -> bool {
        if url.starts_with('-') {
            return false;
        }
        let bytes = url.as_bytes();
        if starts_dot_slash(bytes) || starts_dot_dot_slash(bytes) || url.starts_with("git://") {
            let decoded = decode(url).unwrap_or_else(|| url.as_bytes().to_vec());
            if decoded.contains(&b'\n') {
                return false;
            }
            let mut rest = bytes;
            let mut dotdots = 0;
            loop {
                if starts_dot_dot_slash(rest) {
                    dotdots += 1;
                    rest = &rest[3..];
                } else if starts_dot_slash(rest) {
                    rest = &rest[2..];
                } else {
                    break;
                }
            }
            return !(dotdots > 0 && matches!(rest.first(), Some(b':' | b'/')));
        }
        let curl = ["http::", "https::", "ftp::", "ftps::"]
            .iter()
            .find_map(|p| url.strip_prefix(p))
            .or_else(|| {
                ["http://", "https://", "ftp://", "ftps://"]
                    .iter()
                    .any(|p| url.starts_with(p))
                    .then_some(url)
            });
        let Some(curl) = curl else {
            return true;
        };
        curl_url_ok(curl)
    }

    /// A url git would hand to curl, as git's `url_normalize` takes it: a scheme, a host
    /// without escapes, spaces or control characters, a numeric port, valid `%` escapes,
    /// no `..` climbing above the root, no control character once decoded.
    fn curl_url_ok(url: &str) -> bool {
        let Some((_, rest)) = url.split_once("://") else {
            return false;
        };
        let Some(decoded) = decode(url) else {
            return false;
        };
        if decoded.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return false;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = match host_port.rfind(':') {
            Some(i) if !host_port[i..].contains(']') => (&host_port[..i], &host_port[i + 1..]),
            _ => (host_port, ""),
        };
        if host.is_empty()
            || host
                .chars()
                .any(|c| c == '%' || c.is_whitespace() || c.is_control())
        {
            return false;
        }
        if !port.is_empty() && !matches!(port.parse::<u32>(), Ok(1..=65535)) {
            return false;
        }
        let path = path.split(['?', '#']).next().unwrap_or("");
        let mut depth = 0usize;
        for segment in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
            if segment == ".." {
                match depth.checked_sub(1) {
                    Some(up) => depth = up,
                    None => return false,
                }
            } else {
                depth += 1;
            }
        }
        true
    }

    /// Parses a git config file the way git's `git_parse_source` does; an error names the
    /// line it stopped on.
    pub(super) fn parse(text: &str) -> Result<Vec<Entry>, String> {
        let mut p = Parser {
            chars: text.replace("\r\n", "\n").chars().collect(),
            pos: 0,
            line: 1,
        };
        let mut out = Vec::new();
        let mut section: Option<(String, Option<String>)> = None;
        loop {
            let Some(c) = p.next() else {
                return Ok(out);
            };
            if c == '\n' {
                continue;
            }
            if c.is_whitespace() {
                continue;
            }
            if c == '#' || c == ';' {
                p.skip_line();
                continue;
            }
            if c == '[' {
                section = Some(p.section_header()?);
                continue;
            }
            if !c.is_ascii_alphabetic() {
                return Err(p.error());
            }
            let line = p.line;
            let mut key = c.to_ascii_lowercase().to_string();
            while let Some(c) = p.peek() {
                if c.is_ascii_alphanumeric() || c == '-' {
                    key.push(c.to_ascii_lowercase());
                    p.pos += 1;
                } else {
                    break;
                }
            }
            let value = p.value()?;
            let (sec, sub) = section.clone().unwrap_or_default();
            out.push(Entry {
                line,
                section: sec,
                subsection: sub,
                key,
                value,
            });
        }
    }

    struct Parser {
        chars: Vec<char>,
        pos: usize,
        line: usize,
    }

    impl Parser {
        fn next(&mut self) -> Option<char> {
            let c = self.chars.get(self.pos).copied()?;
            self.pos += 1;
            if c == '\n' {
                self.line += 1;
            }
            Some(c)
        }

        fn peek(&self) -> Option<char> {
            self.chars.get(self.pos).copied()
        }

        fn error(&self) -> String {
            format!(
                "line {}: is not valid git config syntax (gitmodulesParse)",
                self.line
            )
        }

        fn skip_line(&mut self) {
            while let Some(c) = self.next() {
                if c == '\n' {
                    return;
                }
            }
        }

        /// After `[`: `name]`, `name.sub]` (old style) or `name "sub"]`.
        fn section_header(&mut self) -> Result<(String, Option<String>), String> {
            let mut name = String::new();
            loop {
                let c = self.next().ok_or_else(|| self.error())?;
                if c == ']' {
                    return Ok(match name.split_once('.') {
                        Some((sec, sub)) => (sec.to_string(), Some(sub.to_string())),
                        None => (name, None),
                    });
                }
                if c.is_whitespace() && c != '\n' {
                    break;
                }
                if !(c.is_ascii_alphanumeric() || c == '-' || c == '.') {
                    return Err(self.error());
                }
                name.push(c.to_ascii_lowercase());
            }
            while matches!(self.peek(), Some(c) if c.is_whitespace() && c != '\n') {
                self.pos += 1;
            }
            if self.next() != Some('"') {
                return Err(self.error());
            }
            let mut sub = String::new();
            loop {
                match self.next() {
                    None | Some('\n') => return Err(self.error()),
                    Some('"') => break,
                    Some('\\') => match self.next() {
                        None | Some('\n') => return Err(self.error()),
                        Some(c) => sub.push(c),
                    },
                    Some(c) => sub.push(c),
                }
            }
            if self.next() != Some(']') {
                return Err(self.error());
            }
            Ok((name, Some(sub)))
        }

        /// After a key: nothing (a boolean), or `= value` to the end of the line.
        fn value(&mut self) -> Result<Option<String>, String> {
            while matches!(self.peek(), Some(c) if c.is_whitespace() && c != '\n') {
                self.pos += 1;
            }
            match self.peek() {
                None | Some('\n') => return Ok(None),
                Some('=') => self.pos += 1,
                Some(_) => return Err(self.error()),
            }
            let mut value = String::new();
            let mut quoted = false;
            let mut pending_space = 0usize;
            loop {
                let c = match self.next() {
                    None if quoted => return Err(self.error()),
                    None => break,
                    Some(c) => c,
                };
                if c == '\n' {
                    if quoted {
                        return Err(self.error());
                    }
                    break;
                }
                if !quoted && (c == '#' || c == ';') {
                    self.skip_line();
                    break;
                }
                if !quoted && c.is_whitespace() {
                    if !value.is_empty() {
                        pending_space += 1;
                    }
                    continue;
                }
                for _ in 0..pending_space {
                    value.push(' ');
                }
                pending_space = 0;
                match c {
                    '\\' => match self.next() {
                        Some('\n') => {}
                        Some('t') => value.push('\t'),
                        Some('b') => value.push('\u{8}'),
                        Some('n') => value.push('\n'),
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        _ => return Err(self.error()),
                    },
                    '"' => quoted = !quoted,
                    c => value.push(c),
                }
            }
            Ok(Some(value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotgit_look_alikes_are_refused_in_every_spelling() {
        for ignorable in [
            '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}',
            '\u{202d}', '\u{202e}', '\u{206a}', '\u{206b}', '\u{206c}', '\u{206d}', '\u{206e}',
            '\u{206f}', '\u{feff}',
        ] {
            for at in 0..=4 {
                let mut name: Vec<char> = ".git".chars().collect();
                name.insert(at, ignorable);
                let name: String = name.into_iter().collect();
                assert!(is_dotgit(&name), "{name:?}");
                assert!(check_component(&name).is_err());
                assert!(is_dotgit(&name.to_uppercase()), "{name:?}");
            }
        }
        for name in [
            ".git",
            ".GIT",
            ".Git",
            "git~1",
            "GIT~1",
            ".git.",
            ".git ",
            ".git. .",
            "git~1.",
            ".git::$INDEX_ALLOCATION",
            ".git:stream",
            "git~1:x",
        ] {
            assert!(is_dotgit(name), "{name:?}");
        }
        for name in [
            ".github",
            "git~1x",
            "git~2",
            ".gitx",
            "x.git",
            ".gi",
            "git",
            ".git\u{200c}x",
            "\u{2060}.git",
        ] {
            assert!(!is_dotgit(name), "{name:?}");
        }
    }

    #[test]
    fn special_files_are_known_by_their_look_alikes() {
        for (name, want) in [
            (".gitmodules", Special::GitModules),
            (".GITMODULES", Special::GitModules),
            (".git\u{200c}modules", Special::GitModules),
            (".gitmodules .", Special::GitModules),
            (".gitmodules::$DATA", Special::GitModules),
            ("GITMOD~1", Special::GitModules),
            ("gitmod~4", Special::GitModules),
            ("GI7EBA~1", Special::GitModules),
            ("gi7eba~9", Special::GitModules),
            ("gi7eb~12", Special::GitModules),
            (".gitattributes", Special::GitAttributes),
            ("gitatt~1", Special::GitAttributes),
            ("gi7d29~1", Special::GitAttributes),
            (".gitignore", Special::GitIgnore),
            ("gi250a~1", Special::GitIgnore),
            (".mailmap", Special::MailMap),
            ("maba30~1", Special::MailMap),
            ("mailma~1", Special::MailMap),
        ] {
            assert_eq!(special(name), Some(want), "{name:?}");
        }
        for name in [
            "my.gitmodules",
            ".gitmodules.bak",
            "gitmod~5",
            "gitmodules",
            "gi7eba~0",
            "gi7eba~1x",
            ".gitmodulesx",
        ] {
            assert_eq!(special(name), None, "{name:?}");
        }
        assert!(check_component(".gitmodules").is_ok());
        assert!(check_component(".GITMODULES").is_err());
        assert!(check_component("GITMOD~1").is_err());
        assert!(check_component(".gitattributes.").is_err());
    }

    #[test]
    fn names_and_paths_have_length_limits() {
        assert!(check_component(&"a".repeat(255)).is_ok());
        assert!(check_component(&"a".repeat(256)).is_err());
        assert!(check_component(&"é".repeat(128)).is_err());
        assert!(check_path(&["a"; 512].join("/")).is_ok());
        assert!(check_path("a/.gitmodules").is_ok());
        assert!(check_path(".gitmodules/a").is_err());
        assert!(check_path("x/.gitattributes/a").is_err());
        assert!(check_path(".gitignore/a").is_ok());
        assert!(check_path(&format!("{}/b", "a/".repeat(512))).is_err());
        for bad in ["", ".", "..", "a\\b", "a\0b", "a\nb", "a\u{7f}"] {
            assert!(check_component(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn collisions_with_the_store_and_between_inputs_are_refused() {
        let meta = ["metadata.json"];
        let ok = |paths: &[&str]| check_collisions(paths.iter().copied(), &meta).is_ok();
        assert!(ok(&["a", "b/c", "b/d", "sub/metadata.json"]));
        assert!(!ok(&["metadata.json"]));
        assert!(!ok(&["metadata.json/r.csv"]));
        assert!(!ok(&["Metadata.JSON/r.csv"]));
        assert!(!ok(&["METADATA.JSON"]));
        assert!(!ok(&["a", "a/b"]));
        assert!(!ok(&["a/b", "a"]));
        assert!(!ok(&["a/b/c", "a/b"]));
        assert!(!ok(&["A.txt", "a.txt"]));
        assert!(!ok(&["a", "A/b"]));
        assert!(!ok(&["x", "x"]));
    }

    #[test]
    fn gitmodules_content_follows_fsck() {
        let ok = |text: &str| gitmodules::check(text.as_bytes());
        assert!(
            ok("[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n").is_ok()
        );
        assert!(ok("[submodule \"a\"]\n\turl = ../sibling.git\n\tupdate = rebase\n").is_ok());
        assert!(ok("# only a comment\n").is_ok());
        assert!(ok("").is_ok());
        for bad in [
            "[submodule \"../../modules/evil\"]\n\tpath = x\n",
            "[submodule \"a/../b\"]\n\tpath = x\n",
            "[submodule \"..\\\\x\"]\n\tpath = x\n",
            "[submodule \"\"]\n\tpath = x\n",
            "[submodule \"x\"]\n\turl = --upload-pack=touch /tmp/pwned\n",
            "[submodule \"x\"]\n\turl = -x\n",
            "[submodule \"x\"]\n\turl = ./%0ahost=evil\n",
            "[submodule \"x\"]\n\turl = ../../:evil\n",
            "[submodule \"x\"]\n\turl = https://example.com%0a/x\n",
            "[submodule \"x\"]\n\turl = https:///example.com/x\n",
            "[submodule \"x\"]\n\turl = http::https:///x\n",
            "[submodule \"x\"]\n\tpath = -x\n",
            "[submodule \"x\"]\n\tupdate = !rm -rf /\n",
            "[submodule.x]\n\tupdate = !sh\n",
            "[submodule \"x\"\n\tpath = x\n",
            "[submodule \"x\"]\n\t= x\n",
            "[submodule \"x\"]\n\tpath = \"x\n",
            "[submodule \"x\"]\n\tpath = a\\qb\n",
        ] {
            assert!(ok(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "https://exa mple.com/x",
            "https://example.com:99999/x",
            "https://example.com:abc/x",
            "https://example.com/../../x",
            "https://user@/x",
            "https://example.com/a%zz",
            "https://ex%41mple.com/x",
            "http::example.com",
            "https://example.com%2f/x",
        ] {
            assert!(!gitmodules::url_ok(bad), "{bad}");
        }
        for good in [
            "https://:pw@example.com/x",
            "https://example.com/x y",
            "https://[::1]/x",
            "https://[::1]:8443/x",
            "https://exa_mple.com/x",
            "https://example.com/x#frag",
            "https://u:p@example.com:443/x?q=1",
            "git://ex ample/x",
            "ftp://h/x",
            "https://example.com/a/../b",
        ] {
            assert!(gitmodules::url_ok(good), "{good}");
        }
        assert!(gitmodules::url_ok("git://example.com/x"));
        assert!(gitmodules::url_ok("ssh://example.com/x"));
        assert!(gitmodules::url_ok("x-y"));
    }

    #[test]
    fn gitattributes_lines_stop_below_2048_bytes() {
        let line = |n: usize| format!("*.bin {}\n", "x".repeat(n - 6));
        assert!(check_content("a/.gitattributes", line(2047).as_bytes()).is_ok());
        assert!(check_content("a/.gitattributes", line(2048).as_bytes()).is_err());
        assert!(check_content("a/other.txt", line(4000).as_bytes()).is_ok());
    }
}
