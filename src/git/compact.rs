//! Consolidation: objects rolled into one pack, each version of a file stored as the
//! difference to its neighbour on its task branch.
//!
//! A commit writes its objects whole (one pack, or loose objects for a large set), so that
//! it never waits for a delta search. Consolidation comes after: it reads the packs and
//! loose objects it chose, pairs each blob with its *natural base* (the blob at the same
//! path in the first parent of the commit that replaced it: the previous version of the
//! same file on the same task branch), and writes one ordinary pack (version 2, OFS deltas,
//! index version 2) in which
//!
//! - the newest version of a file is whole (reads of the newest version stay as fast as
//!   before) and each older version is a delta against the version that replaced it; a
//!   file that grew is then a single copy instruction;
//! - deltas already stored are kept as they are (their compressed bytes copied, the base
//!   offset rewritten); a chain longer than [`MAX_DEPTH`] is cut by pointing its deeper
//!   entries at the chain's whole object instead;
//! - whole objects written at the commit's fast zlib level are deflated again at zlib's
//!   default level, once (the level is read from the zlib header, so a later run copies
//!   them as they are);
//! - blobs larger than [`DELTA_MAX_BLOB`] get the same treatment without ever being held
//!   whole: their deltas are made by [`super::bigdelta`] from streams (copies that only
//!   move forward, so that the store's own reader, [`super::packread`], applies them over
//!   a forward stream of their base), kept in unnamed temporary files until written, and
//!   a large whole object is streamed from where it is stored into the pack, deflated at
//!   zlib's fastest level. Blobs of 4 GiB and more (beyond a copy's 32-bit offset) are
//!   never deltas.
//!
//! Every delta is applied once and compared with its target before it is written. The new
//! pack is flushed and in place before any pack or loose object it replaces is removed, so
//! every object stays readable throughout, and a kill at any point leaves at worst a
//! staging file and objects stored twice. One consolidation runs at a time, under the
//! repack lock ([`super::repack::REPACK_LOCK_FILE`]), which it touches every second so that
//! no committer takes it for a dead one's; a commit never waits for it.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use flate2::{Compression, Crc};
use git2::{ObjectType, Odb, Oid, Repository};

use super::bigdelta;
use super::delta;
use super::durable;
use super::pack::STAGING_DIR;
use super::packfile::{self, PackFile};
use super::packread::{self, parse_entry, Base};
use super::repack::{self, RepackLock};
use crate::error::{Error, Result};

/// The packs consolidation wrote, one name a line, in the git directory; a pack not named
/// there (written by a commit, or by git) counts as pending.
pub const STATE_FILE: &str = "artifact-store-compacted";
/// Longest delta chain written: reading an object applies at most this many deltas.
pub const MAX_DEPTH: usize = 50;
/// Blobs above this size are never read whole: their deltas are streamed
/// ([`super::bigdelta`]) and their whole entries streamed into the pack.
pub const DELTA_MAX_BLOB: u64 = 32 << 20;
/// A store whose packs and loose objects hold less than this is consolidated whole every
/// time (copying is cheap); above it, a step takes everything only while that is at most
/// [`FULL_FACTOR`] times what is pending, and otherwise the small packs (geometrically).
const FULL_BELOW: u64 = 16 << 20;
/// See [`FULL_BELOW`]: a step copies at most this many bytes per pending byte.
const FULL_FACTOR: u64 = 8;
/// More pending packs than this make a consolidation due whatever their size.
const DUE_PACKS: usize = 16;
/// Blobs smaller than this are not worth a delta.
const DELTA_MIN_BLOB: u64 = 512;
/// New deltas held in memory at once, at most; the rest wait for the next run.
const NEW_DELTA_BUDGET: usize = 64 << 20;
/// Bytes copied per read when an entry is copied from one pack to another.
const CHUNK: usize = 1 << 20;

/// How much a run takes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The commit path's roll-up: only when packs pile up, small packs only, entries
    /// copied as stored (deltas kept), no new delta.
    Roll,
    /// The automatic step: everything when the store is small, else the loose objects and
    /// the small packs; new deltas against natural bases.
    Step,
    /// Every pack and loose object.
    Full,
}

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub scope: Scope,
    /// Flush the new pack and the directories before removing anything.
    pub durable: bool,
    /// A repack lock older than this was left by a killed process.
    pub lock_stale: Duration,
    /// Plan and count, write nothing.
    pub dry_run: bool,
    /// For [`Scope::Step`]: run only when at least this many bytes are pending (0: run).
    pub threshold: u64,
}

/// What a run did (or, in a dry run, would do).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Whether anything was (or would be) written.
    pub ran: bool,
    /// Why nothing ran, when it did not.
    pub skipped: Option<String>,
    /// Packs and loose objects consolidated.
    pub packs: usize,
    pub loose: usize,
    /// Objects in the new pack.
    pub objects: usize,
    /// Bytes on disk of what was consolidated, and of the pack and index that replace it.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Deltas computed in this run, and deltas kept as they were stored.
    pub deltas_new: usize,
    pub deltas_reused: usize,
    /// Whole objects deflated again at the default level.
    pub recompressed: usize,
    /// Longest delta chain in the new pack.
    pub max_depth: usize,
    /// The new pack (not in a dry run).
    pub pack: Option<PathBuf>,
}

/// What is waiting for consolidation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pending {
    /// Bytes on disk of the packs consolidation did not write and of the loose objects it
    /// would take.
    pub bytes: u64,
    pub packs: usize,
    pub loose: usize,
}

impl Pending {
    /// Whether a [`Scope::Step`] with this threshold would run.
    pub fn is_due(&self, threshold: u64) -> bool {
        (self.bytes > 0 && self.bytes >= threshold) || self.packs > DUE_PACKS
    }
}

