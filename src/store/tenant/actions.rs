//! A tenant's machine actions: submitting one (checks, duplicate policy, creation), cancelling,
//! reading and listing them, and what a succeeded action changes on its machine.

use super::*;

impl Tenant {
    /// Every action on machines the caller sees, as of `now`, in creation order.
    pub(crate) fn actions(&self, vis: &Visibility, now: OffsetDateTime) -> Vec<MachineAction> {
        // Actions exist only on machines this tenant has its own copy of.
        let keys: Vec<MachineId> = self.machines.iter().map(|e| e.key().clone()).collect();
        let mut visible = std::collections::HashSet::new();
        for k in &keys {
            if let Some(mut m) = self.machines.get_mut(k) {
                settle(&mut m, &self.actions, now);
                if vis.sees(&m.machine) {
                    visible.insert(k.clone());
                }
            }
        }
        let mut rows: Vec<(u64, MachineAction)> = self
            .actions
            .iter()
            .filter(|a| visible.contains(a.wire.machine_id.as_str()))
            .map(|a| (a.seq, a.wire.clone()))
            .collect();
        rows.sort_by_key(|(seq, _)| *seq);
        rows.into_iter().map(|(_, a)| a).collect()
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
        let machine_id = self
            .actions
            .get(&id)
            .ok_or_else(not_found)?
            .wire
            .machine_id
            .clone();
        let mut m = self
            .machines
            .get_mut(machine_id.as_str())
            .ok_or_else(not_found)?;
        settle(&mut m, &self.actions, now);
        if !vis.sees(&m.machine) {
            return Err(not_found());
        }
        let mut a = self.actions.get_mut(&id).ok_or_else(not_found)?;
        if a.wire.status.is_terminal() {
            return Err(ApiError::bad_request(
                Code::BadRequest,
                format!(
                    "Machine action {id} cannot be cancelled: it is already in a final state ({:?}).",
                    a.wire.status
                ),
            ));
        }
        let ts = Timestamp(now);
        a.wire.status = ActionStatus::Cancelled;
        a.wire.last_update_date_time_utc = ts;
        a.wire.cancellation_requestor = Some(requestor.to_owned());
        a.wire.cancellation_comment = comment;
        a.wire.cancellation_date_time_utc = Some(ts);
        let wire = a.wire.clone();
        drop(a);
        m.in_flight.retain(|x| *x != id);
        Ok(wire)
    }

    /// Creates an action on machine `key`, atomically with the duplicate check: the machine's
    /// entry stays locked from the checks to the insert.
    pub(crate) fn submit(
        &self,
        key: &MachineId,
        new: NewAction,
        now: OffsetDateTime,
    ) -> Result<Submitted, ApiError> {
        let mut m = self
            .own(key, now)
            .ok_or_else(|| ApiError::machine_not_found(key.as_str()))?;
        let kind = new.action_type;
        check_sensor(&m, kind)?;
        rules::check_supported(&m.machine, kind, new.scope)?;
        let group = rules::conflict_group(kind, new.sha1.as_deref());
        if let Some(existing) = self.duplicate_of(&m, &group)? {
            return Ok(Submitted::Existing(existing));
        }
        if self.options.strict_state {
            check_state(&m, kind)?;
        }
        let wire = pending(&m.machine, new, now);
        let mut sim = m.simulation;
        if let Some(outcome) = m.next_outcome.take() {
            sim.outcome = outcome;
        }
        let record = ActionRecord {
            wire: wire.clone(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            plan: Plan::new(now, &sim),
            group,
        };
        self.actions.insert(wire.id, record);
        m.in_flight.push(wire.id);
        Ok(Submitted::Created(wire))
    }

    /// An in-flight action of `group` on `m`, as the duplicate policy treats it: `Err` (reject),
    /// `Some` (return the existing one) or `None` (none in flight, or allowed).
    fn duplicate_of(
        &self,
        m: &MachineState,
        group: &ConflictGroup,
    ) -> Result<Option<MachineAction>, ApiError> {
        let in_flight = m.in_flight.iter().find_map(|id| {
            self.actions
                .get(id)
                .filter(|a| a.group == *group)
                .map(|a| a.wire.clone())
        });
        let Some(existing) = in_flight else {
            return Ok(None);
        };
        match self.duplicate_policy() {
            DuplicatePolicy::Reject => Err(ApiError::bad_request(
                Code::ActiveRequestAlreadyExists,
                "Action is already in progress",
            )),
            DuplicatePolicy::ReturnExisting => Ok(Some(existing)),
            DuplicatePolicy::Allow => Ok(None),
        }
    }

    /// The action `id` as of `now`, if the caller sees its machine.
    pub(crate) fn action(
        &self,
        id: Uuid,
        vis: &Visibility,
        now: OffsetDateTime,
    ) -> Option<MachineAction> {
        let machine_id = self.actions.get(&id)?.wire.machine_id.clone();
        // The action guard is dropped above: settling takes the machine entry first (lock order).
        let visible = {
            let mut m = self.machines.get_mut(machine_id.as_str())?;
            settle(&mut m, &self.actions, now);
            vis.sees(&m.machine)
        };
        if !visible {
            return None;
        }
        self.actions.get(&id).map(|a| a.wire.clone())
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

/// What a succeeded action changes on its machine.
pub(super) fn apply_effect(m: &mut MachineState, kind: ActionType, scope: Option<Scope>) {
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
            m.machine.onboarding_status = OnboardingStatus::Offboarded;
            m.machine.health_status = HealthStatus::Inactive;
        }
        _ => {}
    }
}

/// 400 `ClientVersionNotSupported` when the machine's sensor is marked too old.
fn check_sensor(m: &MachineState, kind: ActionType) -> Result<(), ApiError> {
    if !m.simulation.sensor_outdated {
        return Ok(());
    }
    Err(ApiError::bad_request(
        Code::ClientVersionNotSupported,
        format!(
            "{} is supported on client version 10.8295 and above",
            kind.as_str()
        ),
    ))
}

/// A new `Pending` action on `machine`, with the wire's fixed values (spec §4.1).
fn pending(machine: &Machine, new: NewAction, now: OffsetDateTime) -> MachineAction {
    let ts = Timestamp(now);
    MachineAction {
        id: Uuid::new_v4(),
        action_type: new.action_type,
        title: None,
        requestor: new.requestor,
        requestor_comment: new.comment,
        status: ActionStatus::Pending,
        machine_id: machine.id.clone(),
        computer_dns_name: machine.computer_dns_name.clone(),
        creation_date_time_utc: ts,
        last_update_date_time_utc: ts,
        cancellation_requestor: None,
        cancellation_comment: None,
        cancellation_date_time_utc: None,
        error_h_result: 0,
        scope: new.scope,
        external_id: None,
        request_source: "PublicApi".to_owned(),
        related_file_info: new.sha1.map(|h| RelatedFileInfo {
            file_identifier: h,
            file_identifier_type: "Sha1".to_owned(),
        }),
        commands: Vec::new(),
        troubleshoot_info: None,
    }
}
