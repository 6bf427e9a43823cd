//! One tenant's state as a serde value (for `--state-file`), and the tenant rebuilt from one.
//! What is derived (indexes, conflict groups, histories, the schedule) is not written: it is
//! rebuilt on load from the actions and the in-flight plans.

use serde::{Deserialize, Serialize};

use super::*;
use crate::{
    model::{Cancellation, LogonUser, RelatedFileInfo, ScanType},
    store::{
        alerts::{FixtureAlerts, TenantAlerts},
        SimulationOverride,
    },
};

/// A tenant's state, written as one section of the state file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TenantSnapshot {
    /// The tenant's own fleet, when it seeded machines (else it reads the fixtures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fleet: Option<FleetSnapshot>,
    /// The machines it changed or acted on.
    machines: Vec<MachineSnapshot>,
    /// Every action, in creation order.
    actions: Vec<ActionSnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duplicate_policy: Option<DuplicatePolicy>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FleetSnapshot {
    /// Every machine in key order, tombstones included.
    machines: Vec<FleetEntry>,
    /// The keys that are not tombstones.
    live: Vec<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FleetEntry {
    machine: Machine,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    isolation: Option<IsolationType>,
    #[serde(default)]
    restricted: bool,
    #[serde(default)]
    simulation: SimulationOverride,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    logon_users: Box<[LogonUser]>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MachineSnapshot {
    key: u32,
    machine: Machine,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    isolation: Option<IsolationType>,
    restricted: bool,
    simulation: Simulation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_outcome: Option<Outcome>,
    /// In-flight actions (by creation index) and their plans.
    in_flight: Vec<InFlight>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InFlight {
    seq: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pickup_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_status: Option<ActionStatus>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ActionSnapshot {
    machine: u32,
    id: Uuid,
    #[serde(rename = "type")]
    action_type: ActionType,
    status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    requestor: String,
    comment: String,
    created: Timestamp,
    updated: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancelled_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancel_comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancelled_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha1: Option<String>,
}

impl Tenant {
    /// This tenant's state as a snapshot; `shared` is the store's fixture fleet (a tenant still
    /// reading it writes no fleet).
    pub(crate) fn snapshot(&self, shared: &Arc<Fleet>) -> TenantSnapshot {
        let state = self.read();
        let fleet = (!Arc::ptr_eq(&state.fleet, shared)).then(|| FleetSnapshot {
            machines: state
                .fleet
                .all()
                .iter()
                .map(|f| FleetEntry {
                    machine: (*f.machine).clone(),
                    isolation: f.isolation,
                    restricted: f.restricted,
                    simulation: f.simulation,
                    logon_users: f.logon_users.clone(),
                })
                .collect(),
            live: state.fleet.live().iter().map(|k| k.index()).collect(),
        });
        let mut machines: Vec<MachineSnapshot> = state
            .machines
            .iter()
            .map(|(key, m)| {
                let mut in_flight: Vec<InFlight> = m
                    .in_flight
                    .iter()
                    .map(|(seq, plan)| {
                        let (pickup_at, end_at, end_status) = plan.to_record();
                        InFlight {
                            seq: *seq,
                            pickup_at,
                            end_at,
                            end_status,
                        }
                    })
                    .collect();
                in_flight.sort_by_key(|f| f.seq);
                MachineSnapshot {
                    key: key.index(),
                    machine: (*m.machine).clone(),
                    isolation: m.isolation,
                    restricted: m.restricted,
                    simulation: m.simulation,
                    next_outcome: m.next_outcome,
                    in_flight,
                }
            })
            .collect();
        machines.sort_by_key(|m| m.key);
        let actions = state
            .actions
            .iter()
            .map(|slot| {
                let a = &slot.wire;
                ActionSnapshot {
                    machine: slot.machine.index(),
                    id: a.id,
                    action_type: a.action_type,
                    status: a.status,
                    scope: a.scope.map(|s| s.as_str().to_owned()),
                    requestor: a.requestor.to_string(),
                    comment: a.requestor_comment.to_string(),
                    created: a.creation_date_time_utc,
                    updated: a.last_update_date_time_utc,
                    cancelled_by: a.cancellation.as_ref().map(|c| c.requestor.to_string()),
                    cancel_comment: a
                        .cancellation
                        .as_ref()
                        .and_then(|c| c.comment.as_deref().map(str::to_owned)),
                    cancelled_at: a.cancellation.as_ref().map(|c| c.at),
                    sha1: a.related_file_info.as_ref().map(|f| f.sha1.to_string()),
                }
            })
            .collect();
        drop(state);
        TenantSnapshot {
            fleet,
            machines,
            actions,
            duplicate_policy: *self
                .policy_override
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// A tenant rebuilt from `snap` over the store's `shared` fleet, or why the snapshot is
    /// inconsistent.
    pub(crate) fn restore(
        snap: TenantSnapshot,
        shared: &Arc<Fleet>,
        alerts: &Arc<FixtureAlerts>,
        options: StoreOptions,
        sink: Option<Sink>,
    ) -> Result<Self, String> {
        let fleet = match snap.fleet {
            None => Arc::clone(shared),
            Some(f) => {
                let machines = f
                    .machines
                    .into_iter()
                    .map(|e| FleetMachine {
                        machine: Arc::new(e.machine),
                        isolation: e.isolation,
                        restricted: e.restricted,
                        simulation: e.simulation,
                        logon_users: e.logon_users,
                    })
                    .collect();
                Arc::new(Fleet::restore(machines, f.live).ok_or("a fleet key is out of range")?)
            }
        };
        let key_of = |k: u32| -> Result<MachineKey, String> {
            let key = MachineKey::from_index(k);
            if (k as usize) < fleet.all().len() {
                Ok(key)
            } else {
                Err(format!("machine key {k} is out of range"))
            }
        };
        let mut state = State {
            fleet: Arc::clone(&fleet),
            sink: sink.clone(),
            ..State::default()
        };
        for m in snap.machines {
            let key = key_of(m.key)?;
            if fleet.at(key).machine.id != m.machine.id {
                return Err(format!(
                    "machine {} is not at its place in the fleet: the file was written over \
                     other fixtures",
                    m.machine.id
                ));
            }
            let mut ms = MachineState::seed(fleet.at(key), options.simulation);
            ms.machine = Arc::new(m.machine);
            ms.isolation = m.isolation;
            ms.restricted = m.restricted;
            ms.simulation = m.simulation;
            ms.next_outcome = m.next_outcome;
            for f in m.in_flight {
                let plan = Plan::from_record(f.pickup_at, f.end_at, f.end_status)
                    .ok_or_else(|| format!("action #{}: a plan end without a status", f.seq))?;
                ms.in_flight.insert(f.seq, plan);
            }
            state.machines.insert(key, ms);
        }
        for (i, a) in snap.actions.into_iter().enumerate() {
            let seq = Seq::try_from(i).map_err(|_| "too many actions".to_owned())?;
            let key = key_of(a.machine)?;
            let scope = match (a.action_type, a.scope.as_deref()) {
                (_, None) => None,
                (ActionType::RunAntiVirusScan, Some(s)) => Some(Scope::Scan(
                    s.parse::<ScanType>()
                        .map_err(|_| format!("bad scan type {s:?}"))?,
                )),
                (_, Some(s)) => Some(Scope::Isolation(
                    s.parse::<IsolationType>()
                        .map_err(|_| format!("bad isolation type {s:?}"))?,
                )),
            };
            let requestor = state.share(&a.requestor);
            let comment = state.share(&a.comment);
            let cancellation = match (a.cancelled_by, a.cancelled_at) {
                (Some(by), Some(at)) => Some(Box::new(Cancellation {
                    requestor: by.into(),
                    comment: a.cancel_comment.map(Into::into),
                    at,
                })),
                _ => None,
            };
            let machine = state.machines.get(&key).map_or_else(
                || Arc::clone(&fleet.at(key).machine),
                |m| Arc::clone(&m.machine),
            );
            let wire = MachineAction {
                id: a.id,
                action_type: a.action_type,
                status: a.status,
                scope,
                machine,
                requestor,
                requestor_comment: comment,
                creation_date_time_utc: a.created,
                last_update_date_time_utc: a.updated,
                cancellation,
                related_file_info: a.sha1.map(|h| RelatedFileInfo { sha1: h.into() }),
            };
            if state.by_id.insert(wire.id, seq).is_some() {
                return Err(format!("action {} appears twice", wire.id));
            }
            let group = group_of(&wire);
            let status = wire.status;
            let ms = state
                .machines
                .entry(key)
                .or_insert_with(|| MachineState::seed(fleet.at(key), options.simulation));
            ms.history.push(seq);
            if let Some(plan) = ms.in_flight.get(&seq).copied() {
                ms.groups.entry(group).or_default().insert(seq);
                if let Some((t, _)) = plan.next(status) {
                    state.schedule.push(Reverse((t, seq)));
                }
            }
            state.actions.push(Slot { wire, machine: key });
        }
        // An in-flight entry must name a stored action.
        let n = state.actions.len();
        if state
            .machines
            .values()
            .any(|m| m.in_flight.keys().any(|s| *s as usize >= n))
        {
            return Err("an in-flight action is not among the actions".into());
        }
        Ok(Self {
            indicators: Indicators::new(Arc::clone(shared), sink.clone()),
            investigations: Investigations::new(sink.clone()),
            alerts: TenantAlerts::new(Arc::clone(shared), Arc::clone(alerts), sink.clone()),
            options,
            policy_override: Mutex::new(snap.duplicate_policy),
            state: RwLock::new(state),
        })
    }
}