/// Measures what is pending: a few directory reads, no object read but the headers of
/// loose objects.
pub fn pending(gitdir: &Path) -> Pending {
    let state = read_state(gitdir);
    let mut pending = Pending::default();
    if let Ok(packs) = repack::rollable(&gitdir.join("objects").join("pack")) {
        for pack in packs {
            if !state.contains(&pack_name(&pack.stem)) {
                pending.packs += 1;
                pending.bytes += pack.size + idx_size(&pack.stem);
            }
        }
    }
    for loose in loose_objects(&gitdir.join("objects")) {
        pending.loose += 1;
        pending.bytes += loose.bytes;
    }
    pending
}

/// Runs one consolidation of `scope`; see the module documentation.
pub fn run(repo: &Repository, opts: &Options) -> Result<Report> {
    let gitdir = repo.commondir().to_path_buf();
    let lock_path = gitdir.join(repack::REPACK_LOCK_FILE);
    if repack::older_than(&lock_path, opts.lock_stale) {
        let _ = fs::remove_file(&lock_path);
    }
    let skipped = |why: &str| {
        Ok(Report {
            skipped: Some(why.to_string()),
            ..Report::default()
        })
    };
    match opts.scope {
        Scope::Roll if repack::count_packs(&gitdir) <= repack::MAX_PACKS => {
            return skipped("few packs")
        }
        Scope::Step if !pending(&gitdir).is_due(opts.threshold) => return skipped("nothing due"),
        _ => {}
    }
    let requested = gitdir.join(REQUEST_FILE);
    let mut report: Option<Report> = None;
    loop {
        let Some(lock) = RepackLock::acquire(&gitdir, opts.lock_stale)? else {
            // Asked of the holder, which looks for this after it lets the lock go: the
            // objects that made this run due are consolidated by it, not left waiting
            // for the next commit.
            if opts.scope == Scope::Step && !opts.dry_run {
                let _ = fs::write(&requested, b"");
            }
            return match report {
                Some(done) => Ok(done),
                None => skipped("another consolidation is running"),
            };
        };
        let _ = fs::remove_file(&requested);
        let done = AtomicBool::new(false);
        let this = std::thread::scope(|scope| {
            scope.spawn(|| heartbeat(&lock, &done));
            let result = run_locked(repo, &gitdir, opts);
            done.store(true, Ordering::Relaxed);
            result
        })?;
        drop(lock);
        let merged = match report.take() {
            Some(before) => before.and(this),
            None => this,
        };
        let again = opts.scope == Scope::Step
            && !opts.dry_run
            && requested.exists()
            && pending(&gitdir).is_due(opts.threshold);
        if !again {
            return Ok(merged);
        }
        report = Some(merged);
    }
}

/// Left by a run turned away by the lock; the holder runs once more when it finds it.
pub const REQUEST_FILE: &str = "artifact-store-compact-requested";

impl Report {
    /// Two runs one after the other, as one report.
    fn and(self, next: Report) -> Report {
        if !next.ran {
            return self;
        }
        if !self.ran {
            return next;
        }
        Report {
            ran: true,
            skipped: None,
            packs: self.packs + next.packs,
            loose: self.loose + next.loose,
            objects: next.objects,
            bytes_before: self.bytes_before + next.bytes_before,
            bytes_after: self.bytes_after + next.bytes_after,
            deltas_new: self.deltas_new + next.deltas_new,
            deltas_reused: next.deltas_reused,
            recompressed: self.recompressed + next.recompressed,
            max_depth: next.max_depth,
            pack: next.pack,
        }
    }
}

/// [`run`] with a repository handle of its own, opened at `gitdir`.
pub fn run_at(gitdir: &Path, opts: &Options) -> Result<Report> {
    let repo = Repository::open(gitdir)
        .map_err(Error::git(format!("failed to open {}", gitdir.display())))?;
    run(&repo, opts)
}

/// Touches the lock every second until `done`, so that it never looks stale while alive.
fn heartbeat(lock: &RepackLock, done: &AtomicBool) {
    let mut waited = Duration::ZERO;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
        if waited >= Duration::from_secs(1) {
            waited = Duration::ZERO;
            lock.touch();
        }
    }
}

