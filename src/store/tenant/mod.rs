//! One tenant's machines and machine actions, and the atomic submit / settle steps on them.
//!
//! Lock order is always machine entry, then action entries, and a machine entry is held for the
//! whole of a submit: the duplicate check and the insert are one step, so of N concurrent
//! requests for one machine and conflict group exactly one creates an action.
//!
//! Here: the tenant's state and settling it; reading machines and changing their behaviour is in
//! `machines`, submitting and reading actions in `actions`.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex,
};

use dashmap::{mapref::one::RefMut, DashMap};
use time::OffsetDateTime;
use uuid::Uuid;

mod actions;
mod machines;

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
