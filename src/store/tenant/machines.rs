//! A tenant's machines: resolving an id or computer name, reading them (the wire entity and the
//! emulator-side view), and changing a machine's device behaviour.

use serde::Serialize;

use super::*;

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

impl Tenant {
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
