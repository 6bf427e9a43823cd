//! One tenant's automated investigations, behind their own lock: starting one on a machine, and
//! its lifecycle on the emulator clock. An investigation follows the machine's device simulation
//! as an action does (`lifecycle::Plan`): `Queued` until the device picks it up, `Running` until
//! it completes, then `Benign` (succeeded: nothing found), `Failed`, or `TerminatedBySystem`
//! (timed out, or an offline device after three days). Transitions are replayed lazily on the
//! next read or clock move, each at the time it fell due.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use time::OffsetDateTime;

use super::{
    lifecycle::{Plan, Simulation},
    Visibility,
};
use crate::{
    error::{ApiError, Code},
    events::{Change, Sink},
    model::{ActionStatus, Investigation, InvestigationState, Machine, Timestamp, WholeSeconds},
    odata::{self, Page, Query},
};

/// The investigation state an action status of the same plan stands for.
fn state_of(status: ActionStatus) -> InvestigationState {
    match status {
        ActionStatus::Pending => InvestigationState::Queued,
        ActionStatus::InProgress => InvestigationState::Running,
        ActionStatus::Succeeded => InvestigationState::Benign,
        ActionStatus::Failed => InvestigationState::Failed,
        ActionStatus::TimeOut | ActionStatus::Cancelled => InvestigationState::TerminatedBySystem,
    }
}

#[derive(Debug, Clone)]
struct Slot {
    wire: Investigation,
    plan: Plan,
    /// Where the plan is (its statuses are the action lifecycle's).
    status: ActionStatus,
}

#[derive(Debug, Default)]
struct State {
    /// In creation order; an investigation's id is its index + 1.
    rows: Vec<Slot>,
    /// The next transition of every unfinished investigation, earliest first.
    schedule: BinaryHeap<Reverse<(OffsetDateTime, usize)>>,
    /// The unfinished investigation of each machine (by machine id).
    open: HashMap<Box<str>, usize>,
}

impl State {
    fn due(&self, now: OffsetDateTime) -> bool {
        self.schedule
            .peek()
            .is_some_and(|Reverse((t, _))| *t <= now)
    }

    fn settle(&mut self, now: OffsetDateTime, sink: Option<&Sink>) {
        while let Some(Reverse((at, i))) = self.schedule.peek().copied() {
            if at > now {
                break;
            }
            self.schedule.pop();
            let Some(slot) = self.rows.get_mut(i) else {
                continue;
            };
            let Some((t, status)) = slot.plan.next(slot.status) else {
                continue;
            };
            if t != at {
                continue;
            }
            slot.status = status;
            slot.wire.state = state_of(status);
            if slot.wire.state.is_terminal() {
                slot.wire.end_time = Some(WholeSeconds::new(at));
                self.open.remove(&*slot.wire.machine.id);
            } else if let Some((next, _)) = slot.plan.next(status) {
                self.schedule.push(Reverse((next, i)));
            }
            if let Some(sink) = sink {
                sink.publish(Timestamp(at), || updated(&slot.wire));
            }
        }
    }
}

fn updated(i: &Investigation) -> Change {
    Change::InvestigationUpdated {
        investigation_id: i.id.clone(),
        machine_id: (&*i.machine.id).into(),
        state: i.state.as_str().to_owned(),
    }
}

/// A tenant's investigations.
#[derive(Debug, Default)]
pub(crate) struct Investigations {
    state: RwLock<State>,
    sink: Option<Sink>,
}

impl Investigations {
    pub(crate) fn new(sink: Option<Sink>) -> Self {
        Self {
            state: RwLock::default(),
            sink,
        }
    }

