//! Alerts: the fixture alerts every tenant shares (each linked to its fleet machine), and one
//! tenant's alerts over them, copy-on-write like machines: a tenant copies a fixture alert only
//! when it first updates it, and keeps the alerts raised in it. Behind the tenant's own alert
//! lock (never the machine lock); no guard leaves a method.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use time::OffsetDateTime;

use super::{Fleet, MachineKey, Visibility};
use crate::{
    error::{ApiError, Code},
    events::{AlertEvent, Change, Sink},
    model::{
        Alert, AlertComment, AlertStatus, Classification, Determination, InvestigationState,
        Timestamp,
    },
    odata::{self, Page, Query},
};

/// Most comments one alert keeps (emulator decision: far above any real alert's; bounds what
/// an alert can cost).
pub(crate) const MAX_COMMENTS: usize = 1000;
/// Most alerts one tenant may raise (emulator decision: bounds a tenant's memory).
pub(crate) const MAX_RAISED: usize = 100_000;

/// The fixture alerts, shared read-only by every tenant: newest first, each with its machine.
#[derive(Debug, Default)]
pub(crate) struct FixtureAlerts {
    rows: Vec<(Arc<Alert>, MachineKey)>,
    by_id: HashMap<Box<str>, u32>,
}

impl FixtureAlerts {
    /// `alerts` over `fleet`: each alert's `computerDnsName` (when not given) and `rbacGroupName`
    /// come from its machine; an alert whose machine is not in the fleet is left out (the file
    /// loader has already refused those; a fleet given in code keeps the alerts of its machines).
    pub(super) fn new(alerts: Vec<Alert>, fleet: &Fleet) -> Self {
        let mut rows: Vec<(Arc<Alert>, MachineKey)> = alerts
            .into_iter()
            .filter_map(|mut a| {
                let key = fleet.by_id(&a.machine_id)?;
                let m = &fleet.at(key).machine;
                a.machine_id = m.id.to_string();
                if a.computer_dns_name.is_none() {
                    a.computer_dns_name = Some(m.computer_dns_name.to_string());
                }
                a.rbac_group_name = m.rbac_group_name.as_deref().map(str::to_owned);
                Some((Arc::new(a), key))
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.0.alert_creation_time));
        let mut by_id = HashMap::with_capacity(rows.len());
        for (i, (a, _)) in rows.iter().enumerate() {
            by_id.entry(a.id.as_str().into()).or_insert(i as u32);
        }
        Self { rows, by_id }
    }

    /// How many fixture alerts.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }
}

/// Where one of a tenant's alerts is.
#[derive(Debug, Clone, Copy)]
enum Place {
    Fixture(u32),
    Raised(u32),
}

/// A tenant's own alert state.
#[derive(Debug, Default)]
struct AlertState {
    /// This tenant's copies of the fixture alerts it has updated, by fixture index.
    changed: HashMap<u32, Arc<Alert>>,
    /// Alerts raised in this tenant, oldest first.
    raised: Vec<(Arc<Alert>, MachineKey)>,
    raised_by_id: HashMap<Box<str>, u32>,
}

/// A change to one or more alerts (PATCH, batchUpdate), validated by the route.
#[derive(Debug, Clone, Default)]
pub(crate) struct AlertChange {
    pub status: Option<AlertStatus>,
    /// `Some(None)`: unassign.
    pub assigned_to: Option<Option<String>>,
    pub classification: Option<Classification>,
    pub determination: Option<Determination>,
    pub comment: Option<String>,
}

impl AlertChange {
    /// Whether the change would change nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.assigned_to.is_none()
            && self.classification.is_none()
            && self.determination.is_none()
            && self.comment.is_none()
    }

    /// Applies the change to `a` at `now`, by `by` (the comment's `createdBy`).
    fn apply(&self, a: &mut Alert, by: &str, now: OffsetDateTime) {
        if let Some(status) = self.status {
            if status == AlertStatus::Resolved && a.status != AlertStatus::Resolved {
                a.resolved_time = Some(Timestamp(now));
            } else if status != AlertStatus::Resolved {
                a.resolved_time = None;
            }
            a.status = status;
        }
        if let Some(to) = &self.assigned_to {
            a.assigned_to.clone_from(to);
        }
        if let Some(c) = self.classification {
            a.classification = Some(c);
        }
        if let Some(d) = self.determination {
            a.determination = Some(d);
        }
        if let Some(comment) = &self.comment {
            a.comments.push(AlertComment {
                comment: comment.clone(),
                created_by: by.to_owned(),
                created_time: Timestamp(now),
            });
        }
        a.last_update_time = Timestamp(now);
    }
}

