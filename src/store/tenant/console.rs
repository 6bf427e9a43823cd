//! The console's summary of one tenant's fleet, read under one lock: the device groups and OS
//! platforms to filter by, and the machines that are not plain (isolated, restricted, or with
//! actions in flight), so a page of 10,000 machines can show its state badges without one
//! request per row.

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;

/// A tenant's fleet as the console's filters and badges need it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FleetSummary {
    /// Every machine of the fleet.
    pub total: usize,
    /// Device groups, by id.
    pub groups: Vec<Group>,
    /// OS platforms, sorted.
    pub os_platforms: Vec<Arc<str>>,
    /// The machines isolated, restricted or with actions in flight, in fleet id order.
    pub flagged: Vec<Flagged>,
}

/// A device group.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Group {
    pub id: i64,
    pub name: Option<Arc<str>>,
}

/// A machine that is not plain, with the row the fleet view shows for it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Flagged {
    pub machine: Arc<Machine>,
    pub isolation: Option<IsolationType>,
    pub restricted: bool,
    pub in_flight: Vec<InFlight>,
}

/// An action not yet terminal.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InFlight {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub action_type: ActionType,
    pub status: ActionStatus,
}

impl Tenant {
    /// The summary of this tenant's fleet as of `now`.
    pub(crate) fn summary(&self, now: OffsetDateTime) -> FleetSummary {
        let state = self.read_settled(now);
        let mut groups = BTreeMap::new();
        let mut os = BTreeMap::new();
        let mut flagged = Vec::new();
        let mut total = 0;
        for (key, f) in state.fleet.iter() {
            total += 1;
            let m = self.machine_in(&state, key);
            groups
                .entry(m.rbac_group_id)
                .or_insert_with(|| m.rbac_group_name.clone());
            os.entry(m.os_platform.clone()).or_insert(());
            let (isolation, restricted, in_flight) = match state.machines.get(&key) {
                Some(s) => {
                    let mut seqs: Vec<Seq> = s.in_flight.keys().copied().collect();
                    seqs.sort_unstable();
                    let actions = seqs
                        .iter()
                        .filter_map(|seq| state.actions.get(*seq as usize))
                        .map(|slot| InFlight {
                            id: slot.wire.id,
                            action_type: slot.wire.action_type,
                            status: slot.wire.status,
                        })
                        .collect();
                    (s.isolation, s.restricted, actions)
                }
                None => (f.isolation, f.restricted, Vec::new()),
            };
            if isolation.is_some() || restricted || !in_flight.is_empty() {
                flagged.push(Flagged {
                    machine: Arc::clone(m),
                    isolation,
                    restricted,
                    in_flight,
                });
            }
        }
        FleetSummary {
            total,
            groups: groups
                .into_iter()
                .map(|(id, name)| Group { id, name })
                .collect(),
            os_platforms: os.into_keys().collect(),
            flagged,
        }
    }
}
