//! One tenant's indicators (custom threat intelligence): submit-or-update by value and type,
//! import, list, delete, batch delete, behind their own lock; the 15,000 active-indicator bound
//! and who sees what (`Ti.ReadWrite.All` sees all, `Ti.ReadWrite` what its app created).
//!
//! Indicators sit in a `BTreeMap` by id (ids increase, so that is creation order) with an index by
//! (type, value). An indicator past its `expirationTime` is no longer active: it is left out of
//! every read at once and dropped from the map by the next write.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use time::OffsetDateTime;

use super::Fleet;
use crate::{
    error::{ApiError, Code},
    events::{Change, Sink},
    model::{Indicator, IndicatorAction, IndicatorSeverity, IndicatorType, Timestamp},
    odata::{self, Page, Query},
};

/// Most active indicators a tenant may hold (documented: "15,000 active indicators per tenant").
pub(crate) const MAX_INDICATORS: usize = 15_000;

/// The message of a submit past [`MAX_INDICATORS`] (emulator decision: 400 `BadRequest`).
fn limit_reached() -> ApiError {
    ApiError::bad_request(
        Code::BadRequest,
        format!(
            "There's a limit of {MAX_INDICATORS} active indicators per tenant. Delete indicators before submitting new ones."
        ),
    )
}

/// An indicator as a client submitted it, validated by the route.
#[derive(Debug, Clone)]
pub(crate) struct NewIndicator {
    pub value: String,
    pub indicator_type: IndicatorType,
    pub action: IndicatorAction,
    pub application: Option<String>,
    pub title: String,
    pub description: String,
    pub expiration_time: Option<Timestamp>,
    pub severity: IndicatorSeverity,
    pub recommended_actions: Option<String>,
    pub rbac_group_names: Vec<String>,
    pub educate_url: Option<String>,
    pub generate_alert: bool,
    pub external_id: Option<String>,
}

/// Who submits or reads indicators.
#[derive(Debug, Clone)]
pub(crate) struct TiCaller {
    /// `createdBy` / `lastUpdatedBy`: the app id (apps) or the UPN (users).
    pub id: String,
    /// `createdByDisplayName`: the app's display name or the UPN.
    pub display_name: String,
    /// `Ti.ReadWrite.All` (or a delegated user): every indicator of the tenant, not only its own.
    pub sees_all: bool,
}

impl TiCaller {
    fn sees(&self, i: &Indicator) -> bool {
        self.sees_all || i.created_by.eq_ignore_ascii_case(&self.id)
    }
}

/// The (type, value) an indicator is found by: values match in any case.
type Key = (IndicatorType, String);

fn key_of(t: IndicatorType, value: &str) -> Key {
    (t, value.to_lowercase())
}

#[derive(Debug, Default)]
struct State {
    rows: BTreeMap<u64, Indicator>,
    by_key: HashMap<Key, u64>,
    last_id: u64,
    /// The earliest expiration among stored rows is at or before this: nothing to drop before it.
    next_expiry: Option<OffsetDateTime>,
}

impl State {
    /// Drops every indicator expired by `now`.
    fn purge(&mut self, now: OffsetDateTime) {
        if self.next_expiry.is_none_or(|t| t > now) {
            return;
        }
        let expired: Vec<u64> = self
            .rows
            .values()
            .filter(|i| !i.active_at(now))
            .map(|i| i.id)
            .collect();
        for id in expired {
            self.remove(id);
        }
        self.next_expiry = self
            .rows
            .values()
            .filter_map(|i| i.expiration_time.map(|t| t.0))
            .min();
    }

    fn remove(&mut self, id: u64) -> Option<Indicator> {
        let row = self.rows.remove(&id)?;
        self.by_key
            .remove(&key_of(row.indicator_type, &row.indicator_value));
        Some(row)
    }

    fn note_expiry(&mut self, t: Option<Timestamp>) {
        if let Some(t) = t {
            self.next_expiry = Some(self.next_expiry.map_or(t.0, |n| n.min(t.0)));
        }
    }
}

