//! The in-memory state of the emulator, per tenant. The store owns all locking: callers get owned
//! clones back, and no guard ever leaves a method (so none can be held across an `.await`).

pub(crate) mod alerts;
mod indicators;
mod investigations;
mod lifecycle;
pub(crate) mod rules;
mod tenant;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::{
    events::{Change, EventBus, Sink},
    model::{IsolationType, Machine, MachineId, TenantId, Timestamp},
};

pub(crate) use indicators::{NewIndicator, TiCaller};
pub(crate) use lifecycle::SimulationOverride;
pub(crate) use lifecycle::MAX_DELAY_SECONDS;
pub use lifecycle::{Outcome, Simulation};
pub(crate) use tenant::{IpWindow, NewAction, TagChange, Tenant, TenantSnapshot};

/// One tenant's state as the state file keeps it: a section per component.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TenantSections {
    /// Machines (seeded ones included), actions, the duplicate-policy override.
    pub machines: TenantSnapshot,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<alerts::AlertsSnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicators: Option<indicators::IndicatorsSnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investigations: Option<investigations::InvestigationsSnapshot>,
}

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
    /// Shared by every tenant until one changes it (and by that tenant's actions on it).
    pub machine: Arc<Machine>,
    /// `Some(scope)` when the machine starts isolated (`Full`, `Selective`, `UnManagedDevice`).
    pub isolation: Option<IsolationType>,
    /// Whether app execution starts restricted.
    pub restricted: bool,
    pub simulation: SimulationOverride,
    /// The users seen logging on to it (fixture key `logonUsers`), for `logonusers`.
    pub logon_users: Box<[crate::model::LogonUser]>,
}

/// A machine's place in the fleet: the key every tenant stores its state of the machine under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct MachineKey(u32);

/// A tenant's fleet: at first the fixture fleet, shared read-only by every tenant; a tenant that
/// seeds machines gets its own copy (copy-on-write, `Arc::make_mut`). Keys are append-only: a
/// replaced machine keeps its key, a removed one leaves a tombstone (its key still reads, for the
/// actions recorded on it, but no index or list finds it), so every `MachineKey` an action holds
/// stays valid. Indexes by id, by computer name (the full DNS name and its first label, lower
/// case) and by `aadDeviceId`; `live` lists the keys in id order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fleet {
    machines: Vec<FleetMachine>,
    /// The keys that are not tombstones, in machine id order.
    live: Vec<MachineKey>,
    by_id: HashMap<MachineId, MachineKey>,
    by_name: HashMap<Box<str>, Vec<MachineKey>>,
    by_aad_device_id: HashMap<Box<str>, MachineKey>,
    /// Device group ids by group name (lower case).
    by_group: HashMap<Box<str>, i64>,
}

/// The most machines one fleet holds (keys are `u32`).
const MAX_FLEET: usize = u32::MAX as usize;

impl Fleet {
    fn new(mut machines: Vec<FleetMachine>) -> Self {
        machines.sort_by(|a, b| a.machine.id.cmp(&b.machine.id));
        machines.truncate(MAX_FLEET);
        let mut fleet = Self {
            machines: Vec::new(),
            live: (0..machines.len() as u32).map(MachineKey).collect(),
            by_id: HashMap::with_capacity(machines.len()),
            by_name: HashMap::new(),
            by_aad_device_id: HashMap::new(),
            by_group: HashMap::new(),
        };
        for (i, f) in machines.iter().enumerate() {
            fleet.index(MachineKey(i as u32), f);
        }
        fleet.by_name.shrink_to_fit();
        fleet.machines = machines;
        fleet
    }

    /// Adds `f` under `key` to the indexes.
    fn index(&mut self, key: MachineKey, f: &FleetMachine) {
        let m = &f.machine;
        if let Some(id) = MachineId::parse(&m.id) {
            self.by_id.insert(id, key);
        }
        let name = m.computer_dns_name.to_lowercase();
        if let Some((short, _)) = name.split_once('.') {
            self.by_name.entry(short.into()).or_default().push(key);
        }
        self.by_name.entry(name.into()).or_default().push(key);
        if let Some(group) = m.rbac_group_name.as_deref() {
            self.by_group
                .entry(group.to_lowercase().into())
                .or_insert(m.rbac_group_id);
        }
        if let Some(aad) = m.aad_device_id.as_deref().filter(|a| !a.is_empty()) {
            self.by_aad_device_id
                .entry(aad.to_ascii_lowercase().into())
                .or_insert(key);
        }
    }

