//! Durable on-disk queue between scraping and sending (write-ahead, checksummed segments).
//!
//! Layout of `dir`:
//! - `NNNNNNNNNNNNNNNNNNNN.seg` — append-only segments; each record is
//!   `[len: u32 LE][crc32: u32 LE][payload]`, the payload a protobuf `WriteRequest` holding
//!   one scrape. A new segment is started at every start and when the active one reaches
//!   `segment_bytes`.
//! - `cursor` — `"<segment> <offset>"` of the first record not yet delivered, replaced
//!   atomically (write + fsync + rename) after each delivery.
//!
//! Guarantees:
//! - **At-least-once**: a scrape is acknowledged once its record is written (and, with
//!   `fsync`, synced). After `kill -9` the agent resumes at the cursor; a request that was
//!   in flight is sent again, which is harmless (same timestamps and values).
//! - **Bounded**: when the segments would exceed `max_bytes`, whole **oldest** segments are
//!   deleted and their undelivered samples counted as dropped (`queue_full`).
//! - **Corruption** (power loss, bit rot): a record with a bad checksum or a truncated tail
//!   ends that segment's replay; the rest of the segment is skipped and counted, never a
//!   panic.
//! - **Order**: records are replayed strictly FIFO, so every series stays in timestamp
//!   order (AMP rejects out-of-order samples). A backlog is drained at full batch speed;
//!   fresh scrapes wait behind it but are never starved, because draining outpaces
//!   scraping.

use monitor_amp::proto::{TimeSeries, WriteRequest};
use prost::Message;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::sync::Notify;

const HEADER: usize = 8;
/// Largest record accepted when reading (guards against a corrupt length field).
const MAX_RECORD: usize = 256 << 20;

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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DiskQueueError + '_ {
    move |source| DiskQueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A position in the queue: segment sequence number and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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
    active: File,
    cursor: Position,
    /// Samples of the cursor's segment before the cursor (already delivered).
    consumed: u64,
    pending: u64,
    total_bytes: u64,
}

/// Counters reported by [`DiskQueue::open`] and pushes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Records with a bad checksum or truncated, skipped.
    pub corrupt_records: u64,
    /// Undelivered samples found on disk at start.
    pub pending_samples: u64,
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

/// Reads one record at `f`'s position. `Ok(None)` at a clean end of data; `Err(())` for
/// corruption (bad length, checksum, decode) or a truncated record.
fn read_record(f: &mut File, limit: u64, offset: u64) -> Result<Option<(WriteRequest, u64)>, ()> {
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
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).map_err(|_| ())?;
    if crc32fast::hash(&buf) != crc {
        return Err(());
    }
    let req = WriteRequest::decode(buf.as_slice()).map_err(|_| ())?;
    Ok(Some((req, offset + (HEADER + len) as u64)))
}

