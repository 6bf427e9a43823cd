//! One tenant's machines and machine actions, and the atomic submit / settle steps on them.
//!
//! Lock order is always machine entry, then action entries, and a machine entry is held for the
//! whole of a submit: the duplicate check and the insert are one step, so of N concurrent
//! requests for one machine and conflict group exactly one creates an action.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex,
};

use dashmap::{mapref::one::RefMut, DashMap};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

mod actions;

use super::{
    lifecycle::{Outcome, Plan, Simulation, SimulationOverride},
    rules::{self, ConflictGroup},
    DuplicatePolicy, Fleet, FleetMachine, StoreOptions, Visibility,
};
use crate::{
    error::{ApiError, Code},
    model::{
        ActionStatus, ActionType, HealthStatus, IsolationType, Machine, MachineAction, MachineId,
        OnboardingStatus, RelatedFileInfo, Scope, Timestamp,
    },
};

/// A machine and the emulator-only state the wire entity does not show.
#[derive(Debug, Clone)]
struct MachineState {
    machine: Machine,
    isolation: Option<IsolationType>,
    restricted: bool,
    simulation: Simulation,
    /// Outcome of the next action only, then back to `simulation.outcome`.
    next_outcome: Option<Outcome>,
    /// Actions not yet terminal, oldest first.
    in_flight: Vec<Uuid>,
}

#[derive(Debug, Clone)]
struct ActionRecord {
    wire: MachineAction,
    seq: u64,
    plan: Plan,
    group: ConflictGroup,
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

/// The emulator-side view of a machine, for `GET /_mock/machines/{id}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MachineView {
    pub machine: Machine,
    pub isolated: bool,
    pub isolation_scope: Option<IsolationType>,
    pub app_execution_restricted: bool,
    pub simulation: Simulation,
    pub next_outcome: Option<Outcome>,
    pub in_flight_actions: Vec<Uuid>,
}

/// Shards of a tenant's maps (a power of two, as dashmap requires).
const TENANT_SHARDS: usize = 4;

/// One tenant's state.
#[derive(Debug)]
pub(crate) struct Tenant {
    /// The shared fixture fleet: what every machine looks like until this tenant changes it.
    fleet: Arc<Fleet>,
    /// This tenant's copies of the machines it has changed; the others are read from `fleet`.
    machines: DashMap<MachineId, MachineState>,
    actions: DashMap<Uuid, ActionRecord>,
    seq: AtomicU64,
    options: StoreOptions,
    policy_override: Mutex<Option<DuplicatePolicy>>,
}

impl Tenant {
    /// How many machines this tenant has copied from the fleet (for tests of copy-on-write).
    #[cfg(test)]
    pub(crate) fn copied(&self) -> usize {
        self.machines.len()
    }

    pub(super) fn new(fleet: Arc<Fleet>, options: StoreOptions) -> Self {
        // A tenant sees little concurrency; DashMap's default (4 shards per core) would make every
        // fresh tenant pay for hundreds of empty shards on a large CI host.
        Self {
            fleet,
            machines: DashMap::with_shard_amount(TENANT_SHARDS),
            actions: DashMap::with_shard_amount(TENANT_SHARDS),
            seq: AtomicU64::new(0),
            options,
            policy_override: Mutex::new(None),
        }
    }

    /// A fleet machine as this tenant's state starts it.
    fn seed(&self, f: &FleetMachine) -> MachineState {
        MachineState {
            machine: f.machine.clone(),
            isolation: f.isolation,
            restricted: f.restricted,
            simulation: f.simulation.apply(self.options.simulation),
            next_outcome: None,
            in_flight: Vec::new(),
        }
    }

    /// This tenant's own copy of machine `key`, made from the fleet on first use, settled to `now`.
    fn own(
        &self,
        key: &MachineId,
        now: OffsetDateTime,
    ) -> Option<RefMut<'_, MachineId, MachineState>> {
        let mut m = match self.machines.get_mut(key) {
            Some(m) => m,
            None => {
                let f = self.fleet.get(key.as_str())?;
                self.machines
                    .entry(key.clone())
                    .or_insert_with(|| self.seed(f))
            }
        };
        settle(&mut m, &self.actions, now);
        Some(m)
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