    /// Takes the machine at `key` out of the indexes. With `reassign`, another live machine with
    /// the same `aadDeviceId` takes that entry over (a scan: for single removals only).
    fn unindex(&mut self, key: MachineKey, reassign: bool) {
        let m = Arc::clone(&self.machines[key.0 as usize].machine);
        if let Some(id) = MachineId::parse(&m.id) {
            if self.by_id.get(&id) == Some(&key) {
                self.by_id.remove(&id);
            }
        }
        let name = m.computer_dns_name.to_lowercase();
        let short = name.split_once('.').map(|(s, _)| s.to_owned());
        for n in std::iter::once(name.as_str()).chain(short.as_deref()) {
            if let Some(keys) = self.by_name.get_mut(n) {
                keys.retain(|k| *k != key);
                if keys.is_empty() {
                    self.by_name.remove(n);
                }
            }
        }
        if let Some(aad) = m.aad_device_id.as_deref().filter(|a| !a.is_empty()) {
            let aad = aad.to_ascii_lowercase();
            if self.by_aad_device_id.get(aad.as_str()) == Some(&key) {
                self.by_aad_device_id.remove(aad.as_str());
                let next = reassign.then(|| {
                    self.live.iter().copied().find(|k| {
                        *k != key
                            && self.machines[k.0 as usize]
                                .machine
                                .aad_device_id
                                .as_deref()
                                .is_some_and(|a| a.eq_ignore_ascii_case(&aad))
                    })
                });
                if let Some(k) = next.flatten() {
                    self.by_aad_device_id.insert(aad.into(), k);
                }
            }
        }
    }

    /// Creates each machine of `machines`, or replaces the live machine with its id (which keeps
    /// its key), in order. Per machine: its key and whether it was created. Stops early when the
    /// fleet is full (the result is then shorter).
    pub(crate) fn upsert(&mut self, machines: Vec<FleetMachine>) -> Vec<(MachineKey, bool)> {
        let mut out = Vec::with_capacity(machines.len());
        let mut appended = false;
        for f in machines {
            if let Some(key) = self.by_id(&f.machine.id) {
                self.unindex(key, false);
                self.index(key, &f);
                self.machines[key.0 as usize] = f;
                out.push((key, false));
                continue;
            }
            if self.machines.len() >= MAX_FLEET {
                break;
            }
            let key = MachineKey(self.machines.len() as u32);
            self.index(key, &f);
            self.machines.push(f);
            self.live.push(key);
            appended = true;
            out.push((key, true));
        }
        if appended {
            let machines = &self.machines;
            self.live.sort_by(|a, b| {
                machines[a.0 as usize]
                    .machine
                    .id
                    .cmp(&machines[b.0 as usize].machine.id)
            });
        }
        out
    }

    /// Removes every live machine (tombstones) and adds `machines` instead.
    pub(crate) fn replace_all(&mut self, machines: Vec<FleetMachine>) -> usize {
        self.live.clear();
        self.by_id.clear();
        self.by_name.clear();
        self.by_aad_device_id.clear();
        self.upsert(machines).len()
    }

    /// Removes the live machine `key` (a tombstone: the key keeps reading for old actions).
    pub(crate) fn remove(&mut self, key: MachineKey) {
        self.unindex(key, true);
        self.live.retain(|k| *k != key);
    }

    /// The machine at `key`.
    pub(crate) fn at(&self, key: MachineKey) -> &FleetMachine {
        &self.machines[key.0 as usize]
    }

