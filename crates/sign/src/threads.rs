//! Spreading independent pieces of work over threads (issue 10: signing on every core).
//!
//! Scoped threads of the standard library, started for one call and joined before it returns:
//! no pool outlives a signing pass, and the caller says how many threads there are (the crate
//! reads no environment). Work is handed out in chunks from a shared counter, so a thread that
//! the system delays takes fewer chunks, and the results come back in the order of the input,
//! whatever thread made them.

use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many items a thread takes at a time. A chunk of RRsets to sign takes milliseconds, one
/// of owner names to hash tens of microseconds: either way far more than taking it costs.
const CHUNK: usize = 64;

/// `f` applied to each of `items`, in their order, on up to `threads` threads (the calling
/// thread one of them). Up to one chunk of items, or with one thread, everything runs on the
/// calling thread. When the system cannot start a thread, the others do its share.
///
/// A panic in `f` on another thread is resumed on the calling thread.
pub(crate) fn map<T: Sync, R: Send>(
    threads: NonZeroUsize,
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let chunks = items.len().div_ceil(CHUNK);
    let workers = threads.get().min(chunks);
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(range) = chunk(i, items.len()) else {
                return done;
            };
            done.push((i, items[range].iter().map(&f).collect()));
        }
    };
    let mut parts = std::thread::scope(|scope| {
        let others: Vec<_> = (1..workers)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut parts = work();
        for other in others {
            match other.join() {
                Ok(more) => parts.extend(more),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    parts.sort_unstable_by_key(|(i, _)| *i);
    parts.into_iter().flat_map(|(_, results)| results).collect()
}

/// The items of chunk `i` of `len` items, or `None` past the last chunk.
fn chunk(i: usize, len: usize) -> Option<Range<usize>> {
    let start = i.checked_mul(CHUNK).filter(|s| *s < len)?;
    Some(start..len.min(start + CHUNK))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::{Condvar, Mutex};
    use std::thread::ThreadId;
    use std::time::Duration;

    use super::*;

    fn threads(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
    }

    #[test]
    fn results_keep_the_input_order_whatever_the_thread_count() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK + 7] {
            let items: Vec<usize> = (0..len).collect();
            let one = map(threads(1), &items, |i| i * 3);
            assert_eq!(one, items.iter().map(|i| i * 3).collect::<Vec<_>>());
            for n in [2, 3, 8] {
                assert_eq!(
                    map(threads(n), &items, |i| i * 3),
                    one,
                    "{len} items, {n} threads"
                );
            }
        }
    }

    #[test]
    fn work_is_spread_over_the_threads_asked_for() {
        // Each thread, on its first item, waits until `n` threads have shown up: that happens
        // only if `map` runs `n` threads at once (the timeout only ends a failing run).
        let distinct_threads = |n: usize| {
            let items: Vec<usize> = (0..4 * CHUNK).collect();
            let seen = (Mutex::new(HashSet::<ThreadId>::new()), Condvar::new());
            map(threads(n), &items, |_| {
                let (lock, arrived) = &seen;
                let Ok(mut ids) = lock.lock() else { return };
                if ids.insert(std::thread::current().id()) {
                    arrived.notify_all();
                    let wait = arrived
                        .wait_timeout_while(ids, Duration::from_secs(10), |ids| ids.len() < n);
                    drop(wait);
                }
            });
            seen.0.lock().map(|ids| ids.len()).unwrap_or_default()
        };
        assert_eq!(distinct_threads(1), 1);
        assert_eq!(distinct_threads(3), 3);
    }

    #[test]
    fn chunks_cover_the_items_once() {
        let len = 3 * CHUNK + 5;
        let covered: Vec<usize> = (0..).map_while(|i| chunk(i, len)).flatten().collect();
        assert_eq!(covered, (0..len).collect::<Vec<_>>());
        assert_eq!(chunk(0, 0), None);
        assert_eq!(chunk(usize::MAX, 10), None);
    }
}
