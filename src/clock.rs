//! The emulator's one clock: action progress, token `exp`/`nbf` checks and rate-limit windows all
//! read time from here, so `POST /_mock/clock/advance` moves all of them together.

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// How the clock moves between explicit advances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// Wall time plus the sum of all advances.
    System,
    /// Starts at the wall time of start-up and moves only when advanced.
    Frozen,
}

/// A monotonic-by-contract emulator clock. Advances are atomic, so concurrent readers see either the
/// old or the new time, never a torn value.
#[derive(Debug)]
pub(crate) struct Clock {
    mode: ClockMode,
    /// For `Frozen`, the wall time at start-up in ns since the epoch; unused for `System`.
    start_nanos: i64,
    /// Sum of all advances, in ns.
    offset_nanos: AtomicI64,
}

/// Timestamps are kept at the wire's resolution (100 ns ticks, 7 fractional digits), so what a
/// client reads back compares equal to what the emulator stored.
const TICK_NANOS: i128 = 100;

impl Clock {
    /// A clock in `mode`, starting now.
    pub(crate) fn new(mode: ClockMode) -> Self {
        Self {
            mode,
            start_nanos: wall_nanos(),
            offset_nanos: AtomicI64::new(0),
        }
    }

    /// The mode the clock was started in.
    pub(crate) fn mode(&self) -> ClockMode {
        self.mode
    }

    /// The emulator's current time, truncated to 100 ns ticks.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let base = match self.mode {
            ClockMode::System => wall_nanos(),
            ClockMode::Frozen => self.start_nanos,
        };
        let nanos = i128::from(base) + i128::from(self.offset_nanos.load(Ordering::Acquire));
        let nanos = nanos - nanos.rem_euclid(TICK_NANOS);
        OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Moves the clock forward; a negative or absurd duration is refused by the caller's validation,
    /// and saturates here so the clock can never move backward.
    pub(crate) fn advance(&self, by: Duration) {
        let nanos = i64::try_from(by.whole_nanoseconds().max(0)).unwrap_or(i64::MAX);
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some(cur.saturating_add(nanos))
            });
    }
}

fn wall_nanos() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let clock = Clock::new(ClockMode::Frozen);
        let t0 = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::seconds(90));
        assert_eq!(clock.now() - t0, Duration::seconds(90));
    }

    #[test]
    fn negative_advance_never_moves_the_clock_backward() {
        let clock = Clock::new(ClockMode::Frozen);
        let t0 = clock.now();
        clock.advance(Duration::seconds(-10));
        assert_eq!(clock.now(), t0);
    }

    #[test]
    fn system_clock_includes_advances() {
        let clock = Clock::new(ClockMode::System);
        clock.advance(Duration::hours(2));
        assert!(clock.now() - OffsetDateTime::now_utc() > Duration::minutes(119));
    }

    #[test]
    fn now_is_truncated_to_ticks() {
        let clock = Clock::new(ClockMode::Frozen);
        assert_eq!(clock.now().nanosecond() % 100, 0);
    }
}
