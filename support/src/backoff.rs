//! Exponential backoff with jitter: the wait doubles from `initial` up to `max`, and each wait
//! is randomised to between half and all of it, so that a hall of screens that lost the same
//! link does not come back in lockstep.

use std::time::Duration;

use rand_core::{OsRng, RngCore};

/// A backoff that counts its own attempts (a reconnect loop holds one).
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `initial` (at least 1 ms) and capped at `max` (at least `initial`).
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The wait before the next attempt; each call doubles the base wait up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let d = delay(self.initial, self.max, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// Back to the initial wait (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// The wait before retry number `attempt` (0-based): `initial · 2^attempt`, capped at `max`,
/// with [`jitter`].
pub fn delay(initial: Duration, max: Duration, attempt: u32) -> Duration {
    jitter(initial.saturating_mul(1u32 << attempt.min(20)).min(max))
}

/// A random duration in `[d/2, d]` (microsecond resolution).
pub fn jitter(d: Duration) -> Duration {
    let half = d / 2;
    let spread = u64::try_from((d - half).as_micros()).unwrap_or(u64::MAX);
    let r = if spread == 0 {
        0
    } else {
        OsRng.next_u64() % (spread + 1)
    };
    half + Duration::from_micros(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_capped_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1_000));
        let bounds = [100, 200, 400, 800, 1_000, 1_000];
        for hi in bounds {
            let d = b.next_delay();
            assert!(
                d >= ms(hi) / 2 && d <= ms(hi),
                "{d:?} not in [{hi}/2, {hi}] ms"
            );
        }
        b.reset();
        assert!(b.next_delay() <= ms(100));
    }

    #[test]
    fn jitter_spreads_within_half_to_whole() {
        let d = Duration::from_secs(10);
        let samples: Vec<Duration> = (0..200).map(|_| jitter(d)).collect();
        assert!(samples.iter().all(|s| *s >= d / 2 && *s <= d));
        let distinct: std::collections::HashSet<_> = samples.iter().collect();
        assert!(
            distinct.len() > 100,
            "jitter is not random: {}",
            distinct.len()
        );
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn huge_attempts_do_not_overflow() {
        let d = delay(Duration::from_secs(2), Duration::from_secs(300), u32::MAX);
        assert!(d <= Duration::from_secs(300) && d >= Duration::from_secs(150));
        let mut b = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert!(b.next_delay() <= Duration::from_millis(1));
    }
}