fn run_locked(repo: &Repository, gitdir: &Path, opts: &Options) -> Result<Report> {
    let objects_dir = gitdir.join("objects");
    repack::sweep_staging(&objects_dir.join(STAGING_DIR));
    let state = read_state(gitdir);
    let chosen = choose(gitdir, opts.scope, &state)?;
    let settled = chosen.loose.is_empty()
        && chosen.packs.len() <= 1
        && chosen
            .packs
            .iter()
            .all(|p| state.contains(&pack_name(&p.stem)));
    if settled || (opts.scope == Scope::Roll && chosen.packs.len() < 2) {
        return Ok(Report {
            skipped: Some("nothing to consolidate".to_string()),
            ..Report::default()
        });
    }
    let odb = repo
        .odb()
        .map_err(Error::git("failed to open the object database"))?;
    odb.refresh()
        .map_err(Error::git("failed to refresh the object database"))?;
    let mut set = ObjectSet::load(&objects_dir, &chosen, &state, &odb, opts.scope)?;
    let mut report = Report {
        packs: chosen.packs.len(),
        loose: chosen.loose.len(),
        bytes_before: chosen.bytes(),
        ..Report::default()
    };
    if opts.scope != Scope::Roll {
        let pairs = natural_pairs(repo, &set, opts.scope == Scope::Full);
        set.pair(&odb, &pairs, &mut report)?;
    }
    let order = set.settle_depths(&odb, opts.scope, &mut report)?;
    let written = set
        .write(&objects_dir, &odb, &order, opts, &mut report)
        .map_err(full_disk)?;
    report.objects = order.len();
    report.ran = true;
    let Some(new_pack) = written else {
        return Ok(report);
    };
    // The new pack is in place (and flushed): what it replaces can go.
    for pack in &chosen.packs {
        if pack.stem.with_extension("pack") == new_pack {
            continue;
        }
        for ext in ["idx", "rev", "pack"] {
            match fs::remove_file(pack.stem.with_extension(ext)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::io("failed to remove", pack.stem.with_extension(ext))(e))
                }
            }
        }
    }
    for loose in &chosen.loose {
        let _ = fs::remove_file(&loose.path);
    }
    if opts.durable {
        let mut dirs = vec![objects_dir.join("pack")];
        let fanouts: HashSet<&Path> = chosen
            .loose
            .iter()
            .filter_map(|l| l.path.parent())
            .collect();
        dirs.extend(fanouts.into_iter().map(Path::to_path_buf));
        durable::sync_files(&dirs)?;
    }
    let mut names: HashSet<String> = state;
    let present: HashSet<String> = repack::rollable(&objects_dir.join("pack"))?
        .iter()
        .map(|p| pack_name(&p.stem))
        .collect();
    names.retain(|n| present.contains(n));
    if opts.scope != Scope::Roll {
        names.insert(pack_name(&new_pack.with_extension("")));
        // Packs a step left out by the geometric rule are settled too: otherwise they
        // would count as pending, and make every commit start a run, forever. (Packs
        // written since the inventory are not in it, and stay pending.)
        names.extend(chosen.left.iter().map(|p| pack_name(&p.stem)));
    }
    write_state(gitdir, &names);
    report.pack = Some(new_pack);
    Ok(report)
}

/// What a run takes: packs and loose objects.
struct Chosen {
    packs: Vec<repack::PackOnDisk>,
    loose: Vec<LooseObject>,
    /// Packs of the inventory not chosen.
    left: Vec<repack::PackOnDisk>,
}

impl Chosen {
    fn bytes(&self) -> u64 {
        self.packs
            .iter()
            .map(|p| p.size + idx_size(&p.stem))
            .sum::<u64>()
            + self.loose.iter().map(|l| l.bytes).sum::<u64>()
    }
}

fn choose(gitdir: &Path, scope: Scope, state: &HashSet<String>) -> Result<Chosen> {
    let objects = gitdir.join("objects");
    let packs = repack::rollable(&objects.join("pack"))?;
    let (chosen, loose) = if scope == Scope::Roll {
        (repack::geometric(packs.clone(), 0), Vec::new())
    } else {
        let loose = loose_objects(&objects);
        let loose_bytes: u64 = loose.iter().map(|l| l.bytes).sum();
        let total = packs.iter().map(|p| p.size).sum::<u64>() + loose_bytes;
        let pending = loose_bytes
            + packs
                .iter()
                .filter(|p| !state.contains(&pack_name(&p.stem)))
                .map(|p| p.size)
                .sum::<u64>();
        if scope == Scope::Full || total <= FULL_BELOW || total <= pending * FULL_FACTOR {
            (packs.clone(), loose)
        } else {
            (repack::geometric(packs.clone(), loose_bytes), loose)
        }
    };
    let left = packs
        .into_iter()
        .filter(|p| !chosen.iter().any(|c| c.stem == p.stem))
        .collect();
    Ok(Chosen {
        packs: chosen,
        loose,
        left,
    })
}

/// A loose object small enough to consolidate.
struct LooseObject {
    oid: Oid,
    path: PathBuf,
    bytes: u64,
}

/// The loose objects of `objects` (any size: large blobs are streamed into the pack).
fn loose_objects(objects: &Path) -> Vec<LooseObject> {
    let mut found = Vec::new();
    let Ok(dirs) = fs::read_dir(objects) else {
        return found;
    };
    for dir in dirs.flatten() {
        let name = dir.file_name();
        let name = name.to_string_lossy();
        if name.len() != 2 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        for file in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let rest = file.file_name();
            let rest = rest.to_string_lossy();
            if rest.len() != 38 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let Ok(oid) = Oid::from_str(&format!("{name}{rest}")) else {
                continue;
            };
            let path = file.path();
            let Ok(meta) = file.metadata() else { continue };
            if loose_header(&path).is_some() {
                found.push(LooseObject {
                    oid,
                    path,
                    bytes: meta.len(),
                });
            }
        }
    }
    found
}

/// The type and size in a loose object's header.
fn loose_header(path: &Path) -> Option<(String, u64)> {
    use std::io::Read;
    let file = fs::File::open(path).ok()?;
    let mut z = flate2::read::ZlibDecoder::new(file);
    let mut head = [0u8; 32];
    let mut n = 0;
    while n < head.len() {
        match z.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
        if head[..n].contains(&0) {
            break;
        }
    }
    let end = head[..n].iter().position(|&b| b == 0)?;
    let text = std::str::from_utf8(&head[..end]).ok()?;
    let (kind, size) = text.split_once(' ')?;
    Some((kind.to_string(), size.parse().ok()?))
}

/// How an object is stored now.
enum Src {
    Packed {
        pack: usize,
        offset: u64,
        end: u64,
        /// Entry type: 1 to 4 whole, 6 and 7 deltas.
        code: u8,
        /// Header bytes before the zlib stream (the base reference included).
        header: usize,
        /// The size the header gives: the object's, or the delta's.
        size: u64,
        /// For a delta, its base (when the base is in the same run).
        base: Option<Oid>,
        /// zlib's level field of a whole entry (0 fastest .. 3 best).
        level: u8,
    },
    /// Loose, or anything read through the object database.
    Read,
}

