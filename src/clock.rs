//! The emulator's one clock: action progress, token `exp`/`nbf` checks and rate-limit windows all
//! read time from here, so `POST /_mock/clock/advance` moves all of them together.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

/// How the clock moves between explicit advances.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// Wall time plus the sum of all advances.
    System,
    /// Starts at the wall time of start-up and moves only when advanced.
    Frozen,
}

/// An emulator clock that never moves backward through advances, freezes or unfreezes. Every
/// change happens under one small lock, so concurrent readers see the old or the new time, never a
/// torn value. (In `system` mode wall time itself can step back; the limiter and the lifecycle
/// tolerate that.)
#[derive(Debug)]
pub(crate) struct Clock {
    /// The mode the clock was started in (what a reset goes back to).
    initial: ClockMode,
    inner: Mutex<Inner>,
}

#[derive(Debug, Clone, Copy)]
struct Inner {
    /// While frozen, the wall time it stopped at in ns since the epoch; `None` while running.
    frozen_at: Option<i64>,
    /// Sum of all advances (and of the time spent frozen, made up on unfreeze, as a negative
    /// part), in 100 ns ticks (an i64 of ticks spans 29,000 years; of nanoseconds, only 292,
    /// which is where a saturating clock once stopped).
    offset_ticks: i64,
}

impl Inner {
    fn start(mode: ClockMode) -> Self {
        Self {
            frozen_at: (mode == ClockMode::Frozen).then(wall_nanos),
            offset_ticks: 0,
        }
    }

    fn nanos_with(&self, offset_ticks: i64) -> i128 {
        let base = self.frozen_at.unwrap_or_else(wall_nanos);
        i128::from(base) + i128::from(offset_ticks) * TICK_NANOS
    }
}

/// The clock as a snapshot keeps it: whether it is frozen, and its time or its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClockState {
    pub frozen: bool,
    /// Frozen: the emulator time in ns since the epoch. Running: the offset from wall time, ns.
    pub nanos: i64,
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
            initial: mode,
            inner: Mutex::new(Inner::start(mode)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The mode the clock is in now.
    pub(crate) fn mode(&self) -> ClockMode {
        if self.lock().frozen_at.is_some() {
            ClockMode::Frozen
        } else {
            ClockMode::System
        }
    }

    /// The emulator's current time, truncated to 100 ns ticks.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let inner = *self.lock();
        to_time(inner.nanos_with(inner.offset_ticks))
    }

    /// Moves the clock forward by `by` (negative counts as zero: the clock never moves back) and
    /// returns the new time, or refuses, changing nothing, if that would pass the year 9000.
    pub(crate) fn advance(&self, by: Duration) -> Result<OffsetDateTime, PastTheEnd> {
        let ticks =
            i64::try_from(by.whole_nanoseconds().max(0) / TICK_NANOS).map_err(|_| PastTheEnd)?;
        let mut inner = self.lock();
        let next = inner.offset_ticks.checked_add(ticks).ok_or(PastTheEnd)?;
        if inner.nanos_with(next) > LATEST {
            return Err(PastTheEnd);
        }
        inner.offset_ticks = next;
        Ok(to_time(inner.nanos_with(next)))
    }

    /// Stops the clock where it is (it then moves only when advanced); the time it stopped at.
    pub(crate) fn freeze(&self) -> OffsetDateTime {
        let mut inner = self.lock();
        if inner.frozen_at.is_none() {
            inner.frozen_at = Some(wall_nanos());
        }
        to_time(inner.nanos_with(inner.offset_ticks))
    }

    /// Lets the clock run with wall time again, from where it stood: no jump either way.
    pub(crate) fn unfreeze(&self) -> OffsetDateTime {
        let mut inner = self.lock();
        if let Some(stopped) = inner.frozen_at.take() {
            let wall = wall_nanos();
            let gap_ticks = (i128::from(stopped) - i128::from(wall)) / TICK_NANOS;
            let gap_ticks = i64::try_from(gap_ticks).unwrap_or(0);
            inner.offset_ticks = inner.offset_ticks.saturating_add(gap_ticks);
        }
        to_time(inner.nanos_with(inner.offset_ticks))
    }

    /// Back to the start: no offset, in the mode the clock was started in, from the wall time
    /// now.
    pub(crate) fn reset(&self) -> OffsetDateTime {
        let mut inner = self.lock();
        *inner = Inner::start(self.initial);
        to_time(inner.nanos_with(0))
    }

    /// The clock's state, for a snapshot.
    pub(crate) fn state(&self) -> ClockState {
        let inner = *self.lock();
        match inner.frozen_at {
            Some(_) => ClockState {
                frozen: true,
                // The time as read (whole ticks), so a restored clock reads the very same.
                nanos: i64::try_from(
                    to_time(inner.nanos_with(inner.offset_ticks)).unix_timestamp_nanos(),
                )
                .unwrap_or(i64::MAX),
            },
            None => ClockState {
                frozen: false,
                nanos: inner.offset_ticks.saturating_mul(TICK_NANOS as i64),
            },
        }
    }

    /// Puts the clock back in the state `s` (from a snapshot): frozen at the same time, or
    /// running with the same offset from wall time.
    pub(crate) fn restore(&self, s: ClockState) {
        let mut inner = self.lock();
        let ticks = |n: i64| n / TICK_NANOS as i64;
        *inner = if s.frozen {
            Inner {
                frozen_at: Some(s.nanos),
                offset_ticks: 0,
            }
        } else {
            Inner {
                frozen_at: None,
                offset_ticks: ticks(s.nanos),
            }
        };
    }
}

fn to_time(nanos: i128) -> OffsetDateTime {
    let nanos = nanos - nanos.rem_euclid(TICK_NANOS);
    OffsetDateTime::from_unix_timestamp_nanos(nanos.min(LATEST))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
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
    fn freeze_and_unfreeze_keep_the_time_continuous() {
        let clock = Clock::new(ClockMode::System);
        clock.advance(Duration::days(3)).unwrap();
        let at = clock.freeze();
        assert_eq!(clock.mode(), ClockMode::Frozen);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), at, "frozen: no wall time passes");
        let resumed = clock.unfreeze();
        assert_eq!(clock.mode(), ClockMode::System);
        let gap = resumed - at;
        assert!(gap >= Duration::ZERO && gap < Duration::seconds(1), "{gap}");
        assert!(clock.now() >= resumed);
    }

    #[test]
    fn a_restored_state_reads_the_same_time() {
        let frozen = Clock::new(ClockMode::Frozen);
        frozen.advance(Duration::days(3)).unwrap();
        let again = Clock::new(ClockMode::System);
        again.restore(frozen.state());
        assert_eq!(again.now(), frozen.now());
        assert_eq!(again.mode(), ClockMode::Frozen);
        let running = Clock::new(ClockMode::System);
        running.advance(Duration::hours(5)).unwrap();
        let again = Clock::new(ClockMode::Frozen);
        again.restore(running.state());
        let diff = again.now() - running.now();
        assert!(diff.abs() < Duration::seconds(1), "{diff}");
        assert_eq!(again.reset().year(), OffsetDateTime::now_utc().year());
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
