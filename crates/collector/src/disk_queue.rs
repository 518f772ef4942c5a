//! Durable on-disk queue between scraping and sending (write-ahead, checksummed segments).
//!
//! Layout of `dir`:
//! - `NNNNNNNNNNNNNNNNNNNN.seg` — append-only segments; each record is
//!   `[len: u32 LE][crc32: u32 LE][payload]`, the payload a protobuf `WriteRequest` of at
//!   most `max_record_samples` samples. A new segment is started at every start and before
//!   a record that would take the active one past `segment_bytes`.
//! - `cursor.bin` — the position of the first record not yet delivered, in two
//!   checksummed 32-byte slots written alternately in place (the newest valid slot wins).
//!   The file is allocated once, so saving the cursor needs no free space: a full disk
//!   never stops delivery from advancing. (`cursor`, the text file of earlier versions,
//!   is read once and removed.)
//!
//! Guarantees:
//! - **At-least-once**: a scrape is acknowledged once its record is written (and, with
//!   `fsync`, synced). After `kill -9` the agent resumes at the cursor; a request that was
//!   in flight is sent again, which is harmless (same timestamps and values).
//! - **Bounded**: when the segments would exceed `max_bytes`, whole **oldest** segments are
//!   deleted and their undelivered samples counted as dropped (`queue_full`).
//! - **A failed write changes nothing**: on any write or fsync error (`ENOSPC`, `EIO`) the
//!   active segment is truncated back to its last good record (or, if even that fails,
//!   sealed and a new segment started by the next push), only records fully written are
//!   counted, and the queue resumes by itself once space returns.
//! - **Directory entries are durable** (with `fsync`): the directory is synced after a
//!   segment is created or deleted and after the cursor file is created.
//! - **Corruption** (power loss, bit rot): a record with a bad checksum or a truncated tail
//!   ends that segment's replay; the rest of the segment is skipped and counted, never a
//!   panic, and the count of waiting samples is corrected so the sender never waits for
//!   data that cannot be read.
//! - **Order**: records are replayed strictly FIFO, so every series stays in timestamp
//!   order (AMP rejects out-of-order samples). A backlog is drained at full batch speed;
//!   fresh scrapes wait behind it but are never starved, because draining outpaces
//!   scraping.
//!
//! Every method does blocking file I/O: call it from a blocking thread
//! (`tokio::task::spawn_blocking`), never on an async worker.

use monitor_amp::encoded::Encoded;
use monitor_amp::proto::{TimeSeries, WriteRequest};
use prost::Message;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::sync::Notify;

const HEADER: usize = 8;
/// Largest record accepted when reading (guards against a corrupt length field).
const MAX_RECORD: usize = 256 << 20;
const CURSOR_FILE: &str = "cursor.bin";
const LEGACY_CURSOR_FILE: &str = "cursor";
const SLOT: usize = 32;
const SLOT_MAGIC: u32 = 0x4d51_4331; // "MQC1"

/// Errors of the disk queue.
#[derive(Debug, thiserror::Error)]
pub enum DiskQueueError {
    /// A filesystem operation failed.
    #[error("queue {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl DiskQueueError {
    /// The underlying I/O error kind (e.g. `StorageFull` for `ENOSPC`).
    pub fn kind(&self) -> std::io::ErrorKind {
        match self {
            DiskQueueError::Io { source, .. } => source.kind(),
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DiskQueueError + '_ {
    move |source| DiskQueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A position in the queue: segment sequence number and byte offset.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Segment sequence number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    bytes: u64,
    samples: u64,
    /// Valid data ends here (a corrupt tail after it is never read).
    valid_to: u64,
}

#[derive(Debug)]
struct State {
    segments: VecDeque<Segment>,
    /// The segment being appended to (the back of `segments`); `None` once it was sealed
    /// after a failed write, so the next record starts a new segment.
    active: Option<File>,
    cursor: Position,
    /// Samples of the cursor's segment before the cursor (already delivered).
    consumed: u64,
    pending: u64,
    total_bytes: u64,
    /// Incremented by every successful push (lets `peek` tell "nothing readable" from a
    /// push that raced with it).
    pushes: u64,
    cursor_file: File,
    cursor_generation: u64,
    /// Where the records this process wrote start and their sample counts, oldest first
    /// (at most [`KNOWN_COUNTS`]): a batch read takes a record's count from here instead
    /// of reading its series. Records from before a restart are counted by reading.
    known: VecDeque<(Position, u64)>,
}

/// Record counts kept in [`State::known`] (16 bytes each).
const KNOWN_COUNTS: usize = 4096;

/// The counts a batch read may use, copied under the lock.
const KNOWN_PER_BATCH: usize = 64;

/// Counters reported by [`DiskQueue::open`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Records with a bad checksum or truncated, skipped.
    pub corrupt_records: u64,
    /// Undelivered samples found on disk at start.
    pub pending_samples: u64,
}

/// What [`DiskQueue::push`] did.
#[derive(Debug, Default)]
pub struct Pushed {
    /// Undelivered samples of the oldest segments deleted to stay under `max_bytes`.
    pub evicted: u64,
    /// Samples that could not be written, and why (the queue is unchanged by them).
    pub failed: Option<(u64, DiskQueueError)>,
}

/// What [`DiskQueue::peek`] found.
#[derive(Debug, Default)]
pub struct Peeked {
    /// The series, in queue order.
    pub series: Vec<TimeSeries>,
    /// The position after them: pass it to [`DiskQueue::commit`] once delivered.
    pub next: Position,
    /// Corrupt records met (their segment's rest is skipped).
    pub corrupt_records: u64,
    /// Samples counted as waiting that turned out unreadable (corruption): no longer
    /// counted as pending; report them as dropped.
    pub unreadable_samples: u64,
}

/// What [`DiskQueue::peek_encoded`] found.
#[derive(Debug, Default)]
pub struct PeekedEncoded {
    /// The records' payloads in queue order, laid end to end: one encoded `WriteRequest`.
    pub bytes: Vec<u8>,
    /// Samples in `bytes`.
    pub samples: usize,
    /// Records in `bytes`.
    pub records: usize,
    /// The position after them: pass it to [`DiskQueue::commit`] once delivered.
    pub next: Position,
    /// Corrupt records met (their segment's rest is skipped).
    pub corrupt_records: u64,
    /// Samples counted as waiting that turned out unreadable (corruption): no longer
    /// counted as pending; report them as dropped.
    pub unreadable_samples: u64,
}

impl PeekedEncoded {
    /// The request to send: one record as it is stored (a record is one scrape, or a
    /// piece of one, so each series is in it once), several merged by series
    /// ([`monitor_amp::encoded::merge`]) so a series' samples from successive scrapes
    /// travel together.
    ///
    /// # Errors
    /// As `merge`: bytes that are not a `WriteRequest` (the queue's reader already
    /// refused such records, so this does not happen for what [`DiskQueue::peek_encoded`]
    /// returns).
    pub fn into_request(self) -> Result<monitor_amp::encoded::Encoded, monitor_amp::Error> {
        if self.records == 1 {
            return Ok(monitor_amp::encoded::Encoded {
                bytes: self.bytes,
                samples: self.samples,
            });
        }
        monitor_amp::encoded::merge(&self.bytes)
    }
}

/// The durable queue.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    fsync: bool,
    state: Mutex<State>,
    notify: Notify,
}

