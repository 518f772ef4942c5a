//! Bounded in-memory buffer between scraping and sending.
//!
//! Holds whole scrapes in arrival order. When adding would exceed the capacity — in
//! samples, or in bytes of memory (labels and samples as held, estimated) — the
//! **oldest** scrapes are dropped and counted: fresh data wins, and memory stays bounded
//! whatever the receiver does, even for series with huge label sets. (The durable
//! alternative is [`crate::disk_queue`].)

use monitor_amp::proto::TimeSeries;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// A FIFO of scraped samples with a sample-count and a memory bound.
#[derive(Debug)]
pub struct BoundedQueue {
    inner: Mutex<Inner>,
    capacity: usize,
    max_bytes: usize,
    notify: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    batches: VecDeque<Vec<TimeSeries>>,
    samples: usize,
    bytes: usize,
}

fn count(batch: &[TimeSeries]) -> usize {
    batch.iter().map(|t| t.samples.len()).sum()
}

/// Memory one series takes in the queue: its allocations' contents plus their headers
/// (24 bytes per `String`/`Vec`), a `Sample` is 16 bytes.
pub fn series_bytes(t: &TimeSeries) -> usize {
    const HEADER: usize = 24;
    HEADER * 2
        + t.labels
            .iter()
            .map(|l| 2 * HEADER + l.name.len() + l.value.len())
            .sum::<usize>()
        + 16 * t.samples.len()
}

fn bytes_of(batch: &[TimeSeries]) -> usize {
    batch.iter().map(series_bytes).sum()
}

impl BoundedQueue {
    /// A queue holding at most `capacity` samples and about `max_bytes` bytes.
    pub fn new(capacity: usize, max_bytes: usize) -> BoundedQueue {
        BoundedQueue {
            inner: Mutex::new(Inner::default()),
            capacity,
            max_bytes,
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a batch; returns how many samples were dropped to make room (old ones
    /// first; of a batch larger than the whole buffer, its oldest part).
    pub fn push(&self, batch: Vec<TimeSeries>) -> usize {
        let mut batch = batch;
        let mut dropped = 0;
        // A single scrape larger than the whole buffer: keep its newest part.
        let mut bytes = bytes_of(&batch);
        while !batch.is_empty() && (count(&batch) > self.capacity || bytes > self.max_bytes) {
            let keep_from = (batch.len() / 8).max(1);
            let cut: Vec<TimeSeries> = batch.drain(..keep_from).collect();
            dropped += count(&cut);
            bytes -= bytes_of(&cut);
        }
        let n = count(&batch);
        if n == 0 {
            return dropped;
        }
        {
            let mut q = self.lock();
            while q.samples + n > self.capacity || q.bytes + bytes > self.max_bytes {
                match q.batches.pop_front() {
                    Some(old) => {
                        q.samples -= count(&old);
                        q.bytes -= bytes_of(&old);
                        dropped += count(&old);
                    }
                    None => break,
                }
            }
            q.samples += n;
            q.bytes += bytes;
            q.batches.push_back(batch);
        }
        self.notify.notify_one();
        dropped
    }

    /// Removes up to `max` samples from the front (whole series, in order).
    pub fn take(&self, max: usize) -> Vec<TimeSeries> {
        let mut out = Vec::new();
        let mut taken = 0;
        let mut q = self.lock();
        while taken < max {
            let Some(mut front) = q.batches.pop_front() else {
                break;
            };
            let room = max - taken;
            if front.len() > room {
                let rest = front.split_off(room);
                q.batches.push_front(rest);
            }
            let k = count(&front);
            taken += k;
            q.samples -= k;
            q.bytes -= bytes_of(&front);
            out.extend(front);
        }
        out
    }

    /// Samples held now.
    pub fn len(&self) -> usize {
        self.lock().samples
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Estimated bytes held now (see [`series_bytes`]).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Capacity in samples.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Waits until something is pushed (returns at once if a push happened since the
    /// last wait).
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
                    value: 1.0,
                    timestamp: ts,
                }],
            })
            .collect()
    }

    #[test]
    fn full_queue_drops_oldest_keeps_newest() {
        let q = BoundedQueue::new(10, usize::MAX);
        assert_eq!(q.push(batch(1, 4)), 0);
        assert_eq!(q.push(batch(2, 4)), 0);
        assert_eq!(q.push(batch(3, 4)), 4); // ts=1 dropped
        assert_eq!(q.len(), 8);
        let out = q.take(100);
        assert_eq!(out.first().unwrap().samples[0].timestamp, 2);
        assert_eq!(out.last().unwrap().samples[0].timestamp, 3);
        assert!(q.is_empty());
    }

    #[test]
    fn oversized_batch_keeps_its_newest_part() {
        let q = BoundedQueue::new(3, usize::MAX);
        assert_eq!(q.push(batch(1, 5)), 2);
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn memory_bound_holds_for_huge_label_sets() {
        let fat = |ts: i64| {
            vec![TimeSeries {
                labels: vec![
                    Label::new("__name__", "m"),
                    Label::new("big", "x".repeat(10_000)),
                ],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: ts,
                }],
            }]
        };
        let q = BoundedQueue::new(1_000_000, 50_000);
        let mut dropped = 0;
        for ts in 0..20 {
            dropped += q.push(fat(ts));
            assert!(q.bytes() <= 50_000, "{} bytes held", q.bytes());
        }
        assert_eq!(q.len() + dropped, 20, "every sample is held or counted");
        assert_eq!(
            q.take(100).last().unwrap().samples[0].timestamp,
            19,
            "newest kept"
        );
        assert_eq!(q.bytes(), 0);
        // One series bigger than the whole bound is dropped and counted, not held.
        let q = BoundedQueue::new(1_000_000, 1_000);
        assert_eq!(q.push(fat(1)), 1);
        assert!(q.is_empty());
    }

    #[test]
    fn take_splits_batches_in_order() {
        let q = BoundedQueue::new(100, usize::MAX);
        q.push(batch(1, 5));
        q.push(batch(2, 5));
        let a = q.take(3);
        assert_eq!(a.len(), 3);
        let b = q.take(4);
        assert_eq!(b.len(), 4);
        assert_eq!(b[1].samples[0].timestamp, 1);
        assert_eq!(b[2].samples[0].timestamp, 2);
        assert_eq!(q.len(), 3);
    }
}