/// How an object will be written.
enum Plan {
    /// The entry copied byte for byte.
    Copy,
    /// Read whole and deflated.
    Whole,
    /// A stored delta, its base offset rewritten.
    Reuse(usize),
    /// A delta computed in this run, against object `usize`.
    Delta(usize, Vec<u8>),
    /// A streamed delta of a large blob against object `usize`, in an unnamed temporary
    /// file of the given length.
    BigDelta(usize, fs::File, u64),
}

struct Obj {
    oid: Oid,
    src: Src,
    kind: Option<ObjectType>,
    size: u64,
    /// From a loose object or a pack consolidation did not write.
    pending: bool,
    plan: Plan,
}

struct ObjectSet {
    /// The object directory, for streams of large objects and their temporary files.
    objects: PathBuf,
    objs: Vec<Obj>,
    by_oid: HashMap<Oid, usize>,
    files: Vec<fs::File>,
    paths: Vec<PathBuf>,
}

impl ObjectSet {
    fn load(
        objects: &Path,
        chosen: &Chosen,
        state: &HashSet<String>,
        odb: &Odb<'_>,
        scope: Scope,
    ) -> Result<Self> {
        let mut set = ObjectSet {
            objects: objects.to_path_buf(),
            objs: Vec::new(),
            by_oid: HashMap::new(),
            files: Vec::new(),
            paths: Vec::new(),
        };
        for pack in &chosen.packs {
            let idx_path = pack.stem.with_extension("idx");
            let pack_path = pack.stem.with_extension("pack");
            let idx = fs::read(&idx_path).map_err(Error::io("failed to read", &idx_path))?;
            let file =
                fs::File::open(&pack_path).map_err(Error::io("failed to open", &pack_path))?;
            let pack_len = file
                .metadata()
                .map_err(Error::io("failed to read", &pack_path))?
                .len();
            let n = set.files.len();
            set.files.push(file);
            set.paths.push(pack_path.clone());
            let pending = !state.contains(&pack_name(&pack.stem));
            let mut entries = match packfile::read_index(&idx, &idx_path)? {
                packfile::PackIndex::V2(entries) => entries,
                packfile::PackIndex::V1(oids) => {
                    for oid in oids {
                        set.add(oid, Src::Read, pending);
                    }
                    continue;
                }
            };
            entries.sort_by_key(|e| e.offset);
            if entries
                .iter()
                .any(|e| e.offset < 12 || e.offset >= pack_len.saturating_sub(20))
            {
                return Err(Error::Corrupt {
                    message: format!(
                        "{}: not a valid pack index: an entry lies outside its {pack_len}-byte pack",
                        idx_path.display()
                    ),
                });
            }
            let by_offset: HashMap<u64, Oid> = entries.iter().map(|e| (e.offset, e.oid)).collect();
            let mut head = [0u8; 40];
            for (i, e) in entries.iter().enumerate() {
                let end = entries
                    .get(i + 1)
                    .map_or(pack_len.saturating_sub(20), |next| next.offset);
                let want = ((end - e.offset) as usize).min(head.len());
                set.files[n]
                    .read_exact_at(&mut head[..want], e.offset)
                    .map_err(Error::io("failed to read", &pack_path))?;
                let src = match parse_entry(&head[..want], e.offset) {
                    Some(parsed) => {
                        let base = match parsed.base {
                            Base::None => None,
                            Base::Offset(at) => by_offset.get(&at).copied(),
                            Base::Id(oid) => Some(oid),
                        };
                        let level = head.get(parsed.header + 1).map_or(0, |b| b >> 6);
                        if parsed.code >= 6 && base.is_none() {
                            Src::Read
                        } else {
                            Src::Packed {
                                pack: n,
                                offset: e.offset,
                                end,
                                code: parsed.code,
                                header: parsed.header,
                                size: parsed.size,
                                base,
                                level,
                            }
                        }
                    }
                    None => Src::Read,
                };
                set.add(e.oid, src, pending);
            }
        }
        for loose in &chosen.loose {
            set.add(loose.oid, Src::Read, true);
        }
        // Types and sizes: from the entry header when whole, else from the database
        // (the commit path's roll-up needs neither).
        let need_kinds = scope != Scope::Roll;
        for obj in &mut set.objs {
            match &obj.src {
                Src::Packed { code, size, .. } if *code <= 4 => {
                    obj.kind = packread::kind_of(*code);
                    obj.size = *size;
                }
                _ if need_kinds || matches!(obj.src, Src::Read) => {
                    let (size, kind) = odb
                        .read_header(obj.oid)
                        .map_err(Error::git(format!("failed to read object {}", obj.oid)))?;
                    obj.kind = Some(kind);
                    obj.size = size as u64;
                }
                _ => {}
            }
        }
        // Initial plans: as stored.
        for i in 0..set.objs.len() {
            let plan = match &set.objs[i].src {
                Src::Packed {
                    code, level, size, ..
                } if *code <= 4 => {
                    let reflate = scope != Scope::Roll
                        && *level < 2
                        && *size >= 1024
                        && *size <= DELTA_MAX_BLOB;
                    if reflate {
                        Plan::Whole
                    } else {
                        Plan::Copy
                    }
                }
                Src::Packed {
                    base: Some(base), ..
                } => match set.by_oid.get(base) {
                    Some(&b) if b != i => Plan::Reuse(b),
                    _ => Plan::Whole,
                },
                _ => Plan::Whole,
            };
            set.objs[i].plan = plan;
        }
        Ok(set)
    }