    /// The key of the machine `id_or_name` names: its id (any case), else its computer name (full
    /// DNS name or first label, any case; the most recently seen one when several match).
    pub(crate) fn resolve(
        &self,
        id_or_name: &str,
        vis: &Visibility,
    ) -> Result<MachineId, ApiError> {
        // Ids, names and device groups never change, so the shared fleet answers for every tenant.
        let lc = id_or_name.to_ascii_lowercase();
        if let Some(f) = self.fleet.get(&lc) {
            if vis.sees(&f.machine) {
                return Ok(f.key.clone());
            }
            return Err(ApiError::machine_not_found(id_or_name));
        }
        let mut best: Option<(Timestamp, MachineId)> = None;
        for f in self.fleet.iter() {
            let m = &f.machine;
            let name = m.computer_dns_name.to_ascii_lowercase();
            let short = name.split('.').next().unwrap_or_default();
            if (name == lc || short == lc)
                && vis.sees(m)
                && best.as_ref().is_none_or(|(t, _)| m.last_seen > *t)
            {
                best = Some((m.last_seen, f.key.clone()));
            }
        }
        best.map(|(_, id)| id)
            .ok_or_else(|| ApiError::machine_not_found(id_or_name))
    }

    /// The machine `key` as of `now`.
    pub(crate) fn machine(&self, key: &MachineId, now: OffsetDateTime) -> Option<Machine> {
        if let Some(mut m) = self.machines.get_mut(key) {
            settle(&mut m, &self.actions, now);
            return Some(m.machine.clone());
        }
        // Untouched by this tenant: the fleet's machine, as is.
        self.fleet.get(key.as_str()).map(|f| f.machine.clone())
    }

    /// Every machine the caller sees, as of `now`, in fleet id order.
    pub(crate) fn machines(&self, vis: &Visibility, now: OffsetDateTime) -> Vec<Machine> {
        self.fleet
            .iter()
            .filter(|f| vis.sees(&f.machine))
            .filter_map(|f| self.machine(&f.key, now))
            .collect()
    }

    /// The emulator-side view of machine `key` as of `now`.
    pub(crate) fn view(&self, key: &MachineId, now: OffsetDateTime) -> Option<MachineView> {
        let of = |m: &MachineState| MachineView {
            machine: m.machine.clone(),
            isolated: m.isolation.is_some(),
            isolation_scope: m.isolation,
            app_execution_restricted: m.restricted,
            simulation: m.simulation,
            next_outcome: m.next_outcome,
            in_flight_actions: m.in_flight.clone(),
        };
        if let Some(mut m) = self.machines.get_mut(key) {
            settle(&mut m, &self.actions, now);
            return Some(of(&m));
        }
        // Untouched: the fleet's machine with the server-wide simulation defaults applied.
        self.fleet.get(key.as_str()).map(|f| of(&self.seed(f)))
    }

    /// Changes machine `key`'s device behaviour. Actions not yet picked up are re-planned: a
    /// device coming online picks them up after its pickup delay from `now`; one going offline
    /// leaves them to time out three days after their creation.
    pub(crate) fn set_simulation(
        &self,
        key: &MachineId,
        change: SimulationOverride,
        next_outcome: Option<Outcome>,
        now: OffsetDateTime,
    ) -> Option<MachineView> {
        {
            let mut m = self.own(key, now)?;
            m.simulation = change.apply(m.simulation);
            if next_outcome.is_some() {
                m.next_outcome = next_outcome;
            }
            let sim = m.simulation;
            for id in &m.in_flight {
                if let Some(mut a) = self.actions.get_mut(id) {
                    if a.wire.status == ActionStatus::Pending {
                        let created = a.wire.creation_date_time_utc.0;
                        a.plan = if sim.online {
                            Plan::new(now, &sim)
                        } else {
                            Plan::new(created, &sim)
                        };
                    }
                }
            }
        }
        self.view(key, now)
    }
}

/// Replays every transition of `m`'s in-flight actions that is due by `now`, in time order,
/// applying each action's effect on the machine when it reaches `Succeeded`.
fn settle(m: &mut MachineState, actions: &DashMap<Uuid, ActionRecord>, now: OffsetDateTime) {
    let mut events = Vec::new();
    for id in &m.in_flight {
        if let Some(a) = actions.get(id) {
            for (at, status) in a.plan.due(a.wire.status, now) {
                events.push((at, a.seq, status.is_terminal(), status, *id));
            }
        }
    }
    if events.is_empty() {
        return;
    }
    events.sort_by_key(|e| (e.0, e.1, e.2));
    for (at, _, terminal, status, id) in events {
        let effect = actions.get_mut(&id).map(|mut a| {
            a.wire.status = status;
            a.wire.last_update_date_time_utc = Timestamp(at);
            (a.wire.action_type, a.wire.scope)
        });
        if let (ActionStatus::Succeeded, Some((kind, scope))) = (status, effect) {
            actions::apply_effect(m, kind, scope);
        }
        if terminal {
            m.in_flight.retain(|x| *x != id);
        }
    }
}
