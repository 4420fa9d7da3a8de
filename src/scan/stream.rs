//! The streaming scan of one blob too large to hold in memory: the bytes go through a
//! bounded buffer, scanned part by part with an overlap between consecutive parts.
//!
//! Each part is `OVERLAP + CHUNK` bytes; consecutive parts share `OVERLAP` bytes, and a
//! part reports only the secrets that *start* in its middle: at least `HALF` bytes from
//! either cut (the first part from offset 0, the last up to the end). Those reported
//! ranges tile the blob, so each secret is reported by exactly one part, and in that part
//! everything the whole-blob scan would have looked at around it lies inside: a rule's
//! window reaches at most twice its `reach` (32 KiB for the widest built-in and gitleaks
//! rules) on each side of a keyword hit, so a secret and the window that found it lie
//! within 128 KiB of each other plus the keyword, well within `HALF`.
//!
//! A blob in a wide encoding (`decode`, decided from its first `decode::SAMPLE` bytes, held
//! until then) is streamed twice side by side: its bytes, and its text decoded to UTF-8
//! piece by piece, each in parts of its own.
//!
//! Limits: a match longer than `HALF` bytes (possible only for configured rules without
//! keywords, which search every byte) may be cut at a part's edge and missed, and an
//! inline `artifact-store:allow` marker on a line longer than `HALF` bytes may lie outside
//! the part that reports the secret.

use super::decode::{self, Decoder};
use super::engine::{self, Origin};
use super::{FileScan, Finding, Scanner, SkipReason};

/// Files larger than this are scanned (and committed) as streams, never held whole in
/// memory; smaller ones are read whole, which is faster for the many small files of a set.
pub const LARGE_FILE_BYTES: u64 = 8 << 20;

/// Bytes of a part that the next part scans again.
pub(crate) const OVERLAP: usize = 2 * HALF;
/// Distance from a cut within which a part leaves secrets to its neighbour.
pub(crate) const HALF: usize = 256 << 10;
/// New bytes per part.
pub(crate) const CHUNK: usize = 4 << 20;

/// A scan of one blob fed in pieces of any size; memory stays at one part (two for a
/// blob in a wide encoding: its bytes and its decoded text are scanned side by side).
///
/// Feed the bytes in order with [`StreamScan::update`], then call [`StreamScan::finish`];
/// the result is the one [`Scanner::scan_bytes`] returns for the whole blob, within the
/// limits in the module docs.
pub struct StreamScan<'s> {
    /// The path's own findings (path-only rules).
    path_findings: Vec<Finding>,
    /// Set once the outcome no longer depends on the bytes.
    skipped: Option<SkipReason>,
    /// The first bytes, held until they decide the blob's encoding; `None` once decided.
    head: Option<Vec<u8>>,
    /// The scan of the bytes as they are.
    raw: Pass<'s>,
    /// For a blob in a wide encoding, its decoder and the scan of its decoded text.
    wide: Option<(Decoder, Pass<'s>)>,
}

/// The part-by-part scan of one byte stream.
struct Pass<'s> {
    scanner: &'s Scanner,
    path: String,
    buf: Vec<u8>,
    /// Offset in `buf` from which the next scan of it reports secrets.
    report_from: usize,
    /// Where `buf` begins in the blob.
    origin: Origin,
    findings: Vec<Finding>,
    chunk: usize,
}

impl Scanner {
    /// Starts a streaming scan of one blob; `path` is only for findings and path allowlists.
    pub fn stream(&self, path: &str) -> StreamScan<'_> {
        StreamScan::with_chunk(self, path, CHUNK)
    }
}