    fn add(&mut self, oid: Oid, src: Src, pending: bool) {
        if self.by_oid.contains_key(&oid) {
            return;
        }
        self.by_oid.insert(oid, self.objs.len());
        self.objs.push(Obj {
            oid,
            src,
            kind: None,
            size: 0,
            pending,
            plan: Plan::Whole,
        });
    }

    fn base_of(&self, i: usize) -> Option<usize> {
        match self.objs[i].plan {
            Plan::Reuse(b) | Plan::Delta(b, _) | Plan::BigDelta(b, ..) => Some(b),
            _ => None,
        }
    }

    fn is_delta(&self, i: usize) -> bool {
        self.base_of(i).is_some()
    }

    /// Whether `i`'s chain of bases reaches `target`.
    fn chain_reaches(&self, mut i: usize, target: usize) -> bool {
        for _ in 0..=self.objs.len() {
            if i == target {
                return true;
            }
            match self.base_of(i) {
                Some(b) => i = b,
                None => return false,
            }
        }
        true
    }

    /// Makes each older version a delta against its newer one, where that is smaller.
    fn pair(&mut self, odb: &Odb<'_>, pairs: &[(Oid, Oid)], report: &mut Report) -> Result<()> {
        let mut budget = NEW_DELTA_BUDGET;
        let mut cached: Option<(usize, Vec<u8>)> = None;
        for (old, new) in pairs {
            let (Some(&o), Some(&n)) = (self.by_oid.get(old), self.by_oid.get(new)) else {
                continue;
            };
            let fits = |obj: &Obj| {
                obj.kind == Some(ObjectType::Blob)
                    && obj.size >= DELTA_MIN_BLOB
                    && obj.size <= bigdelta::MAX_BASE
            };
            if o == n
                || self.is_delta(o)
                || !fits(&self.objs[o])
                || !fits(&self.objs[n])
                || self.chain_reaches(n, o)
            {
                continue;
            }
            let Some(plan) = self.delta_for(odb, o, n, &mut cached)? else {
                continue;
            };
            if let Plan::Delta(_, d) = &plan {
                if d.len() > budget {
                    break;
                }
                budget -= d.len();
            }
            report.deltas_new += 1;
            self.objs[o].plan = plan;
        }
        Ok(())
    }

    /// The plan of `target` as a delta against `base`, when that is at most half its
    /// size: in memory for small blobs, streamed through a temporary file when either is
    /// larger than [`DELTA_MAX_BLOB`].
    fn delta_for(
        &self,
        odb: &Odb<'_>,
        target: usize,
        base: usize,
        cached: &mut Option<(usize, Vec<u8>)>,
    ) -> Result<Option<Plan>> {
        let (t, b) = (&self.objs[target], &self.objs[base]);
        if t.size > bigdelta::MAX_BASE || b.size > bigdelta::MAX_BASE {
            return Ok(None);
        }
        if t.size <= DELTA_MAX_BLOB && b.size <= DELTA_MAX_BLOB {
            let delta = self.delta_against(odb, target, base, cached)?;
            return Ok(delta.map(|d| Plan::Delta(base, d)));
        }
        let delta = big_delta(&self.objects, t.oid, t.size, b.oid, b.size)?;
        Ok(delta.map(|(file, len)| Plan::BigDelta(base, file, len)))
    }

    /// A delta of object `target` against object `base`, checked, when it is at most
    /// half the target's size.
    fn delta_against(
        &self,
        odb: &Odb<'_>,
        target: usize,
        base: usize,
        cached: &mut Option<(usize, Vec<u8>)>,
    ) -> Result<Option<Vec<u8>>> {
        if cached.as_ref().is_none_or(|(b, _)| *b != base) {
            *cached = Some((base, read(odb, self.objs[base].oid)?));
        }
        let base_data = &cached.as_ref().expect("filled above").1;
        let target_data = read(odb, self.objs[target].oid)?;
        let limit = target_data.len() / 2;
        let Some(d) = delta::encode(base_data, &target_data, limit) else {
            return Ok(None);
        };
        // Checked before it is trusted with the only copy of the target.
        if delta::apply(base_data, &d).as_deref() != Some(&target_data[..]) {
            return Ok(None);
        }
        Ok(Some(d))
    }