/// One tenant's alerts.
#[derive(Debug)]
pub(crate) struct TenantAlerts {
    fleet: Arc<Fleet>,
    fixtures: Arc<FixtureAlerts>,
    sink: Option<Sink>,
    state: RwLock<AlertState>,
}

/// 404 `ResourceNotFound` for an alert id.
pub(crate) fn alert_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        code: Code::ResourceNotFound,
        message: format!("Alert {id} was not found"),
    }
}

impl TenantAlerts {
    pub(crate) fn new(fleet: Arc<Fleet>, fixtures: Arc<FixtureAlerts>, sink: Option<Sink>) -> Self {
        Self {
            fleet,
            fixtures,
            sink,
            state: RwLock::default(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, AlertState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, AlertState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn sees(&self, vis: &Visibility, key: MachineKey) -> bool {
        vis.sees(&self.fleet.at(key).machine)
    }

    /// Where alert `id` is, if it exists and the caller sees its machine.
    fn place(&self, state: &AlertState, id: &str, vis: &Visibility) -> Option<(Place, MachineKey)> {
        let found = match self.fixtures.by_id.get(id) {
            Some(i) => Some((Place::Fixture(*i), self.fixtures.rows[*i as usize].1)),
            None => state
                .raised_by_id
                .get(id)
                .map(|i| (Place::Raised(*i), state.raised[*i as usize].1)),
        };
        found.filter(|(_, key)| self.sees(vis, *key))
    }

    /// This tenant's own copy of the alert at `place`, made from the fixture on first change.
    fn own<'s>(&self, state: &'s mut AlertState, place: Place) -> &'s mut Arc<Alert> {
        match place {
            Place::Fixture(i) => state
                .changed
                .entry(i)
                .or_insert_with(|| Arc::clone(&self.fixtures.rows[i as usize].0)),
            Place::Raised(i) => &mut state.raised[i as usize].0,
        }
    }

    fn at<'s>(&'s self, state: &'s AlertState, place: Place) -> &'s Arc<Alert> {
        match place {
            Place::Fixture(i) => state
                .changed
                .get(&i)
                .unwrap_or(&self.fixtures.rows[i as usize].0),
            Place::Raised(i) => &state.raised[i as usize].0,
        }
    }

    /// Alert `id` and its machine; 404 if unknown or on a machine the caller does not see.
    pub(crate) fn get(
        &self,
        id: &str,
        vis: &Visibility,
    ) -> Result<(Arc<Alert>, MachineKey), ApiError> {
        let state = self.read();
        let (place, key) = self
            .place(&state, id, vis)
            .ok_or_else(|| alert_not_found(id))?;
        Ok((Arc::clone(self.at(&state, place)), key))
    }

    /// One page of the alerts the caller sees (only machine `machine`'s when given): newest
    /// first before `$orderby` (raised alerts, then the fixtures').
    pub(crate) fn list(
        &self,
        vis: &Visibility,
        machine: Option<MachineKey>,
        q: &Query<Alert>,
        page_size: usize,
    ) -> Page<Arc<Alert>> {
        let state = self.read();
        let wanted = |key: &MachineKey| machine.is_none_or(|m| m == *key) && self.sees(vis, *key);
        let raised = state
            .raised
            .iter()
            .rev()
            .filter(|(_, k)| wanted(k))
            .map(|(a, _)| a);
        let fixtures = self
            .fixtures
            .rows
            .iter()
            .enumerate()
            .filter(|(_, (_, k))| wanted(k))
            .map(|(i, (a, _))| state.changed.get(&(i as u32)).unwrap_or(a));
        odata::select(q, raised.chain(fixtures), page_size).map(Arc::clone)
    }

    /// How many alerts this tenant has (lists use it to judge a query's cost).
    pub(crate) fn len(&self) -> usize {
        self.fixtures.len() + self.read().raised.len()
    }

    /// Applies `change` to every alert of `ids` at `now`, by `by`, or to none: 404 naming the
    /// first unknown (or invisible) id, 400 if an alert would pass `MAX_COMMENTS`.
    pub(crate) fn update(
        &self,
        ids: &[String],
        vis: &Visibility,
        change: &AlertChange,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Arc<Alert>>, ApiError> {
        let mut state = self.write();
        let mut places = Vec::with_capacity(ids.len());
        for id in ids {
            let (place, _) = self
                .place(&state, id, vis)
                .ok_or_else(|| alert_not_found(id))?;
            if change.comment.is_some() && self.at(&state, place).comments.len() >= MAX_COMMENTS {
                return Err(ApiError::bad_request(
                    Code::InvalidInput,
                    format!("Alert {id} already has {MAX_COMMENTS} comments, the most an alert may have"),
                ));
            }
            places.push(place);
        }
        let mut updated = Vec::with_capacity(places.len());
        for place in places {
            let slot = self.own(&mut state, place);
            change.apply(Arc::make_mut(slot), by, now);
            let alert = Arc::clone(slot);
            self.publish(now, || Change::AlertUpdated(event_of(&alert)));
            updated.push(alert);
        }
        Ok(updated)
    }

    /// Raises `template` on machine `key` at `now`: the emulator sets its id, incident, times
    /// (the event times only when not given) and machine properties.
    pub(crate) fn raise(
        &self,
        key: MachineKey,
        mut template: Alert,
        now: OffsetDateTime,
    ) -> Result<Arc<Alert>, ApiError> {
        let m = &self.fleet.at(key).machine;
        let mut state = self.write();
        let seq = state.raised.len();
        if seq >= MAX_RAISED {
            return Err(ApiError::bad_request(
                Code::InvalidInput,
                format!("This tenant already has {MAX_RAISED} raised alerts, the most a tenant may raise; reset it"),
            ));
        }
        let mut id = alert_id(now, seq);
        while self.fixtures.by_id.contains_key(id.as_str())
            || state.raised_by_id.contains_key(id.as_str())
        {
            id.push('0');
        }
        let at = Timestamp(now);
        template.id = id;
        template.incident_id = Some(FIRST_RAISED_INCIDENT + seq as i64);
        template.alert_creation_time = at;
        template.last_update_time = at;
        template.first_event_time = Some(template.first_event_time.unwrap_or(at));
        template.last_event_time = Some(template.last_event_time.unwrap_or(at));
        template.machine_id = m.id.to_string();
        template.computer_dns_name = Some(m.computer_dns_name.to_string());
        template.rbac_group_name = m.rbac_group_name.as_deref().map(str::to_owned);
        if template.status == AlertStatus::Resolved {
            template.resolved_time = Some(at);
        }
        let alert = Arc::new(template);
        state
            .raised_by_id
            .insert(alert.id.as_str().into(), seq as u32);
        state.raised.push((Arc::clone(&alert), key));
        self.publish(now, || Change::AlertRaised(event_of(&alert)));
        Ok(alert)
    }

    /// CreateAlertByReference: an open alert (not `Resolved`) on machine `key` with the same
    /// title (any case) takes the new event (its `lastEventTime` moves on, a merge); otherwise
    /// `template` is raised.
    pub(crate) fn raise_or_merge(
        &self,
        key: MachineKey,
        template: Alert,
        now: OffsetDateTime,
    ) -> Result<Arc<Alert>, ApiError> {
        {
            let mut state = self.write();
            let open = |a: &Alert| {
                a.status != AlertStatus::Resolved && a.title.eq_ignore_ascii_case(&template.title)
            };
            let raised = (0..state.raised.len())
                .rev()
                .map(|i| Place::Raised(i as u32))
                .filter(|p| matches!(p, Place::Raised(i) if state.raised[*i as usize].1 == key));
            let fixtures = (0..self.fixtures.rows.len())
                .map(|i| Place::Fixture(i as u32))
                .filter(
                    |p| matches!(p, Place::Fixture(i) if self.fixtures.rows[*i as usize].1 == key),
                );
            let found = raised.chain(fixtures).find(|p| open(self.at(&state, *p)));
            if let Some(place) = found {
                let slot = self.own(&mut state, place);
                let a = Arc::make_mut(slot);
                let event = template.last_event_time.unwrap_or(Timestamp(now));
                a.last_event_time = Some(a.last_event_time.map_or(event, |t| t.max(event)));
                a.last_update_time = Timestamp(now);
                let alert = Arc::clone(slot);
                self.publish(now, || Change::AlertUpdated(event_of(&alert)));
                return Ok(alert);
            }
        }
        self.raise(key, template, now)
    }

    fn publish(&self, now: OffsetDateTime, change: impl FnOnce() -> Change) {
        if let Some(sink) = &self.sink {
            sink.publish(Timestamp(now), change);
        }
    }
}

/// Incident ids of raised alerts start here (the fixtures' are lower).
const FIRST_RAISED_INCIDENT: i64 = 9_000_001;

/// An id shaped like the service's (`da637472900382838869_1364969609`): `da`, the .NET ticks of
/// `now`, `_`, a number spread from the tenant's sequence.
fn alert_id(now: OffsetDateTime, seq: usize) -> String {
    const UNIX_EPOCH_TICKS: i128 = 621_355_968_000_000_000;
    let ticks = now.unix_timestamp_nanos() / 100 + UNIX_EPOCH_TICKS;
    let spread = (seq as u32 ^ 0x5bd1_e995).wrapping_mul(2_654_435_761) as i32;
    format!("da{ticks}_{spread}")
}

/// An alert as the live state stream shows it.
fn event_of(a: &Alert) -> AlertEvent {
    AlertEvent {
        alert_id: a.id.clone(),
        machine_id: Some(a.machine_id.as_str().into()),
        status: <&str>::from(a.status).to_owned(),
        title: a.title.clone(),
    }
}

/// The alert a raise starts from: the fields a caller leaves out.
pub(crate) fn template(title: &str) -> Alert {
    let zero = Timestamp(OffsetDateTime::UNIX_EPOCH);
    Alert {
        id: String::new(),
        incident_id: None,
        investigation_id: None,
        assigned_to: None,
        severity: crate::model::AlertSeverity::Medium,
        status: AlertStatus::New,
        classification: None,
        determination: None,
        investigation_state: Some(InvestigationState::Queued),
        detection_source: Some("WindowsDefenderAtp".into()),
        detector_id: None,
        category: crate::model::AlertCategory::SuspiciousActivity,
        threat_family_name: None,
        title: title.to_owned(),
        description: None,
        alert_creation_time: zero,
        first_event_time: None,
        last_event_time: None,
        last_update_time: zero,
        resolved_time: None,
        machine_id: String::new(),
        computer_dns_name: None,
        rbac_group_name: None,
        _aad_tenant_id: None,
        threat_name: None,
        mitre_techniques: Vec::new(),
        related_user: None,
        logged_on_users: Vec::new(),
        comments: Vec::new(),
        evidence: Vec::new(),
        domains: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::{AlertCategory, AlertSeverity, TenantId},
        store::{FleetMachine, SimulationOverride, Store, StoreOptions},
    };

    fn machine(id: char, group: &str) -> FleetMachine {
        let json = serde_json::json!({
            "id": id.to_string().repeat(40),
            "computerDnsName": format!("{id}.contoso.com"),
            "firstSeen": "2024-01-01T00:00:00Z",
            "lastSeen": "2024-06-01T00:00:00Z",
            "osPlatform": "Windows11",
            "rbacGroupName": group,
        });
        FleetMachine {
            machine: Arc::new(serde_json::from_value(json).unwrap()),
            isolation: None,
            restricted: false,
            simulation: SimulationOverride::default(),
            logon_users: Box::default(),
        }
    }

    fn alert(id: &str, machine: char, created: i64) -> Alert {
        let mut a = template(id);
        a.id = id.to_owned();
        a.machine_id = machine.to_string().repeat(40);
        a.alert_creation_time =
            Timestamp(OffsetDateTime::UNIX_EPOCH + time::Duration::days(created));
        a.severity = AlertSeverity::Low;
        a.category = AlertCategory::Malware;
        a
    }

    fn store() -> Store {
        let fleet = vec![machine('a', "Finance"), machine('b', "Servers")];
        Store::new(fleet, StoreOptions::default()).with_alerts(vec![
            alert("x_1", 'a', 1),
            alert("x_2", 'b', 2),
            alert("x_3", 'f', 3), // no such machine: left out
        ])
    }

    fn tid(name: &str) -> TenantId {
        TenantId::parse(name).unwrap()
    }

    #[test]
    fn fixture_alerts_take_their_machines_group_and_a_tenant_copies_only_what_it_changes() {
        let store = store();
        let (a, b) = (
            store.tenant(&tid("a.example.com")),
            store.tenant(&tid("b.example.com")),
        );
        let all = Visibility::All;
        assert_eq!(a.alerts().len(), 2);
        let (x1, _) = a.alerts().get("x_1", &all).unwrap();
        assert_eq!(x1.rbac_group_name.as_deref(), Some("Finance"));
        assert_eq!(x1.computer_dns_name.as_deref(), Some("a.contoso.com"));
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(10);
        let change = AlertChange {
            status: Some(AlertStatus::Resolved),
            ..AlertChange::default()
        };
        a.alerts()
            .update(&["x_1".into()], &all, &change, "me", now)
            .unwrap();
        assert_eq!(a.alerts().read().changed.len(), 1, "one copy, in tenant a");
        assert!(b.alerts().read().changed.is_empty(), "nothing in tenant b");
        let (in_b, _) = b.alerts().get("x_1", &all).unwrap();
        assert!(
            Arc::ptr_eq(&in_b, &x1),
            "tenant b still reads the shared fixture alert"
        );
        assert_eq!(
            a.alerts().get("x_1", &all).unwrap().0.status,
            AlertStatus::Resolved
        );
    }

    #[test]
    fn device_groups_hide_alerts_and_a_batch_with_a_hidden_id_changes_nothing() {
        let store = store();
        let t = store.tenant(&tid("a.example.com"));
        let finance = Visibility::Groups(Arc::new(["Finance".to_owned()].into()));
        assert!(t.alerts().get("x_2", &finance).is_err());
        let page = t.alerts().list(&finance, None, &Query::default(), 100);
        let ids: Vec<&str> = page.rows.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["x_1"]);
        let change = AlertChange {
            comment: Some("c".into()),
            ..AlertChange::default()
        };
        let now = OffsetDateTime::UNIX_EPOCH;
        let ids = ["x_1".to_owned(), "x_2".to_owned()];
        assert!(t
            .alerts()
            .update(&ids, &finance, &change, "me", now)
            .is_err());
        assert!(t
            .alerts()
            .get("x_1", &finance)
            .unwrap()
            .0
            .comments
            .is_empty());
    }
}

/// A tenant's alerts as the state file keeps them: its copies of the fixture alerts it updated
/// (by alert id, so a reordered fixtures file still matches) and the alerts raised in it, each
/// in the wire shape a fixtures file uses.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AlertsSnapshot {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    changed: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    raised: Vec<RaisedSnapshot>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RaisedSnapshot {
    alert: serde_json::Value,
    /// The machine's key in the fixture fleet.
    machine: u32,
}

