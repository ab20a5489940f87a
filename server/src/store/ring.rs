//! A fixed-capacity ring of events: one writer, any number of readers, no global lock.
//!
//! Like Hubble's `container/ring.go`: capacity is `2^n - 1`, one of the `2^n` slots is kept
//! free for the writer, every write gets a sequence number, and a reader that asks for a
//! sequence the writer has already overwritten learns it was overtaken instead of silently
//! skipping ahead. Each slot has its own tiny lock, held only to swap or clone an `Arc`, so
//! readers never contend with each other and meet the writer on one slot at most.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error(
        "invalid buffer capacity {0}: must be 2^n-1 with n in 1..=32 (e.g. 4095, 65535, 1048575)"
    )]
    InvalidCapacity(u64),
}

struct Slot<T> {
    entry: Mutex<Option<(u64, Arc<T>)>>,
}

/// The result of reading one sequence number.
#[derive(Debug)]
pub enum Read<T> {
    /// The event written with that sequence number.
    Event(Arc<T>),
    /// The writer has not written it yet.
    NotYet,
    /// It was overwritten; the oldest sequence still readable is given.
    Overtaken { oldest: u64 },
}

/// The shared, readable side of the ring.
pub struct Ring<T> {
    slots: Box<[Slot<T>]>,
    mask: u64,
    /// Sequence number of the next write (= number of writes so far).
    write: AtomicU64,
    notify: Notify,
}

/// The one writer. Not `Clone`: a second writer would break the sequence invariants.
pub struct RingWriter<T> {
    ring: Arc<Ring<T>>,
}

impl<T> Ring<T> {
    /// Creates a ring holding `capacity` events (`2^n - 1`) and its single writer.
    pub fn new(capacity: u64) -> Result<(Arc<Self>, RingWriter<T>), RingError> {
        let len = capacity.wrapping_add(1);
        if capacity == 0 || !len.is_power_of_two() || len > (1 << 32) {
            return Err(RingError::InvalidCapacity(capacity));
        }
        let slots = (0..len)
            .map(|_| Slot {
                entry: Mutex::new(None),
            })
            .collect();
        let ring = Arc::new(Ring {
            slots,
            mask: len - 1,
            write: AtomicU64::new(0),
            notify: Notify::new(),
        });
        Ok((ring.clone(), RingWriter { ring }))
    }

    /// How many events the ring holds when full.
    pub fn capacity(&self) -> u64 {
        self.mask
    }

    /// How many events it holds now.
    pub fn len(&self) -> u64 {
        self.written().min(self.capacity())
    }

    pub fn is_empty(&self) -> bool {
        self.written() == 0
    }

    /// The sequence number the next write will get.
    pub fn written(&self) -> u64 {
        self.write.load(Ordering::Acquire)
    }

    /// The oldest sequence number still readable.
    pub fn oldest(&self) -> u64 {
        self.written().saturating_sub(self.capacity())
    }

    pub fn read(&self, seq: u64) -> Read<T> {
        let written = self.written();
        if seq >= written {
            return Read::NotYet;
        }
        let oldest = written.saturating_sub(self.capacity());
        if seq < oldest {
            return Read::Overtaken { oldest };
        }
        let slot = &self.slots[(seq & self.mask) as usize];
        let guard = match slot.entry.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match guard.as_ref() {
            Some((s, ev)) if *s == seq => Read::Event(ev.clone()),
            // Overwritten between the bounds check and the lock.
            _ => Read::Overtaken {
                oldest: self.oldest(),
            },
        }
    }

    /// Waits until `seq` has been written (returns at once if it has).
    pub async fn wait_for(&self, seq: u64) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.written() > seq {
                return;
            }
            notified.await;
        }
    }
}

impl<T> RingWriter<T> {
    pub fn write(&mut self, event: Arc<T>) {
        let ring = &*self.ring;
        let seq = ring.write.load(Ordering::Relaxed);
        {
            let slot = &ring.slots[(seq & ring.mask) as usize];
            let mut guard = match slot.entry.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            *guard = Some((seq, event));
        }
        ring.write.store(seq + 1, Ordering::Release);
        ring.notify.notify_waiters();
    }

    pub fn ring(&self) -> &Arc<Ring<T>> {
        &self.ring
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_must_be_power_of_two_minus_one() {
        for ok in [1u64, 3, 7, 4095, 65535, 1_048_575] {
            assert!(Ring::<u32>::new(ok).is_ok(), "{ok}");
        }
        for bad in [0u64, 2, 4, 4096, 1000] {
            assert!(Ring::<u32>::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_back_and_detects_overwrite() {
        let (ring, mut w) = Ring::new(3).expect("ring");
        assert!(ring.is_empty());
        for i in 0..5u32 {
            w.write(Arc::new(i));
        }
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.capacity(), 3);
        assert_eq!(ring.oldest(), 2);
        assert!(matches!(ring.read(1), Read::Overtaken { oldest: 2 }));
        assert!(matches!(ring.read(2), Read::Event(v) if *v == 2));
        assert!(matches!(ring.read(4), Read::Event(v) if *v == 4));
        assert!(matches!(ring.read(5), Read::NotYet));
    }

    #[tokio::test]
    async fn follower_wakes_on_write() {
        let (ring, mut w) = Ring::new(7).expect("ring");
        let r = ring.clone();
        let waiter = tokio::spawn(async move {
            r.wait_for(0).await;
            matches!(r.read(0), Read::Event(v) if *v == 42u32)
        });
        tokio::task::yield_now().await;
        w.write(Arc::new(42));
        assert!(waiter.await.expect("join"));
    }

    #[test]
    fn concurrent_readers_see_consistent_sequences() {
        let (ring, mut w) = Ring::new(63).expect("ring");
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let r = ring.clone();
                std::thread::spawn(move || {
                    let mut seq = 0u64;
                    let mut seen = 0u64;
                    let mut lost = 0u64;
                    while seq < 100_000 {
                        match r.read(seq) {
                            Read::Event(v) => {
                                assert_eq!(*v, seq, "slot holds the sequence it claims");
                                seen += 1;
                                seq += 1;
                            }
                            Read::Overtaken { oldest } => {
                                lost += oldest - seq;
                                seq = oldest;
                            }
                            Read::NotYet => std::thread::yield_now(),
                        }
                    }
                    seen + lost
                })
            })
            .collect();
        for i in 0..100_000u64 {
            w.write(Arc::new(i));
        }
        for r in readers {
            assert_eq!(r.join().expect("join"), 100_000, "seen + lost = written");
        }
    }
}
