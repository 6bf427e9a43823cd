//! Client assertions already used, for apps whose assertions are single-use: each (client, `jti`)
//! is kept until its assertion could no longer be accepted anyway, in a memory bounded in entries
//! and bytes. Time is a parameter (Unix seconds), so the caller picks the clock.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

/// Entries kept at most by default: a hundred thousand assertions of ten minutes is one a
/// hundred and sixty per second for as long as each lives.
const MAX_ENTRIES: usize = 100_000;
/// Bytes kept at most by default (client ids and `jti`s plus a fixed overhead per entry).
const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Estimated bytes of one entry besides its two strings (map slot, boxes, the time).
const ENTRY_OVERHEAD: usize = 64;

/// Why an assertion's first use was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This client presented this `jti` before, and it is not forgotten yet.
    Replayed,
    /// The memory is full of assertions that are all still acceptable: remembering one more
    /// would pass the bound, and forgetting one would let it be replayed.
    Full,
}

/// The used assertions of single-use apps (its `Debug` prints counts, not `jti`s).
pub(crate) struct SeenAssertions {
    seen: Mutex<Seen>,
    max_entries: usize,
    max_bytes: usize,
}

#[derive(Default)]
struct Seen {
    /// (lower-case client id, `jti`) → the Unix second from which the entry may be forgotten.
    until: HashMap<(Box<str>, Box<str>), i64>,
    /// Estimated bytes held.
    bytes: usize,
    /// The smallest `until` held (`i64::MAX` when empty): nothing can be forgotten before it.
    earliest: i64,
}

impl std::fmt::Debug for SeenAssertions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("SeenAssertions")
            .field("entries", &seen.until.len())
            .field("bytes", &seen.bytes)
            .finish()
    }
}

impl Default for SeenAssertions {
    fn default() -> Self {
        Self::with_limits(MAX_ENTRIES, MAX_BYTES)
    }
}

impl SeenAssertions {
    /// A memory of at most `max_entries` assertions and `max_bytes` bytes.
    pub(crate) fn with_limits(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            seen: Mutex::new(Seen {
                earliest: i64::MAX,
                ..Seen::default()
            }),
            max_entries,
            max_bytes,
        }
    }

    /// Records `client`'s use of `jti` at `now`, remembered until `until`; refuses a `jti` this
    /// client used before that is still remembered, and refuses when the memory is full of
    /// entries none of which may be forgotten yet.
    pub(crate) fn first_use(
        &self,
        client: &str,
        jti: &str,
        until: i64,
        now: i64,
    ) -> Result<(), Refused> {
        let key: (Box<str>, Box<str>) = (client.to_ascii_lowercase().into(), jti.into());
        let cost = key.0.len() + key.1.len() + ENTRY_OVERHEAD;
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if now >= seen.earliest {
            seen.forget_until(now);
        }
        if seen.until.get(&key).is_some_and(|t| *t > now) {
            return Err(Refused::Replayed);
        }
        if seen.until.len() >= self.max_entries || seen.bytes + cost > self.max_bytes {
            return Err(Refused::Full);
        }
        seen.bytes += cost;
        seen.earliest = seen.earliest.min(until);
        seen.until.insert(key, until);
        Ok(())
    }

    /// How many assertions are remembered (for tests of the bound).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .until
            .len()
    }
}

impl Seen {
    /// Drops every entry whose time has come by `now`.
    fn forget_until(&mut self, now: i64) {
        let mut freed = 0;
        self.until.retain(|(client, jti), until| {
            let keep = *until > now;
            if !keep {
                freed += client.len() + jti.len() + ENTRY_OVERHEAD;
            }
            keep
        });
        self.bytes = self.bytes.saturating_sub(freed);
        self.earliest = self.until.values().copied().min().unwrap_or(i64::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_refused_until_its_time_then_forgotten() {
        let seen = SeenAssertions::default();
        assert_eq!(seen.first_use("App", "j1", 100, 0), Ok(()));
        assert_eq!(seen.first_use("app", "j1", 100, 99), Err(Refused::Replayed));
        // Another client, or another (case-sensitive) jti, is another assertion.
        assert_eq!(seen.first_use("other", "j1", 300, 1), Ok(()));
        assert_eq!(seen.first_use("app", "J1", 300, 1), Ok(()));
        assert_eq!(seen.first_use("app", "j1", 200, 100), Ok(()));
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn the_memory_stays_within_its_entry_bound_forgetting_only_what_expired() {
        let seen = SeenAssertions::with_limits(3, usize::MAX);
        for (i, until) in [(0, 10), (1, 20), (2, 30)] {
            assert_eq!(seen.first_use("app", &format!("j{i}"), until, 0), Ok(()));
        }
        // Full of live entries: refused rather than forgetting one (which could then be replayed).
        assert_eq!(seen.first_use("app", "j3", 40, 5), Err(Refused::Full));
        assert_eq!(seen.first_use("app", "j0", 40, 5), Err(Refused::Replayed));
        // Once the first has expired there is room, and only it is forgotten.
        assert_eq!(seen.first_use("app", "j3", 40, 10), Ok(()));
        assert_eq!(seen.len(), 3);
        assert_eq!(seen.first_use("app", "j1", 40, 10), Err(Refused::Replayed));
    }

    #[test]
    fn the_memory_stays_within_its_byte_bound() {
        let budget = 3 * (3 + 1000 + ENTRY_OVERHEAD);
        let seen = SeenAssertions::with_limits(usize::MAX, budget);
        let jti = |c: char| c.to_string().repeat(1000);
        for c in ['a', 'b', 'c'] {
            assert_eq!(seen.first_use("app", &jti(c), 50, 0), Ok(()));
        }
        assert_eq!(seen.first_use("app", &jti('d'), 50, 0), Err(Refused::Full));
        assert_eq!(seen.first_use("app", &jti('d'), 100, 50), Ok(()));
        assert_eq!(seen.len(), 1);
    }
}
