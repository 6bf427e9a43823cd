//! Throttling at Defender's documented limits (spec §8.4): per (tenant, client app, endpoint),
//! two sliding windows at once (calls per 60 s and per 3600 s), on the emulator clock.
//!
//! Why our own limiter rather than `governor`/`tower_governor`: the documented limit is "never more
//! than N accepted calls in any window-length span", which is a sliding-window log. GCRA / token
//! buckets with a burst of N let up to 2N through across a window boundary, and governor reads its
//! own clock, while these windows must roll when `/_mock/clock/advance` moves the emulator clock.
//!
//! Each key keeps the times of its most recent accepted calls, at most as many as its largest
//! limit (older ones can no longer decide anything), so memory per key is bounded by the limit;
//! keys idle for longer than the longest window are swept away.

use std::{
    collections::VecDeque,
    sync::atomic::{AtomicU64, Ordering},
};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::model::TenantId;

/// An endpoint's limits: calls per minute and per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limit {
    pub per_minute: u32,
    pub per_hour: u32,
}

/// The documented limit of the action and read endpoints.
pub(crate) const DOCUMENTED: Limit = Limit {
    per_minute: 100,
    per_hour: 1500,
};
/// The documented limit of `GetPackageUri`.
pub(crate) const PACKAGE_URI: Limit = Limit {
    per_minute: 2,
    per_hour: 120,
};

const MINUTE: Duration = Duration::minutes(1);
const HOUR: Duration = Duration::hours(1);
/// Every this many checks, keys idle for an hour are dropped.
const SWEEP_EVERY: u64 = 1024;

/// The endpoint a call counts against: its method and route template (`unisolate` on any
/// machine shares one counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RouteKey {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
}

/// One counter: calls of one client app in one tenant to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CallKey {
    tenant: TenantId,
    app: Box<str>,
    route: RouteKey,
}

/// Whether limits apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The documented limits (or the overrides).
    Documented,
    /// Never throttle.
    Off,
}

/// Server-wide or per-tenant throttling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub mode: Mode,
    /// Replaces the documented 100/min of the action and read endpoints.
    pub per_minute: Option<u32>,
    /// Replaces the documented 1500/hour of the action and read endpoints.
    pub per_hour: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: Mode::Documented,
            per_minute: None,
            per_hour: None,
        }
    }
}

impl Settings {
    /// The limit in force for an endpoint whose documented limit is `documented`; `None` = off.
    /// Overrides replace the standard 100/1500 class only, so `GetPackageUri` keeps its own.
    pub fn effective(&self, documented: Limit) -> Option<Limit> {
        if self.mode == Mode::Off {
            return None;
        }
        if documented != DOCUMENTED {
            return Some(documented);
        }
        Some(Limit {
            per_minute: self.per_minute.unwrap_or(documented.per_minute),
            per_hour: self.per_hour.unwrap_or(documented.per_hour),
        })
    }
}

/// What the limiter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Accepted,
    /// Refused; a call would pass after this many whole seconds (≥ 1, ≤ the window).
    Throttled {
        retry_after_secs: u64,
    },
}

/// The shared limiter: one instance per server, used by every connection.
#[derive(Debug)]
pub(crate) struct Limiter {
    defaults: Settings,
    per_tenant: DashMap<TenantId, Settings>,
    calls: DashMap<CallKey, VecDeque<OffsetDateTime>>,
    checks: AtomicU64,
}

impl Limiter {
    /// A limiter with server-wide `defaults`.
    pub(crate) fn new(defaults: Settings) -> Self {
        Self {
            defaults,
            per_tenant: DashMap::new(),
            calls: DashMap::new(),
            checks: AtomicU64::new(0),
        }
    }

    /// The settings in force for `tenant`.
    pub(crate) fn settings(&self, tenant: &TenantId) -> Settings {
        self.per_tenant.get(tenant).map_or(self.defaults, |s| *s)
    }

    /// Overrides (or with `None` restores) the settings of one tenant.
    pub(crate) fn set_tenant(&self, tenant: &TenantId, settings: Option<Settings>) {
        let key = tenant.clone();
        match settings {
            Some(s) => {
                self.per_tenant.insert(key, s);
            }
            None => {
                self.per_tenant.remove(&key);
            }
        }
    }