impl<'s> StreamScan<'s> {
    fn with_chunk(scanner: &'s Scanner, path: &str, chunk: usize) -> StreamScan<'s> {
        let allowed = scanner.allow.path_allowed(path);
        StreamScan {
            path_findings: if allowed {
                Vec::new()
            } else {
                engine::path_findings(&scanner.rules, path)
            },
            skipped: allowed.then_some(SkipReason::AllowedPath),
            head: Some(Vec::new()),
            raw: Pass::new(scanner, path, chunk),
            wide: None,
        }
    }

    /// Feeds the next bytes of the blob.
    pub fn update(&mut self, data: &[u8]) {
        if self.skipped.is_some() || data.is_empty() {
            return;
        }
        let Some(head) = &mut self.head else {
            self.feed(data);
            return;
        };
        let take = (decode::SAMPLE - head.len()).min(data.len());
        head.extend_from_slice(&data[..take]);
        if head.len() == decode::SAMPLE {
            self.decide();
            self.feed(&data[take..]);
        }
    }

    /// Decides the blob's encoding from the bytes held in `head`, and feeds them.
    fn decide(&mut self) {
        let Some(head) = self.head.take() else {
            return;
        };
        if let Some(wide) = decode::detect(&head) {
            let pass = Pass::new(self.raw.scanner, &self.raw.path, self.raw.chunk);
            self.wide = Some((Decoder::new(wide), pass));
        }
        self.feed(&head);
    }

    fn feed(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.raw.update(data);
        if let Some((decoder, pass)) = &mut self.wide {
            let mut text = Vec::new();
            decoder.feed(data, &mut text);
            pass.update(&text);
        }
    }

    /// Ends the scan and returns what [`Scanner::scan_bytes`] returns for the whole blob.
    pub fn finish(mut self) -> FileScan {
        if let Some(reason) = self.skipped {
            return FileScan::Skipped(reason);
        }
        self.decide();
        let mut findings = std::mem::take(&mut self.path_findings);
        findings.append(&mut self.raw.finish());
        if let Some((mut decoder, mut pass)) = self.wide.take() {
            let mut text = Vec::new();
            decoder.finish(&mut text);
            pass.update(&text);
            findings.append(&mut pass.finish());
        }
        engine::finish(&mut findings);
        FileScan::Findings(findings)
    }
}

impl<'s> Pass<'s> {
    fn new(scanner: &'s Scanner, path: &str, chunk: usize) -> Pass<'s> {
        Pass {
            scanner,
            path: path.to_string(),
            buf: Vec::new(),
            report_from: 0,
            origin: Origin::default(),
            findings: Vec::new(),
            chunk,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        let full = OVERLAP + self.chunk;
        while !data.is_empty() {
            if self.buf.capacity() < full {
                self.buf.reserve_exact(full - self.buf.len());
            }
            let take = (full - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == full {
                self.flush();
            }
        }
    }

    /// Scans the buffer up to `HALF` bytes before its end, then keeps its last `OVERLAP`
    /// bytes for the next part.
    fn flush(&mut self) {
        let end = self.buf.len() - HALF;
        self.findings.extend(engine::scan_part(
            self.scanner,
            &self.path,
            &self.buf,
            self.report_from..end,
            self.origin,
        ));
        let drop = self.buf.len() - OVERLAP;
        let dropped = &self.buf[..drop];
        let chars = |bytes: &[u8]| bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        match dropped.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                self.origin.lines += dropped.iter().filter(|&&b| b == b'\n').count();
                self.origin.columns = chars(&dropped[last + 1..]);
            }
            None => self.origin.columns += chars(dropped),
        }
        self.buf.drain(..drop);
        self.report_from = end - drop;
    }

    /// Scans what is left and returns every finding of the pass, unsorted.
    fn finish(mut self) -> Vec<Finding> {
        let mut findings = std::mem::take(&mut self.findings);
        findings.extend(engine::scan_part(
            self.scanner,
            &self.path,
            &self.buf,
            self.report_from..self.buf.len(),
            self.origin,
        ));
        findings
    }
}

impl Scanner {
    /// Scans everything `reader` yields through a [`StreamScan`], reading `CHUNK` bytes
    /// at a time; returns the outcome and the number of bytes read.
    pub fn scan_reader(
        &self,
        path: &str,
        mut reader: impl std::io::Read,
    ) -> std::io::Result<(FileScan, u64)> {
        let mut scan = self.stream(path);
        let mut buf = vec![0u8; READ];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n as u64;
            scan.update(&buf[..n]);
        }
        Ok((scan.finish(), total))
    }
}

/// Bytes read at a time by [`Scanner::scan_reader`].
pub(crate) const READ: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every corpus sample on its own line, separated by filler, repeated to `size` bytes.
    fn corpus_blob(size: usize) -> Vec<u8> {
        let corpus = include_str!("../../fixtures/secrets-corpus/secrets-labelled.jsonl");
        let mut texts = Vec::new();
        for line in corpus.lines().filter(|l| !l.trim().is_empty()) {
            let row: serde_json::Value = serde_json::from_str(line).expect("corpus rows are JSON");
            texts.push(row["text"].as_str().unwrap_or_default().to_string());
        }
        let mut blob = Vec::with_capacity(size + 4096);
        let mut round = 0usize;
        while blob.len() < size {
            for (i, text) in texts.iter().enumerate() {
                blob.extend_from_slice(text.as_bytes());
                blob.push(b'\n');
                // Filler of varying length shifts every sample against the cuts.
                let filler = (i * 7 + round * 13) % 97;
                blob.extend_from_slice("plain words ".repeat(filler / 12 + 1).as_bytes());
                blob.push(b'\n');
            }
            round += 1;
        }
        blob
    }

