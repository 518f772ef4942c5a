//! Bounded in-memory buffer between scraping and sending.
//!
//! Holds whole scrapes in arrival order. When adding would exceed the capacity (in
//! samples), the **oldest** scrapes are dropped and counted — fresh data wins, memory
//! stays bounded whatever the receiver does. (A durable on-disk queue is a later step.)

use monitor_amp::proto::TimeSeries;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// A FIFO of scraped samples with a sample-count bound.
#[derive(Debug)]
pub struct BoundedQueue {
    inner: Mutex<Inner>,
    capacity: usize,
    notify: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    batches: VecDeque<Vec<TimeSeries>>,
    samples: usize,
}

fn count(batch: &[TimeSeries]) -> usize {
    batch.iter().map(|t| t.samples.len()).sum()
}

impl BoundedQueue {
    /// A queue holding at most `capacity` samples.
    pub fn new(capacity: usize) -> BoundedQueue {
        BoundedQueue {
            inner: Mutex::new(Inner::default()),
            capacity,
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a batch; returns how many old samples were dropped to make room.
    pub fn push(&self, batch: Vec<TimeSeries>) -> usize {
        let n = count(&batch);
        if n == 0 {
            return 0;
        }
        let mut dropped = 0;
        {
            let mut q = self.lock();
            while q.samples + n > self.capacity {
                match q.batches.pop_front() {
                    Some(old) => {
                        let k = count(&old);
                        q.samples -= k;
                        dropped += k;
                    }
                    None => break,
                }
            }
            if n > self.capacity {
                // A single scrape larger than the whole buffer: keep its newest part.
                let mut batch = batch;
                let cut = n - self.capacity;
                let kept = batch.split_off(cut.min(batch.len()));
                dropped += cut;
                q.samples += count(&kept);
                q.batches.push_back(kept);
            } else {
                q.samples += n;
                q.batches.push_back(batch);
            }
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
        let q = BoundedQueue::new(10);
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
        let q = BoundedQueue::new(3);
        assert_eq!(q.push(batch(1, 5)), 2);
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn take_splits_batches_in_order() {
        let q = BoundedQueue::new(100);
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