    /// Counts one call of `app` in `tenant` to the endpoint `(method, path template)` (documented
    /// limit `documented`), unless accepting it would break a window; `now` is read by the caller
    /// from the emulator clock. The counter's key is built only when limits apply.
    pub(crate) fn check(
        &self,
        tenant: &TenantId,
        app: &str,
        route: RouteKey,
        documented: Limit,
        now: OffsetDateTime,
    ) -> Decision {
        let Some(limit) = self.settings(tenant).effective(documented) else {
            return Decision::Accepted;
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now);
        }
        let key = CallKey {
            tenant: tenant.clone(),
            app: app.into(),
            route,
        };
        let mut log = self.calls.entry(key).or_default();
        // The clock never moves backward, but wall time can step back in `system` mode:
        // keep the log sorted by never recording a time before the newest one.
        let now = log.back().map_or(now, |last| now.max(*last));
        let retry = [(MINUTE, limit.per_minute), (HOUR, limit.per_hour)]
            .into_iter()
            .filter_map(|(window, max)| wait_for(&log, now, window, max))
            .max();
        if let Some(wait) = retry {
            return Decision::Throttled {
                retry_after_secs: whole_seconds_up(wait),
            };
        }
        log.push_back(now);
        let keep = limit.per_minute.max(limit.per_hour) as usize;
        while log.len() > keep {
            log.pop_front();
        }
        Decision::Accepted
    }

    /// Drops keys whose newest call is older than the longest window.
    pub(crate) fn sweep(&self, now: OffsetDateTime) {
        self.calls
            .retain(|_, log| log.back().is_some_and(|t| now - *t < HOUR));
    }

    /// How many keys hold counters (for tests of the memory bound).
    #[cfg(test)]
    pub(crate) fn keys(&self) -> usize {
        self.calls.len()
    }
}

/// How long until one more call fits in `window` with at most `max` calls, or `None` if it fits.
fn wait_for(
    log: &VecDeque<OffsetDateTime>,
    now: OffsetDateTime,
    window: Duration,
    max: u32,
) -> Option<Duration> {
    let max = max as usize;
    let start = log.partition_point(|t| now - *t >= window);
    let in_window = log.len() - start;
    if in_window < max {
        return None;
    }
    if max == 0 {
        return Some(window);
    }
    // The call at this index must leave the window before one more fits.
    let leaving = log[start + in_window - max];
    Some(leaving + window - now)
}