impl TenantAlerts {
    /// This tenant's own alert state, or `None` when it has none (it reads the fixtures).
    pub(crate) fn snapshot(&self, tenant: &crate::model::TenantId) -> Option<AlertsSnapshot> {
        let state = self.read();
        if state.changed.is_empty() && state.raised.is_empty() {
            return None;
        }
        let wire = |a: &Arc<Alert>| {
            let view = crate::model::AlertView {
                alert: Arc::clone(a),
                tenant: tenant.clone(),
                with_evidence: true,
            };
            serde_json::to_value(view).unwrap_or_default()
        };
        let mut changed: Vec<(&u32, &Arc<Alert>)> = state.changed.iter().collect();
        changed.sort_by_key(|(i, _)| **i);
        Some(AlertsSnapshot {
            changed: changed.into_iter().map(|(_, a)| wire(a)).collect(),
            raised: state
                .raised
                .iter()
                .map(|(a, key)| RaisedSnapshot {
                    alert: wire(a),
                    machine: key.index(),
                })
                .collect(),
        })
    }

    /// Puts a snapshot back (into a fresh tenant), or says what does not fit these fixtures.
    pub(crate) fn restore(&self, snap: AlertsSnapshot) -> Result<(), String> {
        let parse = |v: serde_json::Value| {
            serde_json::from_value::<Alert>(v).map_err(|e| format!("an alert: {e}"))
        };
        let mut state = AlertState::default();
        for v in snap.changed {
            let a = parse(v)?;
            let i = *self
                .fixtures
                .by_id
                .get(a.id.as_str())
                .ok_or_else(|| format!("alert {} is not among the fixture alerts", a.id))?;
            state.changed.insert(i, Arc::new(a));
        }
        for r in snap.raised {
            let a = parse(r.alert)?;
            if r.machine as usize >= self.fleet.all().len() {
                return Err(format!(
                    "alert {}: machine key {} is out of range",
                    a.id, r.machine
                ));
            }
            if state.raised.len() >= MAX_RAISED
                || self.fixtures.by_id.contains_key(a.id.as_str())
                || state.raised_by_id.contains_key(a.id.as_str())
            {
                return Err(format!("alert {} appears twice, or too many alerts", a.id));
            }
            let seq = state.raised.len() as u32;
            state.raised_by_id.insert(a.id.as_str().into(), seq);
            state
                .raised
                .push((Arc::new(a), MachineKey::from_index(r.machine)));
        }
        *self.write() = state;
        Ok(())
    }
}