fn seg_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

fn count_samples(req: &WriteRequest) -> u64 {
    req.sample_count() as u64
}

/// Reads one record's payload at `f`'s position. `Ok(None)` at a clean end of data;
/// `Err(())` for corruption (bad length or checksum) or a truncated record.
fn read_record(f: &mut File, limit: u64, offset: u64) -> Result<Option<(Vec<u8>, u64)>, ()> {
    if offset >= limit {
        return Ok(None);
    }
    if limit - offset < HEADER as u64 {
        return Err(());
    }
    let mut h = [0u8; HEADER];
    f.read_exact(&mut h).map_err(|_| ())?;
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if len > MAX_RECORD || offset + (HEADER + len) as u64 > limit {
        return Err(());
    }
    // Not zeroed first: read straight into the spare capacity.
    let mut buf = Vec::with_capacity(len);
    Read::take(&mut *f, len as u64)
        .read_to_end(&mut buf)
        .map_err(|_| ())?;
    if buf.len() != len || crc32fast::hash(&buf) != crc {
        return Err(());
    }
    Ok(Some((buf, offset + (HEADER + len) as u64)))
}

/// Decodes the records of a segment file's bytes, as the queue replays them: the
/// requests in order, and whether the data ended in a corrupt or truncated record.
/// Never panics, whatever the bytes (the fuzz target's entry point).
pub fn decode_segment(bytes: &[u8]) -> (Vec<WriteRequest>, bool) {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < HEADER {
            return (out, true);
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let Some(payload) = rest.get(HEADER..HEADER.saturating_add(len)) else {
            return (out, true);
        };
        if len > MAX_RECORD || crc32fast::hash(payload) != crc {
            return (out, true);
        }
        match WriteRequest::decode(payload) {
            Ok(r) => out.push(r),
            Err(_) => return (out, true),
        }
        rest = &rest[HEADER + len..];
    }
    (out, false)
}

/// Scans a segment: (valid_to, samples, samples before `stop_at`, corrupt?).
fn scan(path: &Path, stop_at: Option<u64>) -> Result<(u64, u64, u64, bool), DiskQueueError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let len = f.metadata().map_err(io_err(path))?.len();
    let (mut off, mut samples, mut before) = (0u64, 0u64, 0u64);
    loop {
        match read_record(&mut f, len, off) {
            Ok(None) => return Ok((off, samples, before, false)),
            Ok(Some((payload, next))) => {
                let Ok(n) = monitor_amp::encoded::count_samples(&payload) else {
                    return Ok((off, samples, before, true));
                };
                let n = n as u64;
                samples += n;
                if stop_at.is_some_and(|s| next <= s) {
                    before += n;
                }
                off = next;
            }
            Err(()) => return Ok((off, samples, before, true)),
        }
    }
}