/// A tenant's indicators.
#[derive(Debug)]
pub(crate) struct Indicators {
    fleet: Arc<Fleet>,
    state: RwLock<State>,
    sink: Option<Sink>,
}

impl Indicators {
    pub(crate) fn new(fleet: Arc<Fleet>, sink: Option<Sink>) -> Self {
        Self {
            fleet,
            state: RwLock::default(),
            sink,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, now: OffsetDateTime) -> RwLockWriteGuard<'_, State> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.purge(now);
        state
    }

    /// How many indicators are stored (lists use it to judge a query's cost).
    pub(crate) fn count(&self) -> usize {
        self.read().rows.len()
    }

    /// Submits or updates each of `items` in order (an `Err` item stays a failure), atomically
    /// for the whole batch: the result of each, in order.
    pub(crate) fn upsert(
        &self,
        items: Vec<Result<NewIndicator, ApiError>>,
        who: &TiCaller,
        now: OffsetDateTime,
    ) -> Vec<Result<Indicator, ApiError>> {
        let mut guard = self.write(now);
        let state = &mut *guard;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let result = item.and_then(|new| self.upsert_one(state, new, who, now));
            if let (Ok(row), Some(sink)) = (&result, &self.sink) {
                sink.publish(Timestamp(now), || Change::IndicatorChanged {
                    indicator_id: row.wire_id(),
                    deleted: false,
                });
            }
            out.push(result);
        }
        out
    }

    fn upsert_one(
        &self,
        state: &mut State,
        new: NewIndicator,
        who: &TiCaller,
        now: OffsetDateTime,
    ) -> Result<Indicator, ApiError> {
        let ts = Timestamp(now);
        let key = key_of(new.indicator_type, &new.value);
        let rbac_group_ids = self.group_ids(&new.rbac_group_names);
        if let Some(id) = state.by_key.get(&key).copied() {
            let Some(row) = state.rows.get_mut(&id) else {
                return Err(ApiError::Internal(format!("indicator index names {id}")));
            };
            if !who.sees(row) {
                return Err(ApiError::Forbidden(format!(
                    "Indicator {} of type {} exists and was created by another application; updating it needs Ti.ReadWrite.All.",
                    row.indicator_value,
                    row.indicator_type.as_str()
                )));
            }
            // `application` "only works for new indicators": an update keeps it.
            row.action = new.action;
            row.severity = new.severity;
            row.educate_url = new.educate_url;
            row.title = new.title;
            row.description = new.description;
            row.recommended_actions = new.recommended_actions;
            row.expiration_time = new.expiration_time;
            row.last_update_time = ts;
            row.last_updated_by = Some(who.id.clone());
            row.rbac_group_names = new.rbac_group_names;
            row.rbac_group_ids = rbac_group_ids;
            row.generate_alert = new.generate_alert;
            if new.external_id.is_some() {
                row.external_id = new.external_id;
            }
            let row = row.clone();
            state.note_expiry(row.expiration_time);
            return Ok(row);
        }
        if state.rows.len() >= MAX_INDICATORS {
            return Err(limit_reached());
        }
        state.last_id += 1;
        let row = Indicator {
            id: state.last_id,
            indicator_value: new.value,
            indicator_type: new.indicator_type,
            action: new.action,
            created_by: who.id.clone(),
            severity: new.severity,
            application: new.application,
            educate_url: new.educate_url,
            title: new.title,
            description: new.description,
            recommended_actions: new.recommended_actions,
            creation_time: ts,
            expiration_time: new.expiration_time,
            last_update_time: ts,
            last_updated_by: None,
            rbac_group_names: new.rbac_group_names,
            rbac_group_ids,
            generate_alert: new.generate_alert,
            created_by_display_name: who.display_name.clone(),
            external_id: new.external_id,
        };
        state.by_key.insert(key, row.id);
        state.note_expiry(row.expiration_time);
        state.rows.insert(row.id, row.clone());
        Ok(row)
    }

    /// The ids of the device groups `names` name (a name no machine carries has none).
    fn group_ids(&self, names: &[String]) -> Vec<String> {
        let mut ids: Vec<String> = names
            .iter()
            .filter_map(|n| self.fleet.group_id(n))
            .map(|id| id.to_string())
            .collect();
        ids.dedup();
        ids
    }

    /// One page of the active indicators `who` sees, in creation order before `$orderby`.
    pub(crate) fn list(
        &self,
        who: &TiCaller,
        q: &Query<Indicator>,
        page_size: usize,
        now: OffsetDateTime,
    ) -> Page<Indicator> {
        let state = self.read();
        let rows = state
            .rows
            .values()
            .filter(|i| i.active_at(now) && who.sees(i));
        odata::select(q, rows, page_size).map(Indicator::clone)
    }

    /// Deletes indicator `id`: 404 when it is unknown, expired, or not `who`'s to see.
    pub(crate) fn delete(
        &self,
        id: u64,
        who: &TiCaller,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        self.delete_all(&[id], who, now)
    }

    /// Deletes every indicator of `ids`, or none: 404 naming the first that is unknown (or
    /// expired, or not `who`'s to see).
    pub(crate) fn delete_all(
        &self,
        ids: &[u64],
        who: &TiCaller,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let mut state = self.write(now);
        if let Some(missing) = ids
            .iter()
            .find(|id| !state.rows.get(id).is_some_and(|i| who.sees(i)))
        {
            return Err(ApiError::NotFound {
                code: Code::ResourceNotFound,
                message: format!("Indicator {missing} was not found."),
            });
        }
        for id in ids {
            if state.remove(*id).is_some() {
                if let Some(sink) = &self.sink {
                    sink.publish(Timestamp(now), || Change::IndicatorChanged {
                        indicator_id: id.to_string(),
                        deleted: true,
                    });
                }
            }
        }
        Ok(())
    }
}

