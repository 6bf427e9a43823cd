//! The in-memory state of the emulator, per tenant. The store owns all locking: callers get owned
//! clones back, and no guard ever leaves a method (so none can be held across an `.await`).

mod lifecycle;
pub(crate) mod rules;
mod tenant;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::model::{IsolationType, Machine, MachineId, TenantId};

pub(crate) use lifecycle::SimulationOverride;
pub(crate) use lifecycle::MAX_DELAY_SECONDS;
pub use lifecycle::{Outcome, Simulation};
pub(crate) use tenant::{NewAction, Tenant};

/// What a second action of a conflict group gets while one is in flight (emulator-decisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicatePolicy {
    /// 400 `ActiveRequestAlreadyExists`.
    Reject,
    /// 201 with the in-flight action (same id).
    ReturnExisting,
    /// A new action.
    Allow,
}

/// Server-wide behaviour of every tenant's state.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    pub duplicate_policy: DuplicatePolicy,
    pub strict_state: bool,
    pub simulation: Simulation,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            duplicate_policy: DuplicatePolicy::Reject,
            strict_state: false,
            simulation: Simulation::default(),
        }
    }
}

/// One machine of the fixture fleet: the wire entity plus the emulator-only state around it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FleetMachine {
    /// The machine's id as a key (the same as `machine.id`).
    pub key: MachineId,
    pub machine: Machine,
    /// `Some(scope)` when the machine starts isolated (`Full`, `Selective`, `UnManagedDevice`).
    pub isolation: Option<IsolationType>,
    /// Whether app execution starts restricted.
    pub restricted: bool,
    pub simulation: SimulationOverride,
}

/// The fixture fleet, shared read-only by every tenant: sorted by id, with an id index.
#[derive(Debug)]
pub(crate) struct Fleet {
    machines: Vec<FleetMachine>,
    index: HashMap<MachineId, usize>,
}

impl Fleet {
    fn new(mut machines: Vec<FleetMachine>) -> Self {
        machines.sort_by(|a, b| a.machine.id.cmp(&b.machine.id));
        let index = machines
            .iter()
            .enumerate()
            .map(|(i, f)| (f.key.clone(), i))
            .collect();
        Self { machines, index }
    }

    /// The machine with id `id` (lower case).
    pub(crate) fn get(&self, id: &str) -> Option<&FleetMachine> {
        self.index.get(id).map(|i| &self.machines[*i])
    }

    /// Every machine, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &FleetMachine> {
        self.machines.iter()
    }
}

/// Which machines a caller can see: all of them, or those of its device groups (`rbacGroupName`).
#[derive(Debug, Clone, Default)]
pub(crate) enum Visibility {
    #[default]
    All,
    Groups(Arc<HashSet<String>>),
}

impl Visibility {
    /// Whether a caller with this visibility sees `m`.
    pub(crate) fn sees(&self, m: &Machine) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Groups(groups) => m
                .rbac_group_name
                .as_deref()
                .is_some_and(|g| groups.iter().any(|x| x.eq_ignore_ascii_case(g))),
        }
    }
}

/// All tenants' state. Every tenant starts from the fixture fleet, which they all share; a tenant
/// copies a machine only when it first changes it (an action, a simulation change), so a fresh
/// tenant costs almost nothing and test suites can use one per test.
#[derive(Debug)]
pub(crate) struct Store {
    tenants: DashMap<TenantId, Arc<Tenant>>,
    fleet: Arc<Fleet>,
    options: StoreOptions,
}

impl Store {
    /// A store whose tenants each start from `fleet`.
    pub(crate) fn new(fleet: Vec<FleetMachine>, options: StoreOptions) -> Self {
        Self {
            tenants: DashMap::new(),
            fleet: Arc::new(Fleet::new(fleet)),
            options,
        }
    }

    /// The tenant `tid`, created from the fleet on first use: for requests that change state
    /// (and API reads, which a real tenant always has state for).
    pub(crate) fn tenant(&self, tid: &TenantId) -> Arc<Tenant> {
        if let Some(t) = self.tenants.get(tid) {
            return Arc::clone(&t);
        }
        let t = self
            .tenants
            .entry(tid.clone())
            .or_insert_with(|| Arc::new(self.fresh()));
        Arc::clone(&t)
    }

    /// The tenant `tid` to read from, never stored: an unknown tenant reads as a fresh copy of
    /// the fleet that is dropped afterwards, so control-plane reads allocate no tenant.
    pub(crate) fn peek(&self, tid: &TenantId) -> Arc<Tenant> {
        match self.tenants.get(tid) {
            Some(t) => Arc::clone(&t),
            None => Arc::new(self.fresh()),
        }
    }

    /// How many tenants hold state.
    #[cfg(test)]
    pub(crate) fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    fn fresh(&self) -> Tenant {
        Tenant::new(Arc::clone(&self.fleet), self.options)
    }

    /// How many machines the fixture fleet has.
    pub(crate) fn fleet_len(&self) -> usize {
        self.fleet.machines.len()
    }

    /// Forgets a tenant's state; its next request starts again from the fleet. True if it existed.
    pub(crate) fn reset(&self, tid: &TenantId) -> bool {
        self.tenants.remove(tid).is_some()
    }

    /// Forgets every tenant's state.
    pub(crate) fn reset_all(&self) {
        self.tenants.clear();
    }
}
