//! Retry delays after a transient failure: exponential in the attempt number, capped, with jitter so jobs
//! that failed together (a GitHub outage) do not all come back at the same instant.
//!
//! Invariant: the delay after attempt `n` lies in `[d/2, d]` where `d = min(base * 2^(n-1), max)`; it never
//! exceeds `max` and never falls below half of the un-jittered delay.

use std::time::Duration;

use rand::Rng;

/// The delay before the job that has just failed its `attempts`-th attempt runs again.
pub(super) fn delay(attempts: i32, base: Duration, max: Duration) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let full = base.saturating_mul(1 << exponent).min(max);
    let half = full / 2;
    let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(rand::rng().random_range(0..=jitter_nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(10);
    const MAX: Duration = Duration::from_secs(600);

    #[test]
    fn grows_exponentially_within_jitter_bounds() {
        for (attempts, full) in [(1, 10), (2, 20), (3, 40), (4, 80)] {
            let full = Duration::from_secs(full);
            for _ in 0..100 {
                let delay = delay(attempts, BASE, MAX);
                assert!(
                    delay >= full / 2 && delay <= full,
                    "attempt {attempts}: {delay:?} outside [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
    }

    #[test]
    fn never_exceeds_the_maximum() {
        for attempts in [7, 30, 31, 1000, i32::MAX] {
            let delay = delay(attempts, BASE, MAX);
            assert!(
                delay <= MAX && delay >= MAX / 2,
                "attempt {attempts}: {delay:?}"
            );
        }
    }

    #[test]
    fn nonsense_attempt_counts_use_the_base_delay() {
        for attempts in [0, -5, i32::MIN] {
            assert!(delay(attempts, BASE, MAX) <= BASE);
        }
    }
}