    /// Bounds every chain at [`MAX_DEPTH`] and returns the order to write in: every base
    /// before its deltas.
    fn settle_depths(
        &mut self,
        odb: &Odb<'_>,
        scope: Scope,
        report: &mut Report,
    ) -> Result<Vec<usize>> {
        let n = self.objs.len();
        // Depth as planned; a cycle (two copies of an object, each stored as a delta
        // against the other's) is broken by writing one of them whole.
        let mut depth: Vec<Option<usize>> = vec![None; n];
        for start in 0..n {
            'walk: loop {
                let mut path = Vec::new();
                let mut seen = HashSet::new();
                let mut cur = start;
                let mut d = loop {
                    if let Some(d) = depth[cur] {
                        break d;
                    }
                    if !seen.insert(cur) {
                        self.objs[cur].plan = Plan::Whole;
                        depth[cur] = Some(0);
                        continue 'walk;
                    }
                    match self.base_of(cur) {
                        Some(b) => {
                            path.push(cur);
                            cur = b;
                        }
                        None => {
                            depth[cur] = Some(0);
                            break 0;
                        }
                    }
                };
                for &p in path.iter().rev() {
                    d += 1;
                    depth[p] = Some(d);
                }
                break;
            }
        }
        let planned: Vec<usize> = depth.iter().map(|d| d.unwrap_or(0)).collect();
        let mut by_depth: Vec<usize> = (0..n).collect();
        by_depth.sort_by_key(|&i| (planned[i], i));
        let mut fin = vec![0usize; n];
        let mut cached = None;
        for &i in &by_depth {
            let Some(b) = self.base_of(i) else {
                fin[i] = 0;
                continue;
            };
            let d = fin[b] + 1;
            if d <= MAX_DEPTH {
                fin[i] = d;
                continue;
            }
            // Too deep: against the chain's whole object, else whole.
            let mut root = b;
            while let Some(next) = self.base_of(root) {
                root = next;
            }
            let against_root = if scope != Scope::Roll {
                self.delta_for(odb, i, root, &mut cached)?
            } else {
                None
            };
            match against_root {
                Some(plan) => {
                    report.deltas_new += 1;
                    self.objs[i].plan = plan;
                    fin[i] = 1;
                }
                None => {
                    self.objs[i].plan = Plan::Whole;
                    fin[i] = 0;
                }
            }
        }
        report.max_depth = fin.iter().copied().max().unwrap_or(0);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (fin[i], i));
        Ok(order)
    }

    /// Writes the pack (or counts it, in a dry run); returns its path once in place.
    fn write(
        &self,
        objects: &Path,
        odb: &Odb<'_>,
        order: &[usize],
        opts: &Options,
        report: &mut Report,
    ) -> Result<Option<PathBuf>> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let staging = objects.join(STAGING_DIR);
        let packdir = objects.join("pack");
        let tmp = format!(
            "tmp-compact-{}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let tmp_pack = staging.join(format!("{tmp}.pack"));
        let tmp_idx = staging.join(format!("{tmp}.idx"));
        if !opts.dry_run {
            for dir in [&staging, &packdir] {
                fs::create_dir_all(dir).map_err(Error::io("failed to create", dir))?;
            }
        }
        let written = (|| {
            let mut pack = if opts.dry_run {
                PackFile::dry_run(order.len())?
            } else {
                PackFile::create(&tmp_pack, order.len())?
            };
            let mut offsets: Vec<u64> = vec![0; self.objs.len()];
            let mut buf = Vec::new();
            let mut zlib = None;
            let mut chunk = vec![0u8; CHUNK];
            let best = opts.scope != Scope::Roll;
            for &i in order {
                let obj = &self.objs[i];
                offsets[i] = pack.start_entry(obj.oid);
                let mut crc = Crc::new();
                match &obj.plan {
                    Plan::Copy => {
                        let Src::Packed {
                            pack: from,
                            offset,
                            end,
                            ..
                        } = &obj.src
                        else {
                            unreachable!("a copy is planned for packed entries only")
                        };
                        self.copy_range(&mut pack, &mut crc, *from, *offset, *end, &mut chunk)?;
                    }
                    Plan::Reuse(b) => {
                        let Src::Packed {
                            pack: from,
                            offset,
                            end,
                            header,
                            size,
                            ..
                        } = &obj.src
                        else {
                            unreachable!("a stored delta is packed")
                        };
                        buf.clear();
                        packfile::entry_header(&mut buf, 6, *size);
                        packfile::ofs_distance(&mut buf, offsets[i] - offsets[*b]);
                        pack.part(&buf, &mut crc)?;
                        let start = offset + *header as u64;
                        self.copy_range(&mut pack, &mut crc, *from, start, *end, &mut chunk)?;
                        report.deltas_reused += 1;
                    }
                    Plan::Delta(b, d) => {
                        buf.clear();
                        packfile::entry_header(&mut buf, 6, d.len() as u64);
                        packfile::ofs_distance(&mut buf, offsets[i] - offsets[*b]);
                        packfile::deflate_into(
                            &mut buf,
                            d,
                            (&mut zlib, Compression::default()),
                            obj.oid,
                            objects,
                        )?;
                        pack.part(&buf, &mut crc)?;
                    }
                    Plan::BigDelta(b, file, len) => {
                        buf.clear();
                        packfile::entry_header(&mut buf, 6, *len);
                        packfile::ofs_distance(&mut buf, offsets[i] - offsets[*b]);
                        pack.part(&buf, &mut crc)?;
                        let mut delta = file
                            .try_clone()
                            .map_err(Error::io("failed to reopen a temporary file in", objects))?;
                        std::io::Seek::rewind(&mut delta)
                            .map_err(Error::io("failed to read a temporary file in", objects))?;
                        let reader = std::io::BufReader::with_capacity(CHUNK, delta);
                        deflate_stream(
                            &mut pack,
                            &mut crc,
                            reader,
                            Compression::default(),
                            objects,
                        )?;
                    }
                    Plan::Whole if self.is_large(odb, i)? => {
                        self.write_large_whole(&mut pack, &mut crc, i)?;
                    }
                    Plan::Whole => {
                        let object = odb
                            .read(obj.oid)
                            .map_err(Error::git(format!("failed to read object {}", obj.oid)))?;
                        let level = if best && object.len() as u64 <= DELTA_MAX_BLOB {
                            Compression::default()
                        } else {
                            Compression::fast()
                        };
                        let mut z = None;
                        packfile::encode(
                            &mut buf,
                            obj.oid,
                            object.kind(),
                            object.data(),
                            (&mut z, level),
                            objects,
                        )?;
                        pack.part(&buf, &mut crc)?;
                        if best && object.len() >= 1024 {
                            report.recompressed += 1;
                        }
                    }
                }
                pack.end_entry(&crc);
            }
            if opts.dry_run {
                report.bytes_after = pack.dry_total();
                return Ok(None);
            }
            let finished = pack.finish(&tmp_idx, opts.durable)?;
            report.bytes_after = fs::metadata(&tmp_pack).map_or(0, |m| m.len())
                + fs::metadata(&tmp_idx).map_or(0, |m| m.len());
            Ok(Some(finished))
        })();
        let finished = match written {
            Ok(Some(finished)) => finished,
            Ok(None) => return Ok(None),
            Err(e) => {
                let _ = fs::remove_file(&tmp_pack);
                let _ = fs::remove_file(&tmp_idx);
                return Err(e);
            }
        };
        if opts.durable {
            durable::sync_files(&[tmp_pack.clone(), tmp_idx.clone()])?;
        }
        let file = |ext: &str| packdir.join(format!("pack-{}.{ext}", finished.name));
        fs::rename(&tmp_pack, file("pack"))
            .map_err(Error::io("failed to move into place", &tmp_pack))?;
        fs::rename(&tmp_idx, file("idx"))
            .map_err(Error::io("failed to move into place", &tmp_idx))?;
        if opts.durable {
            durable::sync_files(std::slice::from_ref(&packdir))?;
        }
        Ok(Some(file("pack")))
    }

    /// Whether object `i` is too large to read whole: its size from the pack entry, or
    /// from the object's header.
    fn is_large(&self, odb: &Odb<'_>, i: usize) -> Result<bool> {
        let obj = &self.objs[i];
        let size = if obj.kind.is_some() {
            obj.size
        } else {
            odb.read_header(obj.oid)
                .map_err(Error::git(format!("failed to read object {}", obj.oid)))?
                .0 as u64
        };
        Ok(size > DELTA_MAX_BLOB)
    }

    /// Writes object `i` whole, streamed from where it is stored and deflated as it goes
    /// (at zlib's fastest level: a large file's deflation is most of a run's time), its
    /// id checked against what was read.
    fn write_large_whole(&self, pack: &mut PackFile, crc: &mut Crc, i: usize) -> Result<()> {
        let oid = self.objs[i].oid;
        let object = packread::open(&self.objects, oid)?.ok_or_else(|| Error::Corrupt {
            message: format!("object {oid} is in neither a pack nor a loose file"),
        })?;
        let code = match object.kind {
            ObjectType::Commit => 1,
            ObjectType::Tree => 2,
            ObjectType::Blob => 3,
            _ => 4,
        };
        let mut head = Vec::new();
        packfile::entry_header(&mut head, code, object.size);
        pack.part(&head, crc)?;
        let mut hashed = Hashed::new(object.reader, object.kind, object.size);
        deflate_stream(pack, crc, &mut hashed, Compression::fast(), &self.objects)?;
        hashed.check(oid)
    }

    fn copy_range(
        &self,
        pack: &mut PackFile,
        crc: &mut Crc,
        from: usize,
        start: u64,
        end: u64,
        chunk: &mut [u8],
    ) -> Result<()> {
        if pack.is_dry_run() {
            pack.count(end - start);
            return Ok(());
        }
        let mut at = start;
        while at < end {
            let n = ((end - at) as usize).min(chunk.len());
            self.files[from]
                .read_exact_at(&mut chunk[..n], at)
                .map_err(Error::io("failed to read", &self.paths[from]))?;
            pack.part(&chunk[..n], crc)?;
            at += n as u64;
        }
        Ok(())
    }
}