    /// The key of the machine with id `id` (any case).
    pub(crate) fn by_id(&self, id: &str) -> Option<MachineKey> {
        if let Some(key) = self.by_id.get(id) {
            return Some(*key);
        }
        let upper = id.len() == 40 && id.bytes().any(|b| b.is_ascii_uppercase());
        upper
            .then(|| self.by_id.get(id.to_ascii_lowercase().as_str()).copied())
            .flatten()
    }

    /// The keys of the machines whose computer name (full or first label) is `name` (any case).
    pub(crate) fn by_name(&self, name: &str) -> &[MachineKey] {
        self.by_name
            .get(name.to_lowercase().as_str())
            .map_or(&[], Vec::as_slice)
    }

    /// The key of the machine whose `aadDeviceId` is `id` (any case).
    pub(crate) fn by_aad_device_id(&self, id: &str) -> Option<MachineKey> {
        self.by_aad_device_id
            .get(id.to_ascii_lowercase().as_str())
            .copied()
    }

    /// The id of the device group named `name` (any case), if a machine is in it.
    pub(crate) fn group_id(&self, name: &str) -> Option<i64> {
        self.by_group.get(name.to_lowercase().as_str()).copied()
    }

    /// Every live machine with its key, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (MachineKey, &FleetMachine)> {
        self.live.iter().map(|k| (*k, &self.machines[k.0 as usize]))
    }

    /// Every machine ever held, tombstones included, in key order (for snapshots).
    pub(crate) fn all(&self) -> &[FleetMachine] {
        &self.machines
    }

    /// The live keys, in id order (for snapshots).
    pub(crate) fn live(&self) -> &[MachineKey] {
        &self.live
    }

    /// A fleet rebuilt from a snapshot: every machine in key order and the live keys; `None`
    /// when a live key is out of range.
    pub(crate) fn restore(machines: Vec<FleetMachine>, live: Vec<u32>) -> Option<Self> {
        if machines.len() > MAX_FLEET || live.iter().any(|k| *k as usize >= machines.len()) {
            return None;
        }
        let mut fleet = Self {
            machines,
            live: Vec::with_capacity(live.len()),
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            by_aad_device_id: HashMap::new(),
            by_group: HashMap::new(),
        };
        let mut live: Vec<MachineKey> = live.into_iter().map(MachineKey).collect();
        live.sort_by(|a, b| fleet.at(*a).machine.id.cmp(&fleet.at(*b).machine.id));
        live.dedup();
        for key in &live {
            let f = fleet.machines[key.0 as usize].clone();
            fleet.index(*key, &f);
        }
        fleet.live = live;
        Some(fleet)
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    /// A fleet of `machines` alone (sorted by id, keys from 0).
    pub(crate) fn of(machines: Vec<FleetMachine>) -> Self {
        Self::new(machines)
    }
}

impl MachineKey {
    /// The key's index (for snapshots).
    pub(crate) fn index(self) -> u32 {
        self.0
    }

    /// The key at index `i` (from a snapshot).
    pub(crate) fn from_index(i: u32) -> Self {
        Self(i)
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
    /// Where every tenant publishes its changes.
    events: Arc<EventBus>,
    /// The fixture alerts every tenant starts from.
    alerts: Arc<alerts::FixtureAlerts>,
}

impl Store {
    /// A store whose tenants each start from `fleet`.
    pub(crate) fn new(fleet: Vec<FleetMachine>, options: StoreOptions) -> Self {
        Self {
            tenants: DashMap::new(),
            fleet: Arc::new(Fleet::new(fleet)),
            options,
            events: Arc::default(),
            alerts: Arc::default(),
        }
    }

    /// The same store with `alerts` as the fixture alerts of every tenant (before any tenant
    /// exists); alerts on machines not in the fleet are left out.
    pub(crate) fn with_alerts(mut self, alerts: Vec<crate::model::Alert>) -> Self {
        self.alerts = Arc::new(alerts::FixtureAlerts::new(alerts, &self.fleet));
        self
    }

    /// The live state stream of every tenant.
    pub(crate) fn events(&self) -> &Arc<EventBus> {
        &self.events
    }

