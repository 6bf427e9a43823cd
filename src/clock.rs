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

/// An emulator clock that never moves backward through advances. Advances are atomic, so
/// concurrent readers see either the old or the new time, never a torn value. (In `system` mode
/// wall time itself can step back; the limiter and the lifecycle tolerate that.)
#[derive(Debug)]
pub(crate) struct Clock {
    mode: ClockMode,
    /// For `Frozen`, the wall time at start-up in ns since the epoch; unused for `System`.
    start_nanos: i64,
    /// Sum of all advances, in 100 ns ticks (an i64 of ticks spans 29,000 years; of nanoseconds,
    /// only 292, which is where a saturating clock once stopped).
    offset_ticks: AtomicI64,
}

/// Timestamps are kept at the wire's resolution (100 ns ticks, 7 fractional digits), so what a
/// client reads back compares equal to what the emulator stored.
const TICK_NANOS: i128 = 100;

/// The clock refuses to pass this instant (year 9000), which leaves every delay, timeout and
/// token lifetime the emulator accepts room to be added without leaving the calendar.
const LATEST: i128 = 221_845_392_000 * 1_000_000_000;

/// An advance the clock refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the emulator clock cannot pass the year 9000")]
pub(crate) struct PastTheEnd;

impl Clock {
    pub(crate) fn new(mode: ClockMode) -> Self {
        Self {
            mode,
            start_nanos: wall_nanos(),
            offset_ticks: AtomicI64::new(0),
        }
    }

    /// The mode the clock was started in.
    pub(crate) fn mode(&self) -> ClockMode {
        self.mode
    }

    /// The emulator's current time, truncated to 100 ns ticks.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let nanos = self.nanos_with(self.offset_ticks.load(Ordering::Acquire));
        let nanos = nanos - nanos.rem_euclid(TICK_NANOS);
        OffsetDateTime::from_unix_timestamp_nanos(nanos.min(LATEST))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn nanos_with(&self, offset_ticks: i64) -> i128 {
        let base = match self.mode {
            ClockMode::System => wall_nanos(),
            ClockMode::Frozen => self.start_nanos,
        };
        i128::from(base) + i128::from(offset_ticks) * TICK_NANOS
    }

    /// Moves the clock forward by `by` (negative counts as zero: the clock never moves back) and
    /// returns the new time, or refuses, changing nothing, if that would pass the year 9000.
    pub(crate) fn advance(&self, by: Duration) -> Result<OffsetDateTime, PastTheEnd> {
        let ticks =
            i64::try_from(by.whole_nanoseconds().max(0) / TICK_NANOS).map_err(|_| PastTheEnd)?;
        self.offset_ticks
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let next = cur.checked_add(ticks)?;
                (self.nanos_with(next) <= LATEST).then_some(next)
            })
            .map_err(|_| PastTheEnd)?;
        Ok(self.now())
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
        clock.advance(Duration::seconds(90)).unwrap();
        assert_eq!(clock.now() - t0, Duration::seconds(90));
    }

    #[test]
    fn negative_advance_never_moves_the_clock_backward() {
        let clock = Clock::new(ClockMode::Frozen);
        let t0 = clock.now();
        clock.advance(Duration::seconds(-10)).unwrap();
        assert_eq!(clock.now(), t0);
    }

    #[test]
    fn system_clock_includes_advances() {
        let clock = Clock::new(ClockMode::System);
        clock.advance(Duration::hours(2)).unwrap();
        assert!(clock.now() - OffsetDateTime::now_utc() > Duration::minutes(119));
    }

    #[test]
    fn now_is_truncated_to_ticks() {
        let clock = Clock::new(ClockMode::Frozen);
        assert_eq!(clock.now().nanosecond() % 100, 0);
    }

    #[test]
    fn advancing_past_the_year_9000_is_refused_and_changes_nothing() {
        let clock = Clock::new(ClockMode::Frozen);
        let ten_years = Duration::days(3650);
        let mut advanced = 0;
        while clock.advance(ten_years).is_ok() {
            advanced += 1;
            assert!(advanced < 800, "the clock never refused");
        }
        let stopped = clock.now();
        // Far beyond the 292 years an i64 of nanoseconds holds: the clock kept moving.
        assert!(stopped.year() >= 8990, "{stopped}");
        assert_eq!(clock.advance(ten_years), Err(PastTheEnd));
        assert_eq!(clock.now(), stopped);
        assert!(clock.advance(Duration::days(1)).is_ok());
    }
}