/// Deflates what `reader` yields into the entry being written, a megabyte at a time.
fn deflate_stream(
    pack: &mut PackFile,
    crc: &mut Crc,
    reader: impl std::io::Read,
    level: Compression,
    objects: &Path,
) -> Result<()> {
    use std::io::Read;
    let mut z = flate2::read::ZlibEncoder::new(reader, level);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match z.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::Corrupt {
                    message: format!(
                        "an object of {} could not be read whole: {e}",
                        objects.display()
                    ),
                })
            }
        };
        pack.part(&chunk[..n], crc)?;
    }
}

/// A stream hashed as git hashes an object as it is read.
struct Hashed<R> {
    inner: R,
    hasher: gix_hash::Hasher,
    size: u64,
    read: u64,
}

impl<R: std::io::Read> Hashed<R> {
    fn new(inner: R, kind: ObjectType, size: u64) -> Hashed<R> {
        let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
        hasher.update(format!("{} {size}\0", kind.str()).as_bytes());
        Hashed {
            inner,
            hasher,
            size,
            read: 0,
        }
    }

    /// Fails unless every byte was read and they hash to `oid`.
    fn check(self, oid: Oid) -> Result<()> {
        let id = self.hasher.try_finalize().ok();
        if self.read == self.size && id.is_some_and(|id| id.as_bytes() == oid.as_bytes()) {
            return Ok(());
        }
        Err(Error::Corrupt {
            message: format!(
                "object {oid} does not hash to its id as read ({} of {} bytes): its stored bytes were changed",
                self.read, self.size
            ),
        })
    }
}

