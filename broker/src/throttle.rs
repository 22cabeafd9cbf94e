//! The failure throttle: slows down credential guessing per source.
//!
//! The embedded broker keys it by MQTT username ([`ThrottleConfig::MQTT`]) and by source
//! address ([`ThrottleConfig::MQTT_ADDRESS`]); the controller's
//! HTTP API keys it by source IP address ([`ThrottleConfig::HTTP`]).

/// Counts failed credential checks per source (an IP address for the HTTP API, a username for
/// the embedded broker) and locks a source out for a while once it failed too often, so tokens,
/// enrolment codes and MQTT passwords cannot be guessed at network speed.
///
/// The first [`ThrottleConfig::free_failures`] failures cost nothing (typos, a restarted player
/// with an old password). Every further failure locks the source for
/// `base_lock * 2^(failures - free_failures)`, capped at [`ThrottleConfig::max_lock`]; while
/// locked, the source is refused without its credential being looked at. A success resets the
/// count; a source without failures for [`ThrottleConfig::forget_after`] is forgotten. At most
/// [`ThrottleConfig::max_entries`] sources are tracked (the stalest is dropped first), so a
/// flood of sources cannot grow memory. Times come from the monotonic clock.
#[derive(Debug)]
pub struct FailureThrottle {
    cfg: ThrottleConfig,
    entries: std::sync::Mutex<std::collections::HashMap<String, ThrottleEntry>>,
}

/// Settings of a [`FailureThrottle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures allowed before the first lock.
    pub free_failures: u32,
    /// Length of the first lock; doubles with every further failure.
    pub base_lock: std::time::Duration,
    /// Longest lock.
    pub max_lock: std::time::Duration,
    /// A source whose last failure is older than this starts from zero again.
    pub forget_after: std::time::Duration,
    /// Most sources tracked at once.
    pub max_entries: usize,
}

impl ThrottleConfig {
    /// The HTTP API (per source IP): 10 free failures, then 1 s, 2 s, 4 s … up to 5 min.
    pub const HTTP: ThrottleConfig = ThrottleConfig {
        free_failures: 10,
        base_lock: std::time::Duration::from_secs(1),
        max_lock: std::time::Duration::from_secs(300),
        forget_after: std::time::Duration::from_secs(900),
        max_entries: 4096,
    };
    /// The embedded broker (per username): 5 free failures, then 1 s, 2 s, 4 s … up to 60 s
    /// (short, because an attacker who knows a screen id can keep that screen locked out;
    /// a locked-out player keeps playing its cache and retries).
    pub const MQTT: ThrottleConfig = ThrottleConfig {
        free_failures: 5,
        base_lock: std::time::Duration::from_secs(1),
        max_lock: std::time::Duration::from_secs(60),
        forget_after: std::time::Duration::from_secs(900),
        max_entries: 4096,
    };
    /// The embedded broker (per source address, checked before any password is looked at):
    /// 20 free failures (a site behind one NAT address with a few misconfigured players),
    /// then 1 s, 2 s, 4 s … up to 30 s, during which that address's logins cost no PBKDF2.
    /// The controller's own user is not counted (its check is cheap and it must not be
    /// locked off its broker).
    pub const MQTT_ADDRESS: ThrottleConfig = ThrottleConfig {
        free_failures: 20,
        base_lock: std::time::Duration::from_secs(1),
        max_lock: std::time::Duration::from_secs(30),
        forget_after: std::time::Duration::from_secs(300),
        max_entries: 4096,
    };
}

#[derive(Debug, Clone, Copy)]
struct ThrottleEntry {
    failures: u32,
    last_failure: std::time::Instant,
    locked_until: Option<std::time::Instant>,
}

impl FailureThrottle {
    /// A throttle with these settings.
    pub fn new(cfg: ThrottleConfig) -> FailureThrottle {
        FailureThrottle {
            cfg,
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn lock_entries(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, ThrottleEntry>> {
        // A panic while holding the lock cannot leave an entry half-written; keep going.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(wait)` while `source` is locked out (`wait` = time left), `Ok` otherwise.
    pub fn check(&self, source: &str) -> Result<(), std::time::Duration> {
        let now = std::time::Instant::now();
        let entries = self.lock_entries();
        match entries.get(source).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure of `source`; returns the lock it now has, if any.
    pub fn failure(&self, source: &str) -> Option<std::time::Duration> {
        let now = std::time::Instant::now();
        let mut entries = self.lock_entries();
        if !entries.contains_key(source) && entries.len() >= self.cfg.max_entries {
            let forget = self.cfg.forget_after;
            entries.retain(|_, e| now.duration_since(e.last_failure) < forget);
            if entries.len() >= self.cfg.max_entries {
                if let Some(stalest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.last_failure)
                    .map(|(k, _)| k.clone())
                {
                    entries.remove(&stalest);
                }
            }
        }
        let e = entries.entry(source.to_string()).or_insert(ThrottleEntry {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.duration_since(e.last_failure) >= self.cfg.forget_after {
            e.failures = 0;
            e.locked_until = None;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        if e.failures <= self.cfg.free_failures {
            return None;
        }
        let exp = (e.failures - self.cfg.free_failures - 1).min(20);
        let lock = self
            .cfg
            .base_lock
            .saturating_mul(1u32 << exp)
            .min(self.cfg.max_lock);
        e.locked_until = Some(now + lock);
        Some(lock)
    }

    /// Records a success of `source`: its failures are forgotten.
    pub fn success(&self, source: &str) {
        self.lock_entries().remove(source);
    }

    /// Failures counted for `source` (for metrics and tests).
    pub fn failures(&self, source: &str) -> u32 {
        self.lock_entries().get(source).map_or(0, |e| e.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_locks_after_free_failures_and_doubles() {
        let t = FailureThrottle::new(ThrottleConfig {
            free_failures: 2,
            base_lock: std::time::Duration::from_secs(10),
            max_lock: std::time::Duration::from_secs(25),
            forget_after: std::time::Duration::from_secs(900),
            max_entries: 2,
        });
        assert_eq!(t.failure("a"), None);
        assert_eq!(t.failure("a"), None);
        assert!(t.check("a").is_ok());
        assert_eq!(t.failure("a"), Some(std::time::Duration::from_secs(10)));
        assert!(t.check("a").is_err());
        assert_eq!(t.failure("a"), Some(std::time::Duration::from_secs(20)));
        assert_eq!(t.failure("a"), Some(std::time::Duration::from_secs(25)));
        assert!(t.check("b").is_ok(), "other sources are not affected");
        t.failure("b");
        t.failure("c");
        assert!(t.failures("a") + t.failures("b") + t.failures("c") <= 5);
        t.success("c");
        assert_eq!(t.failures("c"), 0);
        assert!(t.check("c").is_ok());
    }
}