    /// The tenant `tid`, created from the fleet on first use: for requests that change state
    /// (and API reads, which a real tenant always has state for).
    pub(crate) fn tenant(&self, tid: &TenantId) -> Arc<Tenant> {
        if let Some(t) = self.tenants.get(tid) {
            return Arc::clone(&t);
        }
        let t = self.tenants.entry(tid.clone()).or_insert_with(|| {
            let sink = Sink::new(Arc::clone(&self.events), tid.clone());
            Arc::new(Tenant::new(
                Arc::clone(&self.fleet),
                Arc::clone(&self.alerts),
                self.options,
                Some(sink),
            ))
        });
        Arc::clone(&t)
    }

    /// The tenant `tid` to read from, never stored: an unknown tenant reads as a fresh copy of
    /// the fleet that is dropped afterwards, so control-plane reads allocate no tenant.
    pub(crate) fn peek(&self, tid: &TenantId) -> Arc<Tenant> {
        match self.tenants.get(tid) {
            Some(t) => Arc::clone(&t),
            None => Arc::new(Tenant::new(
                Arc::clone(&self.fleet),
                Arc::clone(&self.alerts),
                self.options,
                None,
            )),
        }
    }

    /// How many tenants hold state.
    #[cfg(test)]
    pub(crate) fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// How many machines the fixture fleet has.
    pub(crate) fn fleet_len(&self) -> usize {
        self.fleet.len()
    }

    /// Makes every transition due by `now` in every tenant (after the clock moved).
    pub(crate) fn settle_all(&self, now: time::OffsetDateTime) {
        let tenants: Vec<Arc<Tenant>> =
            self.tenants.iter().map(|t| Arc::clone(t.value())).collect();
        for t in tenants {
            t.settle(now);
        }
    }

    /// Forgets a tenant's state at emulator time `now`; its next request starts again from the
    /// fleet. True if it existed.
    pub(crate) fn reset(&self, tid: &TenantId, now: Timestamp) -> bool {
        let existed = self.tenants.remove(tid).is_some();
        if existed {
            self.events.publish(tid, now, || Change::TenantReset);
        }
        existed
    }

    /// Every tenant's state, for the state file.
    pub(crate) fn snapshot(&self) -> Vec<(TenantId, TenantSections)> {
        let tenants: Vec<(TenantId, Arc<Tenant>)> = self
            .tenants
            .iter()
            .map(|t| (t.key().clone(), Arc::clone(t.value())))
            .collect();
        let mut out: Vec<_> = tenants
            .into_iter()
            .map(|(tid, t)| {
                let sections = TenantSections {
                    machines: t.snapshot(&self.fleet),
                    alerts: t.alerts().snapshot(&tid),
                    indicators: t.indicators.snapshot(),
                    investigations: t.investigations.snapshot(),
                };
                (tid, sections)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Puts tenants back from a state file (replacing any of the same id), or says which one is
    /// inconsistent and why (nothing is changed then).
    pub(crate) fn restore(&self, tenants: Vec<(TenantId, TenantSections)>) -> Result<(), String> {
        let mut built = Vec::with_capacity(tenants.len());
        for (tid, sections) in tenants {
            let sink = Sink::new(Arc::clone(&self.events), tid.clone());
            let within = |e: String| format!("tenant {tid}: {e}");
            let t = Tenant::restore(
                sections.machines,
                &self.fleet,
                &self.alerts,
                self.options,
                Some(sink),
            )
            .map_err(within)?;
            if let Some(a) = sections.alerts {
                t.alerts().restore(a).map_err(within)?;
            }
            if let Some(i) = sections.indicators {
                t.indicators.restore(i).map_err(within)?;
            }
            if let Some(i) = sections.investigations {
                t.investigations.restore(i).map_err(within)?;
            }
            built.push((tid, Arc::new(t)));
        }
        for (tid, t) in built {
            self.tenants.insert(tid, t);
        }
        Ok(())
    }

    /// Forgets every tenant's state at emulator time `now`.
    pub(crate) fn reset_all(&self, now: Timestamp) {
        let tids: Vec<TenantId> = self.tenants.iter().map(|t| t.key().clone()).collect();
        for tid in tids {
            self.reset(&tid, now);
        }
    }
}