impl<R: std::io::Read> std::io::Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// A streamed delta of `target` against `base` (see [`bigdelta`]) in an unnamed
/// temporary file, with its length; `None` when it would be more than half the target,
/// or when applying it does not give back the target's id.
fn big_delta(
    objects: &Path,
    target: Oid,
    target_size: u64,
    base: Oid,
    base_size: u64,
) -> Result<Option<(fs::File, u64)>> {
    use std::io::{BufReader, BufWriter, Read, Seek, Write};
    let open = |oid: Oid| -> Result<packread::Object> {
        packread::open(objects, oid)?.ok_or_else(|| Error::Corrupt {
            message: format!("object {oid} is in neither a pack nor a loose file"),
        })
    };
    let failed = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| Error::Corrupt {
            message: format!("{what}: {e}"),
        }
    };
    let file = tempfile::tempfile_in(objects)
        .map_err(Error::io("failed to create a temporary file in", objects))?;
    let mut out = BufWriter::with_capacity(
        CHUNK,
        file.try_clone()
            .map_err(Error::io("failed to reopen a temporary file in", objects))?,
    );
    let mut open_target = || -> std::io::Result<Box<dyn Read>> {
        match packread::open(objects, target) {
            Ok(Some(object)) => Ok(object.reader),
            Ok(None) => Err(std::io::Error::other(format!("object {target} is missing"))),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    };
    let mut base_reader = open(base)?.reader;
    let len = bigdelta::encode(
        &mut base_reader,
        base_size,
        &mut open_target,
        target_size,
        &mut out,
        target_size / 2,
    )
    .map_err(failed(&format!(
        "failed to compute a delta of {target} against {base}"
    )))?;
    let Some(len) = len else {
        return Ok(None);
    };
    out.flush()
        .map_err(Error::io("failed to write a temporary file in", objects))?;
    drop(out);
    // Checked before it is trusted with the only copy of the target.
    let mut delta = file
        .try_clone()
        .map_err(Error::io("failed to reopen a temporary file in", objects))?;
    delta
        .rewind()
        .map_err(Error::io("failed to read a temporary file in", objects))?;
    let applied = bigdelta::Applied::new(
        Box::new(BufReader::with_capacity(CHUNK, delta)),
        bigdelta::BaseSource::Forward(open(base)?.reader),
        base_size,
    );
    let Ok(applied) = applied else {
        return Ok(None);
    };
    let mut hashed = Hashed::new(applied, ObjectType::Blob, target_size);
    if std::io::copy(&mut hashed, &mut std::io::sink()).is_err() || hashed.check(target).is_err() {
        return Ok(None);
    }
    Ok(Some((file, len)))
}

/// A write that failed for want of space, as [`Error::StorageFull`]: nothing was removed,
/// and the operator is told to free space, not to look for a bug.
fn full_disk(e: Error) -> Error {
    match e {
        Error::Io { path, source, .. } if crate::error::is_enospc(&source) => Error::StorageFull {
            what: "the consolidated pack".to_string(),
            path,
            source,
        },
        other => other,
    }
}

fn read(odb: &Odb<'_>, oid: Oid) -> Result<Vec<u8>> {
    odb.read(oid)
        .map(|o| o.data().to_vec())
        .map_err(Error::git(format!("failed to read object {oid}")))
}

/// The (older, newer) blob pairs of the pending commits in `set` (of every commit when
/// `all`): for each, the blobs its
/// first parent held at the paths it changed. Newest commits first, so a blob that two
/// commits replaced (on two branches) is paired with the newer.
fn natural_pairs(repo: &Repository, set: &ObjectSet, all: bool) -> Vec<(Oid, Oid)> {
    let mut commits: Vec<(i64, Oid)> = Vec::new();
    for obj in &set.objs {
        if obj.kind != Some(ObjectType::Commit) || !(obj.pending || all) {
            continue;
        }
        if let Ok(commit) = repo.find_commit(obj.oid) {
            commits.push((commit.time().seconds(), obj.oid));
        }
    }
    commits.sort_by(|a, b| b.cmp(a));
    let mut pairs = Vec::new();
    for (_, oid) in commits {
        let Ok(commit) = repo.find_commit(oid) else {
            continue;
        };
        let Ok(parent) = commit.parent(0) else {
            continue;
        };
        let (Ok(new_tree), Ok(old_tree)) = (commit.tree(), parent.tree()) else {
            continue;
        };
        let Ok(diff) = repo.diff_tree_to_tree(Some(&old_tree), Some(&new_tree), None) else {
            continue;
        };
        for d in diff.deltas() {
            if d.status() == git2::Delta::Modified {
                let (old, new) = (d.old_file().id(), d.new_file().id());
                if set.by_oid.contains_key(&old) && set.by_oid.contains_key(&new) {
                    pairs.push((old, new));
                }
            }
        }
    }
    pairs
}

fn pack_name(stem: &Path) -> String {
    stem.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn idx_size(stem: &Path) -> u64 {
    fs::metadata(stem.with_extension("idx")).map_or(0, |m| m.len())
}

fn read_state(gitdir: &Path) -> HashSet<String> {
    fs::read_to_string(gitdir.join(STATE_FILE))
        .map(|text| text.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Rewrites the state file (a temporary file renamed over it); a failure only makes the
/// next run consolidate more than it needs.
fn write_state(gitdir: &Path, names: &HashSet<String>) {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    let text: String = sorted.iter().map(|n| format!("{n}\n")).collect();
    let tmp = gitdir.join(format!("{STATE_FILE}.tmp-{}", std::process::id()));
    if fs::write(&tmp, text).is_ok() && fs::rename(&tmp, gitdir.join(STATE_FILE)).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_headers_parse_back() {
        for (code, size) in [(3u8, 0u64), (3, 15), (3, 16), (1, 1 << 40), (6, 300)] {
            let mut buf = Vec::new();
            packfile::entry_header(&mut buf, code, size);
            if code == 6 {
                packfile::ofs_distance(&mut buf, 1000);
            }
            let parsed = parse_entry(&buf, 5000).unwrap();
            assert_eq!(
                (parsed.code, parsed.size, parsed.header),
                (code, size, buf.len())
            );
            if code == 6 {
                assert!(matches!(parsed.base, Base::Offset(4000)));
            }
        }
        for distance in [1u64, 127, 128, 16511, 16512, 1 << 35] {
            let mut buf = vec![0x60];
            packfile::ofs_distance(&mut buf, distance);
            let parsed = parse_entry(&buf, distance + 7).unwrap();
            assert!(matches!(parsed.base, Base::Offset(7)));
        }
    }
}