/// A tenant's indicators as the state file keeps them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct IndicatorsSnapshot {
    last_id: u64,
    rows: Vec<IndicatorRecord>,
}

/// One stored indicator, every field as kept (the wire adds computed ones).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(remote = "Indicator", rename_all = "camelCase", deny_unknown_fields)]
struct IndicatorDef {
    id: u64,
    indicator_value: String,
    indicator_type: IndicatorType,
    action: IndicatorAction,
    created_by: String,
    severity: IndicatorSeverity,
    application: Option<String>,
    educate_url: Option<String>,
    title: String,
    description: String,
    recommended_actions: Option<String>,
    creation_time: Timestamp,
    expiration_time: Option<Timestamp>,
    last_update_time: Timestamp,
    last_updated_by: Option<String>,
    rbac_group_names: Vec<String>,
    rbac_group_ids: Vec<String>,
    generate_alert: bool,
    created_by_display_name: String,
    external_id: Option<String>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct IndicatorRecord(#[serde(with = "IndicatorDef")] Indicator);

impl Indicators {
    /// This tenant's indicators, or `None` when it has none and never had.
    pub(crate) fn snapshot(&self) -> Option<IndicatorsSnapshot> {
        let state = self.read();
        (state.last_id > 0).then(|| IndicatorsSnapshot {
            last_id: state.last_id,
            rows: state.rows.values().cloned().map(IndicatorRecord).collect(),
        })
    }

    /// Puts a snapshot back (into a fresh tenant), or says what is inconsistent.
    pub(crate) fn restore(&self, snap: IndicatorsSnapshot) -> Result<(), String> {
        let mut state = State {
            last_id: snap.last_id,
            ..State::default()
        };
        for IndicatorRecord(row) in snap.rows {
            if row.id == 0 || row.id > snap.last_id || state.rows.contains_key(&row.id) {
                return Err(format!("indicator {}: a bad or repeated id", row.id));
            }
            if state.rows.len() >= MAX_INDICATORS {
                return Err(format!("more than {MAX_INDICATORS} indicators"));
            }
            state
                .by_key
                .insert(key_of(row.indicator_type, &row.indicator_value), row.id);
            state.note_expiry(row.expiration_time);
            state.rows.insert(row.id, row);
        }
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
        Ok(())
    }
}
