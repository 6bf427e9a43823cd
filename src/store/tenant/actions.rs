//! A tenant's machine actions: submitting one (checks, duplicate policy, creation), cancelling,
//! reading and listing them, and what a succeeded action changes on its machine.

use super::*;
use crate::{
    model::{Cancellation, RelatedFileInfo},
    odata::{self, Page, Query},
};

impl Tenant {
    /// One page of the actions on machines the caller sees, as of `now`, in creation order
    /// before `$orderby`.
    pub(crate) fn actions(
        &self,
        vis: &Visibility,
        q: &Query<MachineAction>,
        page_size: usize,
        now: OffsetDateTime,
    ) -> Page<MachineAction> {
        let state = self.read_settled(now);
        // `machineId eq '...'` (alone or and-ed): only that machine's actions can match.
        let one_machine = q
            .filter
            .as_ref()
            .and_then(|e| e.required_eq("machineId"))
            .map(|id| {
                state
                    .fleet
                    .by_id(id)
                    .and_then(|key| state.machines.get(&key))
            });
        let page = match one_machine {
            Some(machine) => {
                let seqs = machine.map_or(&[][..], |m| &m.history);
                let rows = seqs
                    .iter()
                    .filter_map(|s| state.actions.get(*s as usize))
                    .map(|slot| &slot.wire)
                    .filter(|a| vis.sees(&a.machine));
                odata::select(q, rows, page_size)
            }
            None => {
                let rows = state
                    .actions
                    .iter()
                    .map(|slot| &slot.wire)
                    .filter(|a| vis.sees(&a.machine));
                odata::select(q, rows, page_size)
            }
        };
        page.map(MachineAction::clone)
    }

    /// Cancels action `id` (spec §5.3): 404 if unknown or invisible, 400 if already terminal.
    pub(crate) fn cancel(
        &self,
        id: Uuid,
        vis: &Visibility,
        requestor: &str,
        comment: Option<String>,
        now: OffsetDateTime,
    ) -> Result<MachineAction, ApiError> {
        let not_found = || ApiError::action_not_found(&id.to_string());
        let mut guard = self.write_settled(now);
        let state = &mut *guard;
        let seq = *state.by_id.get(&id).ok_or_else(not_found)?;
        let requestor = state.share(requestor);
        let slot = state.actions.get_mut(seq as usize).ok_or_else(not_found)?;
        if !vis.sees(&slot.wire.machine) {
            return Err(not_found());
        }
        let a = &mut slot.wire;
        if a.status.is_terminal() {
            return Err(ApiError::bad_request(
                Code::BadRequest,
                format!(
                    "Machine action {id} cannot be cancelled: it is already in a final state ({:?}).",
                    a.status
                ),
            ));
        }
        let ts = Timestamp(now);
        a.status = ActionStatus::Cancelled;
        a.last_update_date_time_utc = ts;
        a.cancellation = Some(Box::new(Cancellation {
            requestor,
            comment: comment.map(String::into_boxed_str),
            at: ts,
        }));
        let wire = a.clone();
        if let Some(m) = state.machines.get_mut(&slot.machine) {
            m.land(seq, &group_of(&wire));
        }
        if let Some(sink) = &state.sink {
            sink.publish(ts, || Change::ActionUpdated(action_event(&wire)));
        }
        Ok(wire)
    }