/// Scans a segment: (valid_to, samples, samples before `stop_at`, corrupt?).
fn scan(path: &Path, stop_at: Option<u64>) -> Result<(u64, u64, u64, bool), DiskQueueError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let len = f.metadata().map_err(io_err(path))?.len();
    let (mut off, mut samples, mut before) = (0u64, 0u64, 0u64);
    loop {
        match read_record(&mut f, len, off) {
            Ok(None) => return Ok((off, samples, before, false)),
            Ok(Some((req, next))) => {
                let n = count_samples(&req);
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
        let cursor_path = dir.join("cursor");
        let mut cursor = fs::read_to_string(&cursor_path)
            .ok()
            .and_then(|s| {
                let mut it = s.split_whitespace();
                Some(Position {
                    segment: it.next()?.parse().ok()?,
                    offset: it.next()?.parse().ok()?,
                })
            })
            .unwrap_or(Position {
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
        let active_path = seg_path(dir, next_seq);
        let active = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&active_path)
            .map_err(io_err(&active_path))?;
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
                active,
                cursor,
                consumed,
                pending,
                total_bytes,
            }),
            notify: Notify::new(),
        };
        Ok((q, rec))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one scrape durably, as records of at most `max_record_samples` samples
    /// (so a huge scrape is replayed in request-sized pieces), with one write and one
    /// fsync. Returns the undelivered samples dropped to stay under `max_bytes` (oldest
    /// segments first).
    pub fn push(
        &self,
        batch: Vec<TimeSeries>,
        max_record_samples: usize,
    ) -> Result<u64, DiskQueueError> {
        let n: u64 = batch.iter().map(|t| t.samples.len() as u64).sum();
        if n == 0 {
            return Ok(0);
        }
        let mut rec = Vec::new();
        let mut rest = batch;
        while !rest.is_empty() {
            let tail = if rest.len() > max_record_samples.max(1) {
                rest.split_off(max_record_samples.max(1))
            } else {
                Vec::new()
            };
            let payload = WriteRequest { timeseries: rest }.encode_to_vec();
            rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            rec.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            rec.extend_from_slice(&payload);
            rest = tail;
        }
        let mut st = self.lock();
        let mut dropped = 0;
        // Make room: delete whole oldest segments (never the active one).
        while st.total_bytes + rec.len() as u64 > self.max_bytes && st.segments.len() > 1 {
            let Some(old) = st.segments.pop_front() else {
                break;
            };
            let undelivered = if old.seq == st.cursor.segment {
                old.samples - st.consumed
            } else if old.seq > st.cursor.segment {
                old.samples
            } else {
                0
            };
            dropped += undelivered;
            st.pending -= undelivered;
            st.total_bytes -= old.bytes;
            let _ = fs::remove_file(seg_path(&self.dir, old.seq));
            if old.seq >= st.cursor.segment {
                let next = st.segments.front().map(|s| s.seq).unwrap_or(old.seq + 1);
                st.cursor = Position {
                    segment: next,
                    offset: 0,
                };
                st.consumed = 0;
            }
        }
        // Rotate the active segment when full.
        let needs_rotation = st
            .segments
            .back()
            .is_some_and(|s| s.bytes > 0 && s.bytes + rec.len() as u64 > self.segment_bytes);
        if needs_rotation {
            let seq = st.segments.back().map(|s| s.seq + 1).unwrap_or(1);
            let p = seg_path(&self.dir, seq);
            st.active = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map_err(io_err(&p))?;
            st.segments.push_back(Segment {
                seq,
                bytes: 0,
                samples: 0,
                valid_to: 0,
            });
        }
        let active_seq = st.segments.back().map(|s| s.seq).unwrap_or(0);
        let p = seg_path(&self.dir, active_seq);
        st.active.write_all(&rec).map_err(io_err(&p))?;
        if self.fsync {
            st.active.sync_data().map_err(io_err(&p))?;
        }
        if let Some(s) = st.segments.back_mut() {
            s.bytes += rec.len() as u64;
            s.valid_to = s.bytes;
            s.samples += n;
        }
        st.total_bytes += rec.len() as u64;
        st.pending += n;
        drop(st);
        self.notify.notify_one();
        Ok(dropped)
    }

    /// Reads whole scrapes from the cursor until at least `max` samples, the end of a
    /// segment or the end of data;
    /// returns them with the position after them (pass it to [`DiskQueue::commit`] once
    /// they are delivered or permanently dropped) and the count of corrupt records met.
    pub fn peek(&self, max: usize) -> (Vec<TimeSeries>, Position, u64) {
        let st = self.lock();
        let mut pos = st.cursor;
        let mut out: Vec<TimeSeries> = Vec::new();
        let mut samples = 0usize;
        let mut corrupt = 0;
        let segs: Vec<(u64, u64)> = st
            .segments
            .iter()
            .filter(|s| s.seq >= pos.segment)
            .map(|s| (s.seq, s.valid_to))
            .collect();
        drop(st);
        for (seq, valid_to) in segs {
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
                    Ok(Some((req, next))) => {
                        samples += req.sample_count();
                        out.extend(req.timeseries);
                        pos.offset = next;
                        if samples >= max {
                            return (out, pos, corrupt);
                        }
                    }
                    Err(()) => {
                        corrupt += 1;
                        pos.offset = valid_to;
                        break;
                    }
                }
            }
            // One segment per batch keeps the delivered-sample accounting exact.
            if !out.is_empty() {
                break;
            }
        }
        (out, pos, corrupt)
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
        st.consumed += delivered_samples;
        st.pending = st.pending.saturating_sub(delivered_samples);
        let tmp = self.dir.join("cursor.tmp");
        let path = self.dir.join("cursor");
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            writeln!(f, "{} {}", pos.segment, pos.offset).map_err(io_err(&tmp))?;
            if self.fsync {
                f.sync_all().map_err(io_err(&tmp))?;
            }
        }
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        while st.segments.len() > 1 && st.segments.front().is_some_and(|s| s.seq < pos.segment) {
            if let Some(old) = st.segments.pop_front() {
                st.total_bytes -= old.bytes;
                let _ = fs::remove_file(seg_path(&self.dir, old.seq));
            }
        }
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

    /// Waits for the next push.
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

    fn drain(q: &DiskQueue) -> Vec<i64> {
        let mut ts = vec![];
        loop {
            let (b, pos, _) = q.peek(1000);
            if b.is_empty() {
                return ts;
            }
            let n = b.len() as u64;
            ts.extend(b.iter().map(|t| t.samples[0].timestamp));
            q.commit(pos, n).unwrap();
        }
    }

    #[test]
    fn survives_reopen_with_at_least_once_semantics() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 4096, true).unwrap();
            for ts in 1..=5 {
                q.push(batch(ts, 3), 1000).unwrap();
            }
            let (b, pos, _) = q.peek(6);
            assert_eq!(b.len(), 6);
            q.commit(pos, 6).unwrap(); // ts 1..2 delivered
            let (b, _, _) = q.peek(3);
            assert_eq!(b[0].samples[0].timestamp, 3); // in flight, not committed: "crash"
        }
        let (q, rec) = DiskQueue::open(dir.path(), 1 << 20, 4096, true).unwrap();
        assert_eq!(rec.pending_samples, 9);
        assert_eq!(q.len(), 9);
        q.push(batch(6, 3), 1000).unwrap();
        let got = drain(&q);
        assert_eq!(got, vec![3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]);
        assert!(q.is_empty());
    }

    #[test]
    fn rotates_segments_and_deletes_delivered_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 200, false).unwrap();
        for ts in 1..=20 {
            q.push(batch(ts, 2), 1000).unwrap();
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
            dropped += q.push(batch(ts, 2), 1000).unwrap();
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
                q.push(batch(ts, 1), 1000).unwrap();
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
            q.push(batch(1, 1), 1000).unwrap();
            q.push(batch(2, 1), 1000).unwrap();
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
        q.push(batch(3, 1), 1000).unwrap();
        assert_eq!(drain(&q), vec![1, 3]);
    }

    #[test]
    fn big_scrapes_are_stored_as_request_sized_records() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = DiskQueue::open(dir.path(), 1 << 20, 1 << 20, false).unwrap();
        q.push(batch(1, 5), 2).unwrap();
        let sizes: Vec<usize> = std::iter::from_fn(|| {
            let (b, pos, _) = q.peek(1);
            (!b.is_empty()).then(|| {
                q.commit(pos, b.len() as u64).unwrap();
                b.len()
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
}