fn encode_slot(generation: u64, pos: Position) -> [u8; SLOT] {
    let mut b = [0u8; SLOT];
    b[0..4].copy_from_slice(&SLOT_MAGIC.to_le_bytes());
    b[4..12].copy_from_slice(&generation.to_le_bytes());
    b[12..20].copy_from_slice(&pos.segment.to_le_bytes());
    b[20..28].copy_from_slice(&pos.offset.to_le_bytes());
    let crc = crc32fast::hash(&b[0..28]);
    b[28..32].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode_slot(b: &[u8]) -> Option<(u64, Position)> {
    let word = |r: std::ops::Range<usize>| b.get(r).map(|s| s.to_vec());
    let u64_at =
        |at: usize| -> Option<u64> { Some(u64::from_le_bytes(word(at..at + 8)?.try_into().ok()?)) };
    let magic = u32::from_le_bytes(word(0..4)?.try_into().ok()?);
    let crc = u32::from_le_bytes(word(28..32)?.try_into().ok()?);
    if magic != SLOT_MAGIC || crc32fast::hash(b.get(0..28)?) != crc {
        return None;
    }
    Some((
        u64_at(4)?,
        Position {
            segment: u64_at(12)?,
            offset: u64_at(20)?,
        },
    ))
}

/// Opens (creating and allocating if needed) the cursor file; returns it with the newest
/// valid position and its generation. Falls back to the legacy text cursor.
fn open_cursor(dir: &Path, fsync: bool) -> Result<(File, u64, Option<Position>), DiskQueueError> {
    let path = dir.join(CURSOR_FILE);
    let existed = path.exists();
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(io_err(&path))?;
    let newest = bytes
        .chunks(SLOT)
        .filter_map(decode_slot)
        .max_by_key(|(g, _)| *g);
    if bytes.len() < 2 * SLOT {
        // Allocate both slots now, while there is space, so later saves never need any.
        f.write_all_at(&[0u8; 2 * SLOT], 0).map_err(io_err(&path))?;
        if fsync {
            f.sync_all().map_err(io_err(&path))?;
        }
    }
    if !existed && fsync {
        sync_dir(dir)?;
    }
    let legacy = dir.join(LEGACY_CURSOR_FILE);
    let legacy_pos = fs::read_to_string(&legacy).ok().and_then(|s| {
        let mut it = s.split_whitespace();
        Some(Position {
            segment: it.next()?.parse().ok()?,
            offset: it.next()?.parse().ok()?,
        })
    });
    Ok(match (newest, legacy_pos) {
        (Some((g, p)), _) => (f, g, Some(p)),
        (None, Some(p)) => (f, 0, Some(p)),
        (None, None) => (f, 0, None),
    })
}

fn sync_dir(dir: &Path) -> Result<(), DiskQueueError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn open_segment(dir: &Path, seq: u64) -> Result<File, DiskQueueError> {
    let p = seg_path(dir, seq);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .map_err(io_err(&p))
}

/// Encodes `batch` as records of at most `max_record_samples` samples each.
/// A record: `[len][crc32][payload]`.
fn record(payload: &[u8]) -> Vec<u8> {
    let mut rec = Vec::with_capacity(HEADER + payload.len());
    rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    rec.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    rec.extend_from_slice(payload);
    rec
}

fn encode_records(batch: Vec<TimeSeries>, max_record_samples: usize) -> Vec<(Vec<u8>, u64)> {
    let per = max_record_samples.max(1);
    let mut out = Vec::new();
    let mut rest = batch;
    while !rest.is_empty() {
        let tail = if rest.len() > per {
            rest.split_off(per)
        } else {
            Vec::new()
        };
        let req = WriteRequest { timeseries: rest };
        let n = count_samples(&req);
        out.push((record(&req.encode_to_vec()), n));
        rest = tail;
    }
    out
}

impl DiskQueue {
    /// Opens (or creates) the queue in `dir`, recovering what a previous run left.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        segment_bytes: u64,
        fsync: bool,
    ) -> Result<(DiskQueue, Recovery), DiskQueueError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut seqs: Vec<u64> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        seqs.sort_unstable();
        let (cursor_file, cursor_generation, saved) = open_cursor(dir, fsync)?;
        let mut cursor = saved.unwrap_or(Position {
            segment: 0,
            offset: 0,
        });
        let mut rec = Recovery::default();
        let mut segments = VecDeque::new();
        let mut consumed = 0;
        for seq in seqs {
            let p = seg_path(dir, seq);
            if seq < cursor.segment {
                // Fully delivered before the crash; the delete did not happen yet.
                let _ = fs::remove_file(&p);
                continue;
            }
            let stop = (seq == cursor.segment).then_some(cursor.offset);
            let (valid_to, samples, before, corrupt) = scan(&p, stop)?;
            if corrupt {
                rec.corrupt_records += 1;
                tracing::warn!(segment = %p.display(), valid_to, "corrupt or truncated record: the rest of this segment is skipped");
            }
            if seq == cursor.segment {
                consumed = before;
                if cursor.offset > valid_to {
                    cursor.offset = valid_to;
                }
            }
            let bytes = fs::metadata(&p).map_err(io_err(&p))?.len();
            if bytes == 0 {
                let _ = fs::remove_file(&p); // an empty segment left by an earlier start
                continue;
            }
            segments.push_back(Segment {
                seq,
                bytes,
                samples,
                valid_to,
            });
        }
        if let Some(first) = segments.front() {
            if cursor.segment < first.seq {
                cursor = Position {
                    segment: first.seq,
                    offset: 0,
                };
                consumed = 0;
            }
        }
        let next_seq = segments
            .back()
            .map(|s| s.seq + 1)
            .unwrap_or(cursor.segment.max(1));
        let active = open_segment(dir, next_seq)?;
        if fsync {
            sync_dir(dir)?;
        }
        if segments.is_empty() {
            cursor = Position {
                segment: next_seq,
                offset: 0,
            };
        }
        segments.push_back(Segment {
            seq: next_seq,
            bytes: 0,
            samples: 0,
            valid_to: 0,
        });
        let pending = segments.iter().map(|s| s.samples).sum::<u64>() - consumed;
        let total_bytes = segments.iter().map(|s| s.bytes).sum();
        rec.pending_samples = pending;
        let q = DiskQueue {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes,
            fsync,
            state: Mutex::new(State {
                segments,
                active: Some(active),
                cursor,
                consumed,
                pending,
                total_bytes,
                pushes: 0,
                cursor_file,
                cursor_generation,
                known: VecDeque::new(),
            }),
            notify: Notify::new(),
        };
        // Persist the recovered position in the current format (and retire the legacy file).
        q.save_cursor(&mut q.lock(), cursor)?;
        let _ = fs::remove_file(dir.join(LEGACY_CURSOR_FILE));
        Ok((q, rec))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one scrape as records of at most `max_record_samples` samples (so a huge
    /// scrape is replayed in request-sized pieces), starting a new segment before any
    /// record that would overflow `segment_bytes`, and deleting whole oldest segments to
    /// stay under `max_bytes`. With `fsync`, each push is synced once.
    ///
    /// On an I/O error the record being written is rolled back and it and the rest of
    /// the scrape are reported in [`Pushed::failed`]; records written before it stay.
    pub fn push(&self, batch: Vec<TimeSeries>, max_record_samples: usize) -> Pushed {
        self.push_records(encode_records(batch, max_record_samples))
    }

    /// As [`DiskQueue::push_encoded`], for a scrape from [`crate::target::Scrape::finish`]
    /// (or `TargetState::process`), which wrote where each of its series ends
    /// (`series_ends`, one sample each): the records are cut there without reading the
    /// bytes again. Ends that do not describe the bytes (not one per sample, not
    /// increasing, not ending at the end) fall back to [`DiskQueue::push_encoded`].
    pub fn push_scrape(
        &self,
        scrape: &Encoded,
        series_ends: &[u32],
        max_record_samples: usize,
    ) -> Pushed {
        let consistent = series_ends.len() == scrape.samples
            && series_ends.last().map_or(scrape.bytes.is_empty(), |&e| {
                e as usize == scrape.bytes.len()
            })
            && series_ends.windows(2).all(|w| w[0] < w[1]);
        if !consistent {
            return self.push_encoded(scrape, max_record_samples);
        }
        let mut start = 0usize;
        let records = series_ends
            .chunks(max_record_samples.max(1))
            .filter_map(|chunk| {
                let end = *chunk.last()? as usize;
                let piece = &scrape.bytes[start..end];
                start = end;
                Some((record(piece), chunk.len() as u64))
            })
            .collect();
        self.push_records(records)
    }

    /// As [`DiskQueue::push`], for a scrape that is already an encoded `WriteRequest`
    /// (what `TargetState::process` makes): cut at series boundaries into records of at
    /// most `max_record_samples` samples and stored as they are. Bytes that are not such
    /// a request are reported in [`Pushed::failed`] (as `InvalidData`), never stored.
    pub fn push_encoded(&self, scrape: &Encoded, max_record_samples: usize) -> Pushed {
        match monitor_amp::encoded::pieces(&scrape.bytes, max_record_samples) {
            Ok(pieces) => self.push_records(
                pieces
                    .into_iter()
                    .map(|(payload, n)| (record(payload), n as u64))
                    .collect(),
            ),
            Err(e) => Pushed {
                evicted: 0,
                failed: Some((
                    scrape.samples as u64,
                    DiskQueueError::Io {
                        path: self.dir.clone(),
                        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
                    },
                )),
            },
        }
    }

    fn push_records(&self, records: Vec<(Vec<u8>, u64)>) -> Pushed {
        let mut out = Pushed::default();
        if records.is_empty() {
            return out;
        }
        let mut st = self.lock();
        let mut written = 0;
        for (i, (rec, n)) in records.iter().enumerate() {
            out.evicted += self.make_room(&mut st, rec.len() as u64);
            let last = i + 1 == records.len();
            match self.append(&mut st, rec, *n, self.fsync && last) {
                Ok(()) => written += 1,
                Err(e) => {
                    let lost: u64 = records[i..].iter().map(|(_, n)| n).sum();
                    out.failed = Some((lost, e));
                    break;
                }
            }
        }
        if written > 0 {
            st.pushes += 1;
            drop(st);
            self.notify.notify_one();
        }
        out
    }

    /// Deletes whole oldest segments (never the active one) until `extra` more bytes fit
    /// under `max_bytes`; returns the undelivered samples deleted.
    fn make_room(&self, st: &mut State, extra: u64) -> u64 {
        let mut dropped = 0;
        while st.total_bytes + extra > self.max_bytes && st.segments.len() > 1 {
            let Some(old) = st.segments.pop_front() else {
                break;
            };
            let undelivered = if old.seq == st.cursor.segment {
                old.samples.saturating_sub(st.consumed)
            } else if old.seq > st.cursor.segment {
                old.samples
            } else {
                0
            };
            dropped += undelivered;
            st.pending = st.pending.saturating_sub(undelivered);
            st.total_bytes -= old.bytes;
            self.remove_segment(old.seq);
            if old.seq >= st.cursor.segment {
                let next = st.segments.front().map(|s| s.seq).unwrap_or(old.seq + 1);
                st.cursor = Position {
                    segment: next,
                    offset: 0,
                };
                st.consumed = 0;
            }
        }
        dropped
    }

    fn remove_segment(&self, seq: u64) {
        let p = seg_path(&self.dir, seq);
        if let Err(e) = fs::remove_file(&p) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(segment = %p.display(), error = %e, "cannot delete a queue segment");
            }
        }
        if self.fsync {
            if let Err(e) = sync_dir(&self.dir) {
                tracing::warn!(error = %e, "cannot sync the queue directory");
            }
        }
    }

    /// Writes one record to the active segment (starting a new one first when needed);
    /// on failure truncates the segment back to its last good record.
    fn append(&self, st: &mut State, rec: &[u8], n: u64, sync: bool) -> Result<(), DiskQueueError> {
        let len = rec.len() as u64;
        let full = st
            .segments
            .back()
            .is_some_and(|s| s.bytes > 0 && s.bytes + len > self.segment_bytes);
        if full || st.active.is_none() {
            if let (true, Some(old)) = (self.fsync, st.active.as_ref()) {
                // Records of this push already in the old segment were written unsynced.
                if let Err(e) = old.sync_data() {
                    tracing::warn!(error = %e, "cannot sync a full queue segment");
                }
            }
            let seq = st.segments.back().map(|s| s.seq + 1).unwrap_or(1);
            let file = open_segment(&self.dir, seq)?;
            if self.fsync {
                sync_dir(&self.dir)?;
            }
            // A sealed or empty predecessor with nothing in it is not kept around.
            if st.segments.back().is_some_and(|s| s.bytes == 0) {
                if let Some(empty) = st.segments.pop_back() {
                    self.remove_segment(empty.seq);
                    if st.cursor.segment == empty.seq {
                        st.cursor = Position {
                            segment: seq,
                            offset: 0,
                        };
                        st.consumed = 0;
                    }
                }
            }
            st.active = Some(file);
            st.segments.push_back(Segment {
                seq,
                bytes: 0,
                samples: 0,
                valid_to: 0,
            });
        }
        let seq = st.segments.back().map(|s| s.seq).unwrap_or(0);
        let good = st.segments.back().map(|s| s.bytes).unwrap_or(0);
        let path = seg_path(&self.dir, seq);
        let Some(file) = st.active.as_mut() else {
            unreachable!("an active segment was opened above");
        };
        let result = file
            .write_all(rec)
            .and_then(|()| if sync { file.sync_data() } else { Ok(()) });
        if let Err(e) = result {
            // Roll back the torn bytes. After a failed fsync the page cache cannot be
            // trusted either, so seal the segment and let the next record start afresh.
            let rolled_back = file.set_len(good).is_ok();
            if !rolled_back || sync {
                st.active = None;
            }
            return Err(io_err(&path)(e));
        }
        if let Some(s) = st.segments.back_mut() {
            s.bytes += len;
            s.valid_to = s.bytes;
            s.samples += n;
        }
        st.total_bytes += len;
        st.pending += n;
        if st.known.len() == KNOWN_COUNTS {
            st.known.pop_front();
        }
        st.known.push_back((
            Position {
                segment: seq,
                offset: good,
            },
            n,
        ));
        Ok(())
    }

    /// Reads whole records from the cursor until at least `max` samples, the end of a
    /// segment or the end of data, decoded into series.
    pub fn peek(&self, max: usize) -> Peeked {
        let mut series = Vec::new();
        let (next, corrupt_records, unreadable_samples) = self.read_batch(max, |payload, _| {
            let req = WriteRequest::decode(payload.as_slice()).map_err(|_| ())?;
            let n = req.sample_count();
            series.extend(req.timeseries);
            Ok(n)
        });
        Peeked {
            series,
            next,
            corrupt_records,
            unreadable_samples,
        }
    }

    /// As [`DiskQueue::peek`], but the records' payloads are returned as they are stored,
    /// laid end to end (one valid encoded `WriteRequest`), with their sample count: what
    /// the sender merges and sends without decoding (`monitor_amp::encoded`).
    pub fn peek_encoded(&self, max: usize) -> PeekedEncoded {
        let mut bytes = Vec::new();
        let (mut samples, mut records) = (0, 0);
        let (next, corrupt_records, unreadable_samples) = self.read_batch(max, |payload, known| {
            let n = match known {
                Some(n) => n,
                None => monitor_amp::encoded::count_samples(&payload).map_err(|_| ())?,
            };
            if bytes.is_empty() {
                bytes = payload;
            } else {
                bytes.extend_from_slice(&payload);
            }
            samples += n;
            records += 1;
            Ok(n)
        });
        PeekedEncoded {
            bytes,
            samples,
            records,
            next,
            corrupt_records,
            unreadable_samples,
        }
    }

    /// The reading behind both peeks: hands each record's payload to `take`, which
    /// returns its sample count (or `Err` for an undecodable record, counted as corrupt),
    /// until `max` samples. Returns the position after the records taken, the corrupt
    /// records met and the waiting samples found unreadable.
    fn read_batch(
        &self,
        max: usize,
        mut take: impl FnMut(Vec<u8>, Option<usize>) -> Result<usize, ()>,
    ) -> (Position, u64, u64) {
        let st = self.lock();
        let mut pos = st.cursor;
        let pushes = st.pushes;
        let pending = st.pending;
        let known: Vec<(Position, u64)> = st
            .known
            .iter()
            .filter(|(p, _)| *p >= pos)
            .take(KNOWN_PER_BATCH)
            .copied()
            .collect();
        let mut known = known.into_iter().peekable();
        let segs: Vec<(u64, u64)> = st
            .segments
            .iter()
            .filter(|s| s.seq >= pos.segment)
            .map(|s| (s.seq, s.valid_to))
            .collect();
        drop(st);
        let (mut corrupt, mut samples, mut taken) = (0u64, 0usize, false);
        'segments: for (seq, valid_to) in segs {
            if seq > pos.segment {
                pos = Position {
                    segment: seq,
                    offset: 0,
                };
            }
            if pos.offset >= valid_to {
                continue;
            }
            let p = seg_path(&self.dir, seq);
            let Ok(mut f) = File::open(&p) else { continue };
            if f.seek(SeekFrom::Start(pos.offset)).is_err() {
                continue;
            }
            loop {
                match read_record(&mut f, valid_to, pos.offset) {
                    Ok(None) => break,
                    Ok(Some((payload, next))) => match take(payload, {
                        // Counts are in record order: skip those behind this record.
                        while known.next_if(|(p, _)| *p < pos).is_some() {}
                        known.next_if(|(p, _)| *p == pos).map(|(_, n)| n as usize)
                    }) {
                        Ok(n) => {
                            samples += n;
                            taken |= n > 0;
                            pos.offset = next;
                            if samples >= max {
                                break 'segments;
                            }
                        }
                        Err(()) => {
                            corrupt += 1;
                            pos.offset = valid_to;
                            break;
                        }
                    },
                    Err(()) => {
                        corrupt += 1;
                        pos.offset = valid_to;
                        break;
                    }
                }
            }
            // One segment per batch keeps the delivered-sample accounting exact.
            if taken {
                break;
            }
        }
        let mut unreadable = 0;
        if !taken && pending > 0 {
            // Nothing readable although samples are counted as waiting: they were in a
            // corrupt region. Stop counting them (unless a push raced with this read).
            let mut st = self.lock();
            if st.pushes == pushes {
                unreadable = st.pending;
                st.pending = 0;
            }
        }
        (pos, corrupt, unreadable)
    }

    /// Marks everything before `pos` delivered: persists the cursor and deletes finished
    /// segments.
    pub fn commit(&self, pos: Position, delivered_samples: u64) -> Result<(), DiskQueueError> {
        let mut st = self.lock();
        if pos < st.cursor {
            return Ok(()); // Already moved past (segment dropped while sending).
        }
        if pos.segment != st.cursor.segment {
            st.consumed = 0;
        }
        st.cursor = pos;
        while st.known.front().is_some_and(|(p, _)| *p < pos) {
            st.known.pop_front();
        }
        st.consumed += delivered_samples;
        st.pending = st.pending.saturating_sub(delivered_samples);
        self.save_cursor(&mut st, pos)?;
        while st.segments.len() > 1 && st.segments.front().is_some_and(|s| s.seq < pos.segment) {
            if let Some(old) = st.segments.pop_front() {
                st.total_bytes -= old.bytes;
                self.remove_segment(old.seq);
            }
        }
        Ok(())
    }

    /// Writes `pos` into the older of the two cursor slots, in place (no allocation).
    fn save_cursor(&self, st: &mut State, pos: Position) -> Result<(), DiskQueueError> {
        let generation = st.cursor_generation + 1;
        let slot = encode_slot(generation, pos);
        let at = (generation % 2) * SLOT as u64;
        let path = self.dir.join(CURSOR_FILE);
        st.cursor_file
            .write_all_at(&slot, at)
            .map_err(io_err(&path))?;
        if self.fsync {
            st.cursor_file.sync_data().map_err(io_err(&path))?;
        }
        st.cursor_generation = generation;
        Ok(())
    }

    /// Undelivered samples.
    pub fn len(&self) -> usize {
        self.lock().pending as usize
    }

    /// True when everything was delivered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.lock().total_bytes
    }

    /// Waits for the next push (returns at once if one happened since the last wait).
    pub async fn wait(&self) {
        self.notify.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_amp::proto::{Label, Sample};

    fn batch(ts: i64, n: usize) -> Vec<TimeSeries> {
        (0..n)
            .map(|i| TimeSeries {
                labels: vec![Label::new("__name__", format!("m{i}"))],
                samples: vec![Sample {
                    value: ts as f64,
                    timestamp: ts,
                }],
            })
            .collect()
    }

    /// Pushes and asserts the write succeeded; returns the evicted samples.
    fn push(q: &DiskQueue, b: Vec<TimeSeries>, max: usize) -> u64 {
        let p = q.push(b, max);
        assert!(p.failed.is_none(), "{:?}", p.failed);
        p.evicted
    }

    fn drain(q: &DiskQueue) -> Vec<i64> {
        let mut ts = vec![];
        loop {
            let p = q.peek(1000);
            if p.series.is_empty() {
                return ts;
            }
            let n = p.series.len() as u64;
            ts.extend(p.series.iter().map(|t| t.samples[0].timestamp));
            q.commit(p.next, n).unwrap();
        }
    }

    /// The agent's read (`peek_encoded`: records as stored, laid end to end) returns
    /// exactly what `peek` decodes, batch for batch, across segment boundaries.
    #[test]
    fn peek_encoded_returns_the_records_peek_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 300, false).unwrap();
        for ts in 1..=7 {
            push(&q, batch(ts, 4), 3);
        }
        let mut batches = 0;
        loop {
            let (p, e) = (q.peek(5), q.peek_encoded(5));
            assert_eq!(p.next, e.next);
            assert_eq!(p.series.len(), e.samples);
            let decoded = WriteRequest::decode(e.bytes.as_slice()).unwrap();
            assert_eq!(decoded.timeseries, p.series);
            if e.samples == 0 {
                break;
            }
            q.commit(e.next, e.samples as u64).unwrap();
            batches += 1;
        }
        assert!(batches > 3, "several batches and segments: {batches}");
        assert!(q.is_empty());
    }

    /// A scrape cut where `process` says its series end makes the same records as one
    /// cut by reading the bytes; ends that do not fit the bytes fall back to reading.
    #[test]
    fn a_scrape_is_cut_at_its_series_ends_like_by_reading_it() {
        let page: String = (0..7).map(|i| format!("m{{i=\"{i}\"}} {i}\n")).collect();
        let mut st =
            crate::target::TargetState::new("j", "t:1", &std::collections::BTreeMap::new());
        let r = st.process(
            crate::exposition::parse(&page).map_err(|e| e.to_string()),
            1_000,
            std::time::Duration::ZERO,
        );
        assert_eq!(r.series_ends.len(), r.encoded.samples); // 7 + up, scrape_*
        let records = |push: &dyn Fn(&DiskQueue)| {
            let dir = tempfile::tempdir().unwrap();
            let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 4096, false).unwrap();
            push(&q);
            let mut out = Vec::new();
            loop {
                let p = q.peek_encoded(1);
                if p.samples == 0 {
                    return out;
                }
                q.commit(p.next, p.samples as u64).unwrap();
                out.push((p.bytes, p.samples));
            }
        };
        let read = records(&|q| assert!(q.push_encoded(&r.encoded, 3).failed.is_none()));
        let cut = records(&|q| {
            assert!(q
                .push_scrape(&r.encoded, &r.series_ends, 3)
                .failed
                .is_none());
        });
        assert_eq!(read.len(), 4, "10 samples in records of 3");
        assert_eq!(cut, read);
        let wrong = records(&|q| {
            assert!(q
                .push_scrape(&r.encoded, &r.series_ends[1..], 3)
                .failed
                .is_none());
        });
        assert_eq!(wrong, read);
    }

    /// Batches read with the counts this process kept for its records are the batches
    /// read after a restart, when every record is counted by reading it.
    #[test]
    fn counts_kept_in_memory_read_the_same_batches_as_counts_read_from_disk() {
        let fill = |q: &DiskQueue| {
            for (ts, n) in [(1, 1), (2, 4), (3, 2), (4, 5), (5, 3)] {
                push(q, batch(ts, n), 3);
            }
        };
        let batches = |q: &DiskQueue| {
            let mut out = Vec::new();
            loop {
                let p = q.peek_encoded(4);
                if p.samples == 0 {
                    return out;
                }
                q.commit(p.next, p.samples as u64).unwrap();
                out.push((p.samples, p.records, p.bytes));
            }
        };
        let live = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(live.path(), 1 << 20, 4096, false).unwrap();
        fill(&q);
        let from_memory = batches(&q);
        let restarted = tempfile::tempdir().unwrap();
        {
            let (q, _) = DiskQueue::open(restarted.path(), 1 << 20, 4096, false).unwrap();
            fill(&q);
        }
        let (q, rec) = DiskQueue::open(restarted.path(), 1 << 20, 4096, false).unwrap();
        assert_eq!(rec.pending_samples, 15);
        assert_eq!(batches(&q), from_memory);
        assert_eq!(from_memory.iter().map(|b| b.0).sum::<usize>(), 15);
    }

    /// One record is sent as it is stored; several are merged by series.
    #[test]
    fn a_single_record_is_the_request_as_stored_and_several_are_merged() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 4096, false).unwrap();
        push(&q, batch(1, 3), 1000);
        push(&q, batch(2, 3), 1000);
        let one = q.peek_encoded(3);
        assert_eq!((one.records, one.samples), (1, 3));
        let stored = one.bytes.clone();
        let req = one.into_request().unwrap();
        assert_eq!((req.bytes, req.samples), (stored, 3));
        let both = q.peek_encoded(6);
        assert_eq!((both.records, both.samples), (2, 6));
        let merged = both.into_request().unwrap().decode().unwrap();
        assert_eq!(merged.timeseries.len(), 3, "3 series, 2 samples each");
        assert!(merged.timeseries.iter().all(|s| s.samples.len() == 2));
    }

    #[test]
    fn survives_reopen_with_at_least_once_semantics() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 4096, true).unwrap();
            for ts in 1..=5 {
                push(&q, batch(ts, 3), 1000);
            }
            let p = q.peek(6);
            assert_eq!(p.series.len(), 6);
            q.commit(p.next, 6).unwrap(); // ts 1..2 delivered
            let p = q.peek(3);
            assert_eq!(p.series[0].samples[0].timestamp, 3); // in flight, not committed: "crash"
        }
        let (q, rec) = DiskQueue::open(dir.path(), 1 << 20, 4096, true).unwrap();
        assert_eq!(rec.pending_samples, 9);
        assert_eq!(q.len(), 9);
        push(&q, batch(6, 3), 1000);
        let got = drain(&q);
        assert_eq!(got, vec![3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]);
        assert!(q.is_empty());
    }

    #[test]
    fn rotates_segments_and_deletes_delivered_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 200, false).unwrap();
        for ts in 1..=20 {
            push(&q, batch(ts, 2), 1000);
        }
        let segs = || {
            fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "seg")
                })
                .count()
        };
        assert!(segs() > 3, "{} segments", segs());
        assert_eq!(drain(&q).len(), 40);
        assert_eq!(segs(), 1);
    }

    #[test]
    fn full_queue_drops_oldest_segments_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1000, 200, false).unwrap();
        let mut dropped = 0;
        for ts in 1..=50 {
            dropped += push(&q, batch(ts, 2), 1000);
        }
        assert!(dropped > 0);
        assert!(q.bytes() <= 1000);
        let got = drain(&q);
        assert_eq!(
            got.len() as u64 + dropped,
            100,
            "every sample is delivered or counted"
        );
        assert_eq!(*got.last().unwrap(), 50, "newest kept");
        assert!(got.windows(2).all(|w| w[0] <= w[1]), "FIFO order kept");
    }

    #[test]
    fn truncated_and_corrupt_records_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, false).unwrap();
            for ts in 1..=3 {
                push(&q, batch(ts, 1), 1000);
            }
        }
        // Power loss: a half-written record at the end.
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.extension().is_some_and(|x| x == "seg") && fs::metadata(p).unwrap().len() > 0
            })
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9]).unwrap();
        drop(f);
        let (q, rec) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, false).unwrap();
        assert_eq!(rec.corrupt_records, 1);
        assert_eq!(drain(&q), vec![1, 2, 3]);

        // Bit flip in the middle of a segment: replay stops there, later segments survive.
        let dir = tempfile::tempdir().unwrap();
        {
            let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, false).unwrap();
            push(&q, batch(1, 1), 1000);
            push(&q, batch(2, 1), 1000);
        }
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.extension().is_some_and(|x| x == "seg") && fs::metadata(p).unwrap().len() > 0
            })
            .unwrap();
        let mut bytes = fs::read(&seg).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&seg, bytes).unwrap();
        let (q, rec) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, false).unwrap();
        assert_eq!(rec.corrupt_records, 1);
        push(&q, batch(3, 1), 1000);
        assert_eq!(drain(&q), vec![1, 3]);
    }

    #[test]
    fn big_scrapes_are_stored_as_request_sized_records() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, false).unwrap();
        push(&q, batch(1, 5), 2);
        let sizes: Vec<usize> = std::iter::from_fn(|| {
            let p = q.peek(1);
            (!p.series.is_empty()).then(|| {
                q.commit(p.next, p.series.len() as u64).unwrap();
                p.series.len()
            })
        })
        .collect();
        assert_eq!(sizes, vec![2, 2, 1]);
    }

    #[test]
    fn garbage_files_never_panic() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("00000000000000000001.seg"),
            b"\xff\xff\xff\xffgarbage",
        )
        .unwrap();
        fs::write(dir.path().join("00000000000000000002.seg"), b"").unwrap();
        fs::write(dir.path().join("cursor"), b"not a cursor").unwrap();
        let (q, rec) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, false).unwrap();
        assert_eq!(rec.corrupt_records, 1);
        assert!(drain(&q).is_empty());
    }

    fn segment_sizes(dir: &Path) -> Vec<u64> {
        let mut v: Vec<(PathBuf, u64)> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .map(|p| {
                let n = fs::metadata(&p).unwrap().len();
                (p, n)
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, n)| n).collect()
    }

    #[test]
    fn one_huge_scrape_respects_segment_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 1024, false).unwrap();
        push(&q, batch(1, 500), 10);
        let sizes = segment_sizes(dir.path());
        assert!(sizes.len() > 5, "{sizes:?}");
        assert!(sizes.iter().all(|&n| n <= 1024), "{sizes:?}");
        assert_eq!(drain(&q).len(), 500);
    }

    #[test]
    fn cursor_is_saved_in_place_and_a_torn_slot_falls_back_to_the_other() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, true).unwrap();
            for ts in 1..=3 {
                push(&q, batch(ts, 1), 1000);
            }
            let p = q.peek(1);
            q.commit(p.next, 1).unwrap(); // ts 1 delivered
            let p = q.peek(1);
            q.commit(p.next, 1).unwrap(); // ts 2 delivered: the newest slot
        }
        let cursor = dir.path().join(CURSOR_FILE);
        assert_eq!(fs::metadata(&cursor).unwrap().len(), 2 * SLOT as u64);
        // Tear the newest slot: the previous position wins (at-least-once: ts 2 again).
        let bytes = fs::read(&cursor).unwrap();
        let newest = (0..2)
            .max_by_key(|i| decode_slot(&bytes[i * SLOT..(i + 1) * SLOT]).map(|(g, _)| g))
            .unwrap();
        let mut torn = bytes.clone();
        torn[newest * SLOT + 13] ^= 0xff;
        fs::write(&cursor, torn).unwrap();
        {
            let copy = tempfile::tempdir().unwrap();
            for e in fs::read_dir(dir.path()).unwrap() {
                let p = e.unwrap().path();
                fs::copy(&p, copy.path().join(p.file_name().unwrap())).unwrap();
            }
            fs::write(copy.path().join(CURSOR_FILE), &bytes).unwrap();
            let (q, _) = DiskQueue::open(copy.path(), 1 << 20, 1 << 20, true).unwrap();
            assert_eq!(drain(&q), vec![3], "the intact cursor resumes after ts 2");
        }
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, true).unwrap();
        assert_eq!(drain(&q), vec![2, 3]);
    }

    #[test]
    fn the_text_cursor_of_earlier_versions_is_honoured_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, false).unwrap();
            for ts in 1..=3 {
                push(&q, batch(ts, 1), 1000);
            }
        }
        // What an earlier version wrote after delivering ts 1: "<segment> <offset>".
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "seg"))
            .unwrap();
        let seq: u64 = seg.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let first = decode_segment(&fs::read(&seg).unwrap()).0[0]
            .encode_to_vec()
            .len()
            + HEADER;
        fs::remove_file(dir.path().join(CURSOR_FILE)).unwrap();
        fs::write(
            dir.path().join(LEGACY_CURSOR_FILE),
            format!("{seq} {first}\n"),
        )
        .unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, false).unwrap();
        assert!(!dir.path().join(LEGACY_CURSOR_FILE).exists());
        assert_eq!(drain(&q), vec![2, 3]);
    }

    #[test]
    fn decode_segment_reads_what_push_wrote_and_flags_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, false).unwrap();
        push(&q, batch(7, 5), 2);
        let seg = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.extension().is_some_and(|x| x == "seg") && fs::metadata(p).unwrap().len() > 0
            })
            .unwrap();
        let bytes = fs::read(seg).unwrap();
        let (reqs, corrupt) = decode_segment(&bytes);
        assert!(!corrupt);
        assert_eq!(
            reqs.iter().map(|r| r.sample_count()).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        let (reqs, corrupt) = decode_segment(&bytes[..bytes.len() - 3]);
        assert!(corrupt);
        assert_eq!(reqs.len(), 2);
    }
}