    /// Creates an action on machine `key`, atomically with the duplicate check: the tenant's
    /// state stays locked from the checks to the insert.
    pub(crate) fn submit(
        &self,
        key: MachineKey,
        new: NewAction,
        now: OffsetDateTime,
    ) -> Result<Submitted, ApiError> {
        let policy = self.duplicate_policy();
        let mut guard = self.write_settled(now);
        let state = &mut *guard;
        let requestor = state.share(&new.requestor);
        let comment = state.share(&new.comment);
        let seq = Seq::try_from(state.actions.len()).map_err(|_| {
            ApiError::bad_request(
                Code::BadRequest,
                "This tenant holds too many machine actions.",
            )
        })?;
        let m = self.own(&state.fleet, &mut state.machines, key);
        let kind = new.action_type;
        check_sensor(m, kind)?;
        rules::check_supported(&m.machine, kind, new.scope)?;
        let group = rules::conflict_group(kind, new.sha1.as_deref());
        if let Some(existing) = m.oldest_in(&group) {
            match policy {
                DuplicatePolicy::Reject => {
                    return Err(ApiError::bad_request(
                        Code::ActiveRequestAlreadyExists,
                        "Action is already in progress",
                    ))
                }
                DuplicatePolicy::ReturnExisting => {
                    let wire = state.actions.get(existing as usize).map(|s| s.wire.clone());
                    if let Some(wire) = wire {
                        return Ok(Submitted::Existing(wire));
                    }
                }
                DuplicatePolicy::Allow => {}
            }
        }
        if self.options.strict_state {
            check_state(m, kind)?;
        }
        let mut sim = m.simulation;
        if let Some(outcome) = m.next_outcome.take() {
            sim.outcome = outcome;
        }
        let plan = Plan::new(now, &sim);
        let wire = pending(&m.machine, new, (requestor, comment), now);
        m.groups.entry(group).or_default().insert(seq);
        m.in_flight.insert(seq, plan);
        m.history.push(seq);
        state.by_id.insert(wire.id, seq);
        state.actions.push(Slot {
            wire: wire.clone(),
            machine: key,
        });
        state.schedule(seq, &plan, ActionStatus::Pending);
        if let Some(sink) = &state.sink {
            sink.publish(Timestamp(now), || {
                Change::ActionCreated(action_event(&wire))
            });
        }
        Ok(Submitted::Created(wire))
    }

    /// The action `id` as of `now`, if the caller sees its machine.
    pub(crate) fn action(
        &self,
        id: Uuid,
        vis: &Visibility,
        now: OffsetDateTime,
    ) -> Option<MachineAction> {
        let state = self.read_settled(now);
        let seq = *state.by_id.get(&id)?;
        state
            .actions
            .get(seq as usize)
            .map(|slot| &slot.wire)
            .filter(|a| vis.sees(&a.machine))
            .cloned()
    }
}

/// `--strict-state`: refuse an action that would not change the machine's state.
fn check_state(m: &MachineState, kind: ActionType) -> Result<(), ApiError> {
    let id = &m.machine.id;
    let problem = match kind {
        ActionType::Isolate if m.isolation.is_some() => format!("Machine {id} is already isolated"),
        ActionType::Unisolate if m.isolation.is_none() => format!("Machine {id} is not isolated"),
        ActionType::RestrictCodeExecution if m.restricted => {
            format!("Machine {id} is already restricted")
        }
        ActionType::UnrestrictCodeExecution if !m.restricted => {
            format!("Machine {id} is not restricted")
        }
        _ => return Ok(()),
    };
    Err(ApiError::bad_request(Code::BadRequest, problem))
}

/// What a succeeded action changes on its machine; true if it is a kind that changes one.
pub(super) fn apply_effect(m: &mut MachineState, kind: ActionType, scope: Option<Scope>) -> bool {
    match kind {
        ActionType::Isolate => {
            m.isolation = Some(match scope {
                Some(Scope::Isolation(t)) => t,
                _ => IsolationType::Full,
            })
        }
        ActionType::Unisolate => m.isolation = None,
        ActionType::RestrictCodeExecution => m.restricted = true,
        ActionType::UnrestrictCodeExecution => m.restricted = false,
        ActionType::Offboard => {
            let machine = Arc::make_mut(&mut m.machine);
            machine.onboarding_status = OnboardingStatus::Offboarded;
            machine.health_status = HealthStatus::Inactive;
        }
        _ => return false,
    }
    true
}

/// 400 `ClientVersionNotSupported` when the machine's sensor is marked too old.
fn check_sensor(m: &MachineState, kind: ActionType) -> Result<(), ApiError> {
    if !m.simulation.sensor_outdated {
        return Ok(());
    }
    Err(ApiError::bad_request(
        Code::ClientVersionNotSupported,
        format!(
            "{} is supported on client version 10.8295 and above.",
            kind.as_str()
        ),
    ))
}

/// A new `Pending` action on `machine` (spec §4.1).
fn pending(
    machine: &Arc<Machine>,
    new: NewAction,
    (requestor, comment): (Arc<str>, Arc<str>),
    now: OffsetDateTime,
) -> MachineAction {
    let ts = Timestamp(now);
    MachineAction {
        id: Uuid::new_v4(),
        action_type: new.action_type,
        status: ActionStatus::Pending,
        scope: new.scope,
        machine: Arc::clone(machine),
        requestor,
        requestor_comment: comment,
        creation_date_time_utc: ts,
        last_update_date_time_utc: ts,
        cancellation: None,
        related_file_info: new.sha1.map(|h| RelatedFileInfo { sha1: h.into() }),
    }
}
