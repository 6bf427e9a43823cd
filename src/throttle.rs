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

/// The largest per-minute override: each accepted call is remembered for an hour, so the quota
/// bounds memory (16 bytes a call, per tenant, app and endpoint).
pub(crate) const MAX_PER_MINUTE: u32 = 10_000;
/// The largest per-hour override.
pub(crate) const MAX_PER_HOUR: u32 = 100_000;

impl Settings {
    /// `Err` naming the override that is 0 (nothing could ever pass: `Retry-After` forever) or
    /// over its bound.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (name, value, max) in [
            ("perMinute", self.per_minute, MAX_PER_MINUTE),
            ("perHour", self.per_hour, MAX_PER_HOUR),
        ] {
            if let Some(v) = value.filter(|v| *v == 0 || *v > max) {
                return Err(format!("{name} {v} is not between 1 and {max}"));
            }
        }
        Ok(())
    }

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

    /// Forgets the counters and the override of `tenant`, or of every tenant (a reset).
    pub(crate) fn reset(&self, tenant: Option<&TenantId>) {
        match tenant {
            Some(t) => {
                self.per_tenant.remove(t);
                self.calls.retain(|k, _| k.tenant != *t);
            }
            None => {
                self.per_tenant.clear();
                self.calls.clear();
            }
        }
    }

    /// Every per-tenant override (for a snapshot).
    pub(crate) fn overrides(&self) -> Vec<(TenantId, Settings)> {
        self.per_tenant
            .iter()
            .map(|e| (e.key().clone(), *e.value()))
            .collect()
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
        // Only calls inside the longest window matter, and at most the largest quota of them.
        let keep = limit.per_minute.max(limit.per_hour) as usize;
        while log.len() > keep || log.front().is_some_and(|t| now - *t >= HOUR) {
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
#[path = "throttle_tests.rs"]
mod tests;