    fn streamed(
        scanner: &Scanner,
        path: &str,
        data: &[u8],
        chunk: usize,
        piece: usize,
    ) -> FileScan {
        let mut scan = StreamScan::with_chunk(scanner, path, chunk);
        for part in data.chunks(piece) {
            scan.update(part);
        }
        scan.finish()
    }

    #[test]
    fn streaming_finds_what_the_whole_blob_scan_finds() {
        let scanner = Scanner::builtin();
        let blob = corpus_blob(1_600_000);
        let whole = scanner.scan_bytes("corpus.txt", &blob);
        assert!(
            whole.findings().len() > 1000,
            "the corpus blob holds many secrets, found {}",
            whole.findings().len()
        );
        for (chunk, piece) in [(64 << 10, 7_777), (100_003, 1 << 20)] {
            let parts = streamed(&scanner, "corpus.txt", &blob, chunk, piece);
            assert_eq!(parts, whole, "chunk {chunk}, pieces of {piece}");
        }
    }

    #[test]
    fn a_secret_across_a_cut_is_found_once_and_located() {
        let scanner = Scanner::builtin();
        let secret = "ghp_R7cVq2LmN8xT4bZ9wK1pH6sD3fJ0aY5eU2iO";
        let chunk = 64 << 10;
        // The first part reports secrets starting before HALF + chunk; put one across
        // that offset, on a long line so that its column depends on the carried origin.
        for cut in [HALF + chunk, HALF + 2 * chunk, OVERLAP + chunk] {
            let mut blob = b"first line\n".to_vec();
            blob.resize(cut - 20_000, b'a');
            blob.push(b'\n');
            blob.resize(cut - secret.len() / 2 - 8, b'b');
            blob.extend_from_slice(b" token=");
            blob.extend_from_slice(secret.as_bytes());
            blob.extend_from_slice(b" end\n");
            blob.resize(cut + 3 * chunk, b'c');
            let whole = scanner.scan_bytes("a.txt", &blob);
            let found = whole.findings();
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(
                (found[0].line, found[0].rule_id.as_str()),
                (3, "github-pat")
            );
            assert!(found[0].column > 19_000);
            assert_eq!(
                streamed(&scanner, "a.txt", &blob, chunk, 4096),
                whole,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn binary_content_is_scanned_as_whole_blobs_are() {
        let scanner = Scanner::builtin();
        let mut blob = vec![0u8; 16];
        blob.extend_from_slice(b"token=ghp_R7cVq2LmN8xT4bZ9wK1pH6sD3fJ0aY5eU2iO\n");
        blob.resize(2 * (OVERLAP + CHUNK), b'x');
        let whole = scanner.scan_bytes("b.bin", &blob);
        assert!(
            matches!(&whole, FileScan::Findings(f) if f.len() == 1),
            "{whole:?}"
        );
        assert_eq!(streamed(&scanner, "b.bin", &blob, CHUNK, 1 << 20), whole);
        let short = scanner.scan_reader("short.txt", &b"password = \"x\"\n"[..]);
        let short = short.ok();
        assert_eq!(
            short,
            Some((scanner.scan_bytes("short.txt", b"password = \"x\"\n"), 15))
        );
    }
}
