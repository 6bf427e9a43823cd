//! Seeding a tenant's machines through the control plane: creating or replacing machines,
//! removing one, and replacing the whole fleet. The first seed gives the tenant its own copy of
//! the fleet (copy-on-write); keys stay valid for every action already recorded.

use super::*;

/// What a seed did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Seeded {
    pub created: usize,
    pub replaced: usize,
}

impl Tenant {
    /// Creates or replaces `machines` (validated by the caller) as of `now`. A replaced machine
    /// keeps its key and its actions; its emulator-only state (isolation, restriction,
    /// simulation) becomes the one given.
    pub(crate) fn seed(
        &self,
        machines: Vec<FleetMachine>,
        now: OffsetDateTime,
    ) -> Result<Seeded, ApiError> {
        let mut guard = self.write_settled(now);
        let state = &mut *guard;
        let wanted = machines.len();
        let fleet = Arc::make_mut(&mut state.fleet);
        let done = fleet.upsert(machines);
        if done.len() < wanted {
            return Err(ApiError::bad_request(
                Code::BadRequest,
                "This tenant holds too many machines.",
            ));
        }
        let defaults = self.options.simulation;
        let mut seeded = Seeded::default();
        for (key, created) in &done {
            let f = state.fleet.at(*key);
            if let Some(m) = state.machines.get_mut(key) {
                // Actions in flight keep going; the machine and its state are the new ones.
                m.machine = Arc::clone(&f.machine);
                m.isolation = f.isolation;
                m.restricted = f.restricted;
                m.simulation = f.simulation.apply(defaults);
            }
            if *created {
                seeded.created += 1;
            } else {
                seeded.replaced += 1;
            }
            if let Some(sink) = &state.sink {
                sink.publish(Timestamp(now), || Change::MachineSeeded {
                    machine_id: (&*f.machine.id).into(),
                    removed: false,
                });
            }
        }
        Ok(seeded)
    }

    /// The key of the live machine with id `id` (any case), by id only.
    pub(crate) fn resolve_id(&self, id: &str) -> Option<MachineKey> {
        self.read().fleet.by_id(id)
    }

    /// Removes the machine with id `id` (any case) as of `now`: 404 when there is none. Its
    /// actions stay readable, and those in flight run to their end.
    pub(crate) fn remove(&self, id: &str, now: OffsetDateTime) -> Result<(), ApiError> {
        let mut guard = self.write_settled(now);
        let state = &mut *guard;
        let key = state
            .fleet
            .by_id(id)
            .ok_or_else(|| ApiError::machine_not_found(id))?;
        let machine_id: Arc<str> = (&*state.fleet.at(key).machine.id).into();
        Arc::make_mut(&mut state.fleet).remove(key);
        if let Some(sink) = &state.sink {
            sink.publish(Timestamp(now), || Change::MachineSeeded {
                machine_id,
                removed: true,
            });
        }
        Ok(())
    }

    /// Replaces every machine of this tenant with `machines` as of `now`; how many it now has.
    /// A tenant without actions simply gets a new fleet; otherwise the old machines become
    /// tombstones, so the actions recorded on them still read.
    pub(crate) fn replace_machines(
        &self,
        machines: Vec<FleetMachine>,
        now: OffsetDateTime,
    ) -> usize {
        let mut guard = self.write_settled(now);
        let state = &mut *guard;
        let count = if state.actions.is_empty() {
            state.machines.clear();
            let fleet = Fleet::of(machines);
            let n = fleet.len();
            state.fleet = Arc::new(fleet);
            n
        } else {
            Arc::make_mut(&mut state.fleet).replace_all(machines)
        };
        if let Some(sink) = &state.sink {
            sink.publish(Timestamp(now), || Change::MachineSeeded {
                machine_id: "*".into(),
                removed: false,
            });
        }
        count
    }
}
