//! A tenant's machines: resolving an id, computer name or `aadDeviceId`, reading them (the wire
//! entity, a filtered page, and the emulator-side view), and changing a machine's behaviour.

use serde::Serialize;

use super::*;
use crate::odata::{self, Page, Query};

/// The emulator-side view of a machine, for `GET /_mock/machines/{id}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MachineView {
    pub machine: Arc<Machine>,
    pub isolated: bool,
    pub isolation_scope: Option<IsolationType>,
    pub app_execution_restricted: bool,
    pub simulation: Simulation,
    pub next_outcome: Option<Outcome>,
    pub in_flight_actions: Vec<Uuid>,
}

impl Tenant {
    /// The key of the machine `id_or_name` names: its id (any case), else its computer name (full
    /// DNS name or first label, any case; the most recently seen one when several match), else
    /// its `aadDeviceId`. Each is an index lookup.
    pub(crate) fn resolve(
        &self,
        id_or_name: &str,
        vis: &Visibility,
    ) -> Result<MachineKey, ApiError> {
        // Ids, names and device groups change only by seeding, which changes the tenant's fleet.
        let state = self.read();
        let fleet = &state.fleet;
        let not_found = || ApiError::machine_not_found(id_or_name);
        let sees = |key: &MachineKey| vis.sees(&fleet.at(*key).machine);
        if let Some(key) = fleet.by_id(id_or_name) {
            return Some(key).filter(sees).ok_or_else(not_found);
        }
        let named = fleet
            .by_name(id_or_name)
            .iter()
            .filter(|k| sees(k))
            .max_by_key(|k| fleet.at(**k).machine.last_seen);
        if let Some(key) = named {
            return Ok(*key);
        }
        fleet
            .by_aad_device_id(id_or_name)
            .filter(sees)
            .ok_or_else(not_found)
    }

    /// The machine `key` as of `now`.
    pub(crate) fn machine(&self, key: MachineKey, now: OffsetDateTime) -> Arc<Machine> {
        let state = self.read_settled(now);
        Arc::clone(self.machine_in(&state, key))
    }

    /// One page of the machines the caller sees, as of `now`, in fleet id order before `$orderby`.
    pub(crate) fn machines(
        &self,
        vis: &Visibility,
        q: &Query<Machine>,
        page_size: usize,
        now: OffsetDateTime,
    ) -> Page<Arc<Machine>> {
        let state = self.read_settled(now);
        let rows = state
            .fleet
            .iter()
            .map(|(key, _)| self.machine_in(&state, key))
            .filter(|m| vis.sees(m));
        odata::select(q, rows, page_size).map(Arc::clone)
    }

    /// The emulator-side view of machine `key` as of `now`.
    pub(crate) fn view(&self, key: MachineKey, now: OffsetDateTime) -> MachineView {
        let state = self.read_settled(now);
        let seed;
        let m = match state.machines.get(&key) {
            Some(m) => m,
            None => {
                // Untouched: the fleet's machine with the server-wide simulation defaults applied.
                seed = MachineState::seed(state.fleet.at(key), self.options.simulation);
                &seed
            }
        };
        let mut in_flight: Vec<Seq> = m.in_flight.keys().copied().collect();
        in_flight.sort_unstable();
        MachineView {
            machine: Arc::clone(&m.machine),
            isolated: m.isolation.is_some(),
            isolation_scope: m.isolation,
            app_execution_restricted: m.restricted,
            simulation: m.simulation,
            next_outcome: m.next_outcome,
            in_flight_actions: in_flight
                .iter()
                .filter_map(|s| state.actions.get(*s as usize))
                .map(|slot| slot.wire.id)
                .collect(),
        }
    }

    /// Changes machine `key`'s device behaviour. Actions not yet picked up are re-planned: a
    /// device coming online picks them up after its pickup delay from `now`; one going offline
    /// leaves them to time out three days after their creation.
    pub(crate) fn set_simulation(
        &self,
        key: MachineKey,
        change: super::super::SimulationOverride,
        next_outcome: Option<Outcome>,
        now: OffsetDateTime,
    ) -> MachineView {
        {
            let mut guard = self.write_settled(now);
            let state = &mut *guard;
            let m = self.own(&state.fleet, &mut state.machines, key);
            m.simulation = change.apply(m.simulation);
            if next_outcome.is_some() {
                m.next_outcome = next_outcome;
            }
            let sim = m.simulation;
            let mut replanned = Vec::new();
            for (seq, plan) in &mut m.in_flight {
                let Some(slot) = state.actions.get(*seq as usize) else {
                    continue;
                };
                if slot.wire.status == ActionStatus::Pending {
                    let created = slot.wire.creation_date_time_utc.0;
                    *plan = Plan::new(if sim.online { now } else { created }, &sim);
                    replanned.push((*seq, *plan));
                }
            }
            for (seq, plan) in replanned {
                state.schedule(seq, &plan, ActionStatus::Pending);
            }
        }
        self.view(key, now)
    }
}