    fn write(&self, now: OffsetDateTime) -> RwLockWriteGuard<'_, State> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.settle(now, self.sink.as_ref());
        state
    }

    fn read(&self, now: OffsetDateTime) -> RwLockReadGuard<'_, State> {
        {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            if !state.due(now) {
                return state;
            }
        }
        drop(self.write(now));
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes every transition due by `now` (after the clock moved).
    pub(crate) fn settle(&self, now: OffsetDateTime) {
        drop(self.read(now));
    }

    /// How many investigations this tenant has.
    pub(crate) fn count(&self) -> usize {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .rows
            .len()
    }

    /// Starts an investigation on `machine`, whose device behaves as `sim`: 400
    /// `ActiveRequestAlreadyExists` while another is unfinished on it.
    pub(crate) fn start(
        &self,
        machine: Arc<Machine>,
        sim: &Simulation,
        now: OffsetDateTime,
    ) -> Result<Investigation, ApiError> {
        let mut state = self.write(now);
        if let Some(open) = state
            .open
            .get(&*machine.id)
            .and_then(|i| state.rows.get(*i))
        {
            return Err(ApiError::bad_request(
                Code::ActiveRequestAlreadyExists,
                format!(
                    "Investigation {} is already running on machine {}.",
                    open.wire.id, machine.id
                ),
            ));
        }
        let index = state.rows.len();
        let plan = Plan::new(now, sim);
        let wire = Investigation {
            id: (index + 1).to_string(),
            start_time: WholeSeconds::new(now),
            end_time: None,
            state: InvestigationState::Queued,
            cancelled_by: None,
            status_details: None,
            machine,
            triggering_alert_id: None,
        };
        if let Some((t, _)) = plan.next(ActionStatus::Pending) {
            state.schedule.push(Reverse((t, index)));
        }
        state.open.insert(wire.machine.id.clone(), index);
        state.rows.push(Slot {
            wire: wire.clone(),
            plan,
            status: ActionStatus::Pending,
        });
        if let Some(sink) = &self.sink {
            sink.publish(Timestamp(now), || updated(&wire));
        }
        Ok(wire)
    }

    /// The investigation whose id (or triggering alert id) is `id`, as of `now`, if the caller
    /// sees its machine.
    pub(crate) fn get(
        &self,
        id: &str,
        vis: &Visibility,
        now: OffsetDateTime,
    ) -> Option<Investigation> {
        let state = self.read(now);
        let by_id = id
            .parse::<usize>()
            .ok()
            .filter(|n| id.bytes().all(|b| b.is_ascii_digit()) && *n >= 1)
            .and_then(|n| state.rows.get(n - 1));
        let found = by_id.or_else(|| {
            state
                .rows
                .iter()
                .find(|s| s.wire.triggering_alert_id.as_deref() == Some(id))
        });
        found
            .map(|s| &s.wire)
            .filter(|i| vis.sees(&i.machine))
            .cloned()
    }

    /// One page of the investigations on machines the caller sees, as of `now`, in creation
    /// order before `$orderby`.
    pub(crate) fn list(
        &self,
        vis: &Visibility,
        q: &Query<Investigation>,
        page_size: usize,
        now: OffsetDateTime,
    ) -> Page<Investigation> {
        let state = self.read(now);
        let rows = state
            .rows
            .iter()
            .map(|s| &s.wire)
            .filter(|i| vis.sees(&i.machine));
        odata::select(q, rows, page_size).map(Investigation::clone)
    }
}

/// A tenant's investigations as the state file keeps them, in creation order.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct InvestigationsSnapshot {
    rows: Vec<InvestigationRecord>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InvestigationRecord {
    id: String,
    start_time: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_time: Option<Timestamp>,
    state: InvestigationState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancelled_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    triggering_alert_id: Option<String>,
    /// The machine it runs on, as it was (a seeded machine may be gone since).
    machine: Machine,
    /// Where the plan is, and the plan.
    status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pickup_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_status: Option<ActionStatus>,
}

impl Investigations {
    /// This tenant's investigations, or `None` when it has none.
    pub(crate) fn snapshot(&self) -> Option<InvestigationsSnapshot> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        (!state.rows.is_empty()).then(|| InvestigationsSnapshot {
            rows: state
                .rows
                .iter()
                .map(|s| {
                    let (pickup_at, end_at, end_status) = s.plan.to_record();
                    InvestigationRecord {
                        id: s.wire.id.clone(),
                        start_time: Timestamp(s.wire.start_time.0),
                        end_time: s.wire.end_time.map(|t| Timestamp(t.0)),
                        state: s.wire.state,
                        cancelled_by: s.wire.cancelled_by.clone(),
                        status_details: s.wire.status_details.clone(),
                        triggering_alert_id: s.wire.triggering_alert_id.clone(),
                        machine: (*s.wire.machine).clone(),
                        status: s.status,
                        pickup_at,
                        end_at,
                        end_status,
                    }
                })
                .collect(),
        })
    }

    /// Puts a snapshot back (into a fresh tenant), or says what is inconsistent.
    pub(crate) fn restore(&self, snap: InvestigationsSnapshot) -> Result<(), String> {
        let mut state = State::default();
        for (index, r) in snap.rows.into_iter().enumerate() {
            let plan = Plan::from_record(r.pickup_at, r.end_at, r.end_status)
                .ok_or_else(|| format!("investigation {}: a plan end without a status", r.id))?;
            let wire = Investigation {
                id: r.id,
                start_time: WholeSeconds(r.start_time.0),
                end_time: r.end_time.map(|t| WholeSeconds(t.0)),
                state: r.state,
                cancelled_by: r.cancelled_by,
                status_details: r.status_details,
                machine: Arc::new(r.machine),
                triggering_alert_id: r.triggering_alert_id,
            };
            if !wire.state.is_terminal() {
                if let Some((t, _)) = plan.next(r.status) {
                    state.schedule.push(Reverse((t, index)));
                }
                state.open.insert(wire.machine.id.clone(), index);
            }
            state.rows.push(Slot {
                wire,
                plan,
                status: r.status,
            });
        }
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
        Ok(())
    }
}