fn whole_seconds_up(d: Duration) -> u64 {
    let nanos = d.whole_nanoseconds().max(1) as u128;
    nanos.div_ceil(1_000_000_000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(s: &str) -> TenantId {
        TenantId::parse(&format!("{s}.example.com")).unwrap()
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn check(l: &Limiter, now: OffsetDateTime) -> Decision {
        l.check(
            &tid("t"),
            "app",
            RouteKey {
                method: "POST",
                path: "/api/machines/{id}/unisolate",
            },
            DOCUMENTED,
            now,
        )
    }

    #[test]
    fn the_101st_call_in_a_minute_waits_for_the_oldest_to_leave() {
        let l = Limiter::new(Settings::default());
        for _ in 0..50 {
            assert_eq!(check(&l, t0()), Decision::Accepted);
        }
        let t10 = t0() + Duration::seconds(10);
        for _ in 0..50 {
            assert_eq!(check(&l, t10), Decision::Accepted);
        }
        assert_eq!(
            check(&l, t10),
            Decision::Throttled {
                retry_after_secs: 50
            }
        );
        // Throttled calls do not count: still 50 s, and at t0+60 exactly the first 50 have left.
        assert_eq!(
            check(&l, t10),
            Decision::Throttled {
                retry_after_secs: 50
            }
        );
        let t60 = t0() + Duration::seconds(60);
        for _ in 0..50 {
            assert_eq!(check(&l, t60), Decision::Accepted);
        }
        assert_eq!(
            check(&l, t60),
            Decision::Throttled {
                retry_after_secs: 10
            }
        );
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let l = Limiter::new(Settings::default());
        for _ in 0..100 {
            check(&l, t0());
        }
        let almost = t0() + Duration::seconds(59) + Duration::milliseconds(999);
        assert_eq!(
            check(&l, almost),
            Decision::Throttled {
                retry_after_secs: 1
            }
        );
        let a_bit = t0() + Duration::milliseconds(1);
        assert_eq!(
            check(&l, a_bit),
            Decision::Throttled {
                retry_after_secs: 60
            }
        );
    }

    #[test]
    fn the_hour_window_holds_1500_whatever_the_spread() {
        let l = Limiter::new(Settings::default());
        let mut now = t0();
        for _ in 0..15 {
            for _ in 0..100 {
                assert_eq!(check(&l, now), Decision::Accepted);
            }
            now += Duration::seconds(60);
        }
        // 15 minutes in: the minute window is empty but the hour is full until t0 + 3600.
        assert_eq!(
            check(&l, now),
            Decision::Throttled {
                retry_after_secs: 3600 - 900
            }
        );
        assert_eq!(check(&l, t0() + HOUR), Decision::Accepted);
    }

    #[test]
    fn keys_are_independent_and_idle_keys_are_swept() {
        let l = Limiter::new(Settings::default());
        for _ in 0..100 {
            check(&l, t0());
        }
        assert!(matches!(check(&l, t0()), Decision::Throttled { .. }));
        assert_eq!(
            l.check(
                &tid("t"),
                "other-app",
                RouteKey {
                    method: "POST",
                    path: "/x"
                },
                DOCUMENTED,
                t0()
            ),
            Decision::Accepted
        );
        assert_eq!(
            l.check(
                &tid("u"),
                "app",
                RouteKey {
                    method: "POST",
                    path: "/api/machines/{id}/unisolate"
                },
                DOCUMENTED,
                t0()
            ),
            Decision::Accepted
        );
        assert_eq!(l.keys(), 3);
        l.sweep(t0() + Duration::minutes(59));
        assert_eq!(l.keys(), 3);
        l.sweep(t0() + HOUR);
        assert_eq!(l.keys(), 0);
    }

    #[test]
    fn memory_per_key_is_bounded_by_the_limit() {
        let l = Limiter::new(Settings::default());
        let mut now = t0();
        for _ in 0..5000 {
            check(&l, now);
            now += Duration::seconds(3);
        }
        assert!(l.calls.iter().all(|e| e.len() <= 1500));
    }

    #[test]
    fn off_and_overrides() {
        let off = Limiter::new(Settings {
            mode: Mode::Off,
            ..Settings::default()
        });
        for _ in 0..1000 {
            assert_eq!(check(&off, t0()), Decision::Accepted);
        }
        let custom = Limiter::new(Settings {
            per_minute: Some(3),
            per_hour: Some(4),
            ..Settings::default()
        });
        for _ in 0..3 {
            assert_eq!(check(&custom, t0()), Decision::Accepted);
        }
        assert_eq!(
            check(&custom, t0()),
            Decision::Throttled {
                retry_after_secs: 60
            }
        );
        assert_eq!(check(&custom, t0() + MINUTE), Decision::Accepted);
        assert_eq!(
            check(&custom, t0() + MINUTE),
            Decision::Throttled {
                retry_after_secs: 3540
            }
        );
        // GetPackageUri keeps its documented 2/min whatever the override.
        for _ in 0..2 {
            assert_eq!(
                custom.check(
                    &tid("t"),
                    "app",
                    RouteKey {
                        method: "GET",
                        path: "pkg"
                    },
                    PACKAGE_URI,
                    t0()
                ),
                Decision::Accepted
            );
        }
        assert!(matches!(
            custom.check(
                &tid("t"),
                "app",
                RouteKey {
                    method: "GET",
                    path: "pkg"
                },
                PACKAGE_URI,
                t0()
            ),
            Decision::Throttled { .. }
        ));
        // Per tenant.
        custom.set_tenant(
            &tid("T"),
            Some(Settings {
                mode: Mode::Off,
                ..Settings::default()
            }),
        );
        for _ in 0..10 {
            assert_eq!(check(&custom, t0()), Decision::Accepted);
        }
    }
}
