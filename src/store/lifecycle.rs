//! Device simulation: how a machine's sensor picks up and completes actions, as a plan fixed when
//! the action is created and replayed against the emulator clock (emulator-decisions "Lifecycle").
//!
//! Progress is evaluated lazily: each read first replays every due transition in time order, so
//! advancing the clock by an hour moves every action as if an hour had passed, with the timestamps
//! of the moments the transitions were due, and with no background task to race against.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::model::{ActionStatus, Timestamp};

/// How long an offline device's actions stay `Pending` before they end `TimeOut` (spec §2).
pub(crate) const OFFLINE_TIMEOUT: Duration = Duration::days(3);
/// The longest pickup or completion delay a device can have: ten years. Delays are checked
/// against it wherever they enter (flags, fixtures, the control plane), never clamped.
pub(crate) const MAX_DELAY_SECONDS: u64 = 10 * 365 * 86_400;

/// What the device does with an action once it has picked it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Outcome {
    Succeeded,
    Failed,
    TimeOut,
    /// Never picked up: stays `Pending` until cancelled.
    Stuck,
}

/// A machine's device behaviour. Every field is optional in fixtures and falls back to the
/// server-wide defaults (`--pickup-delay`, `--completion-delay`, `--outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Simulation {
    pub online: bool,
    pub pickup_delay_seconds: u64,
    pub completion_delay_seconds: u64,
    pub outcome: Outcome,
    /// The sensor is too old for response actions: they answer 400 `ClientVersionNotSupported`.
    pub sensor_outdated: bool,
}

impl Default for Simulation {
    fn default() -> Self {
        Self {
            online: true,
            pickup_delay_seconds: 10,
            completion_delay_seconds: 50,
            outcome: Outcome::Succeeded,
            sensor_outdated: false,
        }
    }
}

/// Per-machine overrides as written in a fixture's `simulation` object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SimulationOverride {
    pub online: Option<bool>,
    pub pickup_delay_seconds: Option<u64>,
    pub completion_delay_seconds: Option<u64>,
    pub outcome: Option<Outcome>,
    pub sensor_outdated: Option<bool>,
}

impl SimulationOverride {
    /// The first delay over [`MAX_DELAY_SECONDS`], as (field, value).
    pub(crate) fn out_of_range(&self) -> Option<(&'static str, u64)> {
        [
            ("pickupDelaySeconds", self.pickup_delay_seconds),
            ("completionDelaySeconds", self.completion_delay_seconds),
        ]
        .into_iter()
        .find_map(|(field, v)| v.filter(|v| *v > MAX_DELAY_SECONDS).map(|v| (field, v)))
    }

    /// The defaults with this override's fields applied.
    pub(crate) fn apply(&self, defaults: Simulation) -> Simulation {
        Simulation {
            online: self.online.unwrap_or(defaults.online),
            pickup_delay_seconds: self
                .pickup_delay_seconds
                .unwrap_or(defaults.pickup_delay_seconds),
            completion_delay_seconds: self
                .completion_delay_seconds
                .unwrap_or(defaults.completion_delay_seconds),
            outcome: self.outcome.unwrap_or(defaults.outcome),
            sensor_outdated: self.sensor_outdated.unwrap_or(defaults.sensor_outdated),
        }
    }
}

/// The transitions an action will go through, fixed at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// When the device picks the action up (`Pending` → `InProgress`); `None` = never.
    pub pickup_at: Option<OffsetDateTime>,
    /// When it ends, and how; `None` = never (stuck).
    pub end: Option<(OffsetDateTime, ActionStatus)>,
}

impl Plan {
    /// The plan as a state file writes it: pickup time, end time, end status.
    pub(crate) fn to_record(self) -> (Option<Timestamp>, Option<Timestamp>, Option<ActionStatus>) {
        (
            self.pickup_at.map(Timestamp),
            self.end.map(|(t, _)| Timestamp(t)),
            self.end.map(|(_, s)| s),
        )
    }

    /// The plan a state file wrote with [`to_record`](Self::to_record); `None` when it has an
    /// end time without an end status or the other way round.
    pub(crate) fn from_record(
        pickup_at: Option<Timestamp>,
        end_at: Option<Timestamp>,
        end_status: Option<ActionStatus>,
    ) -> Option<Self> {
        let end = match (end_at, end_status) {
            (Some(t), Some(s)) => Some((t.0, s)),
            (None, None) => None,
            _ => return None,
        };
        Some(Self {
            pickup_at: pickup_at.map(|t| t.0),
            end,
        })
    }

    /// The plan for an action created at `created` on a device behaving as `sim`.
    pub(crate) fn new(created: OffsetDateTime, sim: &Simulation) -> Self {
        if !sim.online {
            return Self {
                pickup_at: None,
                end: created
                    .checked_add(OFFLINE_TIMEOUT)
                    .map(|t| (t, ActionStatus::TimeOut)),
            };
        }
        let status = match sim.outcome {
            Outcome::Succeeded => ActionStatus::Succeeded,
            Outcome::Failed => ActionStatus::Failed,
            Outcome::TimeOut => ActionStatus::TimeOut,
            Outcome::Stuck => {
                return Self {
                    pickup_at: None,
                    end: None,
                }
            }
        };
        // Delays are bounded where they enter, and the clock stops short of the calendar's end;
        // a sum past it would mean "never", not a panic.
        let pickup = created.checked_add(secs(sim.pickup_delay_seconds));
        let end = pickup.and_then(|p| p.checked_add(secs(sim.completion_delay_seconds)));
        Self {
            pickup_at: pickup,
            end: end.map(|e| (e, status)),
        }
    }

    /// The next transition from `current`, and when it is due; `None` once terminal, or when
    /// the device never moves the action again.
    pub(crate) fn next(&self, current: ActionStatus) -> Option<(OffsetDateTime, ActionStatus)> {
        match current {
            ActionStatus::Pending => self
                .pickup_at
                .map(|t| (t, ActionStatus::InProgress))
                .or(self.end),
            ActionStatus::InProgress => self.end,
            _ => None,
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s.min(MAX_DELAY_SECONDS)).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20000)
    }

    #[test]
    fn online_device_picks_up_then_completes() {
        let plan = Plan::new(t0(), &Simulation::default());
        assert_eq!(
            plan.next(ActionStatus::Pending),
            Some((t0() + Duration::seconds(10), ActionStatus::InProgress))
        );
        assert_eq!(
            plan.next(ActionStatus::InProgress),
            Some((t0() + Duration::seconds(60), ActionStatus::Succeeded))
        );
        assert_eq!(plan.next(ActionStatus::Succeeded), None);
    }

    #[test]
    fn offline_device_times_out_after_three_days() {
        let sim = Simulation {
            online: false,
            ..Simulation::default()
        };
        let plan = Plan::new(t0(), &sim);
        assert_eq!(
            plan.next(ActionStatus::Pending),
            Some((t0() + Duration::days(3), ActionStatus::TimeOut))
        );
    }

    #[test]
    fn stuck_device_never_moves() {
        let sim = Simulation {
            outcome: Outcome::Stuck,
            ..Simulation::default()
        };
        assert_eq!(Plan::new(t0(), &sim).next(ActionStatus::Pending), None);
    }
}
