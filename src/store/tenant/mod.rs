//! One tenant's machines and machine actions, and the atomic submit / settle steps on them.
//!
//! A tenant's state sits behind one `RwLock`: reads share it, changes (a submit, a cancel, a
//! simulation change, and settling transitions that have fallen due) take it alone, so the
//! duplicate check and the insert are one step and of N concurrent requests for one machine and
//! conflict group exactly one creates an action. No guard leaves a method.
//!
//! The costs do not grow with history:
//! - actions sit in a `Vec` in creation order, with an id index; lists walk it and stop once the
//!   page is known;
//! - each machine keeps its in-flight actions by id and by conflict group, so the duplicate check
//!   and a transition cost O(log in-flight on that machine);
//! - every in-flight action's next transition is in one time-ordered heap, so settling finds
//!   nothing due in O(1), and completing k actions at once costs O(k log n).
//!
//! Here: the tenant's state and settling it; reading machines and changing their behaviour is in
//! `machines`, submitting and reading actions in `actions`, machine tags and lookups in `tags`.

use std::{
    cmp::Reverse,
    collections::{BTreeSet, BinaryHeap, HashMap},
    sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use time::OffsetDateTime;
use uuid::Uuid;

mod actions;
mod console;
mod machines;
mod tags;

pub(crate) use tags::{IpWindow, TagChange};
mod seeding;
mod snapshot;

pub(crate) use snapshot::TenantSnapshot;

use super::{
    indicators::Indicators,
    investigations::Investigations,
    lifecycle::{Outcome, Plan, Simulation},
    rules::{self, ConflictGroup},
    DuplicatePolicy, Fleet, FleetMachine, MachineKey, StoreOptions, Visibility,
};
use crate::{
    error::{ApiError, Code},
    events::{ActionEvent, Change, Sink},
    model::{
        ActionStatus, ActionType, HealthStatus, IsolationType, Machine, MachineAction,
        OnboardingStatus, Scope, Timestamp,
    },
};

/// An action's place in its tenant's creation order.
type Seq = u32;

/// A machine this tenant has changed or acted on, and the emulator-only state the wire entity
/// does not show.
#[derive(Debug, Clone)]
struct MachineState {
    /// The fleet's machine until an action changes a wire property (offboarding).
    machine: Arc<Machine>,
    isolation: Option<IsolationType>,
    restricted: bool,
    simulation: Simulation,
    /// Outcome of the next action only, then back to `simulation.outcome`.
    next_outcome: Option<Outcome>,
    /// Actions not yet terminal, with their plans.
    in_flight: HashMap<Seq, Plan>,
    /// The same actions by conflict group, oldest first.
    groups: HashMap<ConflictGroup, BTreeSet<Seq>>,
    /// Every action on this machine, oldest first (a list filtered by `machineId` walks this).
    history: Vec<Seq>,
}

impl MachineState {
    /// A fleet machine as a tenant's state starts it, with the server-wide simulation defaults.
    fn seed(f: &FleetMachine, defaults: Simulation) -> Self {
        Self {
            machine: Arc::clone(&f.machine),
            isolation: f.isolation,
            restricted: f.restricted,
            simulation: f.simulation.apply(defaults),
            next_outcome: None,
            in_flight: HashMap::new(),
            groups: HashMap::new(),
            history: Vec::new(),
        }
    }

    /// The oldest in-flight action of `group`.
    fn oldest_in(&self, group: &ConflictGroup) -> Option<Seq> {
        self.groups.get(group).and_then(|s| s.first().copied())
    }

    /// Forgets in-flight action `seq` of conflict group `group` (it reached a terminal status).
    fn land(&mut self, seq: Seq, group: &ConflictGroup) {
        if self.in_flight.remove(&seq).is_some() {
            if let Some(set) = self.groups.get_mut(group) {
                set.remove(&seq);
                if set.is_empty() {
                    self.groups.remove(group);
                }
            }
        }
    }
}

/// A stored action and the machine it acts on.
#[derive(Debug, Clone)]
struct Slot {
    wire: MachineAction,
    machine: MachineKey,
}

/// What a client asked for, validated by the route.
#[derive(Debug, Clone)]
pub(crate) struct NewAction {
    pub action_type: ActionType,
    pub comment: String,
    pub requestor: String,
    /// `Full`/`Selective`/`UnManagedDevice` for isolation, `Quick`/`Full` for scans.
    pub scope: Option<Scope>,
    /// For StopAndQuarantineFile.
    pub sha1: Option<String>,
}

/// The result of a submit: a new action, or the one already in flight (`return-existing`).
#[derive(Debug, Clone)]
pub(crate) enum Submitted {
    Created(MachineAction),
    Existing(MachineAction),
}

impl Submitted {
    /// The action either way.
    pub(crate) fn into_action(self) -> MachineAction {
        match self {
            Submitted::Created(a) | Submitted::Existing(a) => a,
        }
    }
}

/// A tenant's mutable state (behind the tenant's lock).
#[derive(Debug, Default)]
struct State {
    /// The fixture fleet (shared by every tenant) until this tenant seeds a machine; then its
    /// own copy.
    fleet: Arc<Fleet>,
    /// This tenant's copies of the machines it has acted on; the others are read from the fleet.
    machines: HashMap<MachineKey, MachineState>,
    /// Every action, in creation order (`Seq` is the index).
    actions: Vec<Slot>,
    by_id: HashMap<Uuid, Seq>,
    /// The next transition of every in-flight action, earliest first. An entry whose action has
    /// moved on (re-planned, cancelled) is stale and skipped when it comes up.
    schedule: BinaryHeap<Reverse<(OffsetDateTime, Seq)>>,
    /// Requestor names and comments, shared by the actions that carry them (automation sends
    /// the same few again and again).
    shared: Vec<Arc<str>>,
    /// Where changes are published (the live state stream).
    sink: Option<Sink>,
}

impl State {
    /// Whether a transition is due at `now`.
    fn due(&self, now: OffsetDateTime) -> bool {
        self.schedule
            .peek()
            .is_some_and(|Reverse((t, _))| *t <= now)
    }

    /// Replays every transition due by `now`, in time order (creation order between equal
    /// times), applying each action's effect on its machine when it reaches `Succeeded`.
    fn settle(&mut self, now: OffsetDateTime) {
        while let Some(Reverse((at, seq))) = self.schedule.peek().copied() {
            if at > now {
                break;
            }
            self.schedule.pop();
            self.step(seq, at);
        }
    }

    /// Makes the transition of action `seq` scheduled at `at`, unless the entry is stale.
    fn step(&mut self, seq: Seq, at: OffsetDateTime) {
        let Some(slot) = self.actions.get_mut(seq as usize) else {
            return;
        };
        let Some(m) = self.machines.get_mut(&slot.machine) else {
            return;
        };
        let Some(plan) = m.in_flight.get(&seq).copied() else {
            return; // terminal already (cancelled)
        };
        let Some((t, status)) = plan.next(slot.wire.status) else {
            return;
        };
        if t != at {
            return; // re-planned: another entry holds the real time
        }
        slot.wire.status = status;
        slot.wire.last_update_date_time_utc = Timestamp(at);
        if let Some(sink) = &self.sink {
            sink.publish(Timestamp(at), || {
                Change::ActionUpdated(action_event(&slot.wire))
            });
        }
        if status.is_terminal() {
            m.land(seq, &group_of(&slot.wire));
            if status == ActionStatus::Succeeded
                && actions::apply_effect(m, slot.wire.action_type, slot.wire.scope)
            {
                if let Some(sink) = &self.sink {
                    sink.publish(Timestamp(at), || machine_changed(m));
                }
            }
        } else if let Some((next, _)) = plan.next(status) {
            self.schedule.push(Reverse((next, seq)));
        }
    }

    /// Schedules the first transition of in-flight action `seq` under `plan`.
    fn schedule(&mut self, seq: Seq, plan: &Plan, status: ActionStatus) {
        if let Some((t, _)) = plan.next(status) {
            self.schedule.push(Reverse((t, seq)));
        }
    }

    /// The shared copy of `text` (a requestor name or a comment).
    fn share(&mut self, text: &str) -> Arc<str> {
        if let Some(r) = self.shared.iter().find(|r| ***r == *text) {
            return Arc::clone(r);
        }
        let r: Arc<str> = text.into();
        // Bounded: past this many distinct texts, each action keeps its own copy.
        if self.shared.len() < MAX_SHARED_TEXTS {
            self.shared.push(Arc::clone(&r));
        }
        r
    }
}

/// An action as the live state stream shows it.
fn action_event(a: &MachineAction) -> ActionEvent {
    ActionEvent {
        action_id: a.id,
        machine_id: (&*a.machine.id).into(),
        computer_dns_name: (&*a.machine.computer_dns_name).into(),
        action_type: a.action_type,
        status: a.status,
        requestor: Arc::clone(&a.requestor),
    }
}

/// A machine's emulator-side state as the live state stream shows it.
fn machine_changed(m: &MachineState) -> Change {
    Change::MachineChanged {
        machine_id: (&*m.machine.id).into(),
        isolation: m.isolation,
        restricted: m.restricted,
    }
}

/// The conflict group of a stored action.
fn group_of(a: &MachineAction) -> ConflictGroup {
    let sha1 = a.related_file_info.as_ref().map(|f| &*f.sha1);
    rules::conflict_group(a.action_type, sha1)
}

/// How many distinct requestor names and comments a tenant shares between its actions.
const MAX_SHARED_TEXTS: usize = 64;

/// One tenant's state.
#[derive(Debug)]
pub(crate) struct Tenant {
    options: StoreOptions,
    policy_override: Mutex<Option<DuplicatePolicy>>,
    state: RwLock<State>,
    /// The tenant's indicators (their own lock).
    pub(crate) indicators: Indicators,
    /// The tenant's automated investigations (their own lock).
    pub(crate) investigations: Investigations,
    /// This tenant's alerts, behind their own lock.
    alerts: super::alerts::TenantAlerts,
}

impl Tenant {
    pub(super) fn new(
        fleet: Arc<Fleet>,
        alerts: Arc<super::alerts::FixtureAlerts>,
        options: StoreOptions,
        sink: Option<Sink>,
    ) -> Self {
        Self {
            indicators: Indicators::new(Arc::clone(&fleet), sink.clone()),
            investigations: Investigations::new(sink.clone()),
            alerts: super::alerts::TenantAlerts::new(Arc::clone(&fleet), alerts, sink.clone()),
            options,
            policy_override: Mutex::new(None),
            state: RwLock::new(State {
                fleet,
                sink,
                ..State::default()
            }),
        }
    }

    /// How many machines this tenant has copied from the fleet (for tests of copy-on-write).
    #[cfg(test)]
    pub(crate) fn copied(&self) -> usize {
        self.read_settled(OffsetDateTime::UNIX_EPOCH).machines.len()
    }

    /// This tenant's alerts.
    pub(crate) fn alerts(&self) -> &super::alerts::TenantAlerts {
        &self.alerts
    }

    /// How many actions this tenant has (lists use it to judge a query's cost).
    pub(crate) fn action_count(&self) -> usize {
        self.read().actions.len()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The state for reading, with every transition due by `now` made first.
    fn read_settled(&self, now: OffsetDateTime) -> RwLockReadGuard<'_, State> {
        {
            let state = self.read();
            if !state.due(now) {
                return state;
            }
        }
        self.write().settle(now);
        self.read()
    }

    /// Makes every transition due by `now`.
    pub(crate) fn settle(&self, now: OffsetDateTime) {
        drop(self.read_settled(now));
        self.investigations.settle(now);
    }

    /// The state for changing, settled to `now`.
    fn write_settled(&self, now: OffsetDateTime) -> RwLockWriteGuard<'_, State> {
        let mut state = self.write();
        state.settle(now);
        state
    }

    /// The machine at `key` as this tenant sees it: its own copy, or the fleet's.
    fn machine_in<'s>(&'s self, state: &'s State, key: MachineKey) -> &'s Arc<Machine> {
        state
            .machines
            .get(&key)
            .map_or(&state.fleet.at(key).machine, |m| &m.machine)
    }

    /// This tenant's own state of machine `key` (in `machines`), made from `fleet` on first use.
    fn own<'s>(
        &self,
        fleet: &Fleet,
        machines: &'s mut HashMap<MachineKey, MachineState>,
        key: MachineKey,
    ) -> &'s mut MachineState {
        let defaults = self.options.simulation;
        machines
            .entry(key)
            .or_insert_with(|| MachineState::seed(fleet.at(key), defaults))
    }

    /// The duplicate policy in force for this tenant.
    pub(crate) fn duplicate_policy(&self) -> DuplicatePolicy {
        let guard = self
            .policy_override
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        guard.unwrap_or(self.options.duplicate_policy)
    }

    /// Overrides (or with `None` restores) the server-wide duplicate policy for this tenant.
    pub(crate) fn set_duplicate_policy(&self, policy: Option<DuplicatePolicy>) {
        *self
            .policy_override
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = policy;
    }
}

#[cfg(test)]
mod tests;
