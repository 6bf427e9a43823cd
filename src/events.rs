//! The live state stream: one `Event` per state change (an action created or moved on, a
//! machine's isolation or restriction changed, an alert raised or updated...), with its tenant
//! and emulator time, and the `EventBus` that carries them to subscribers (`/_mock/events`, the
//! console, the Rust facade). Publishing is synchronous and never blocks: a subscriber that
//! falls behind loses the oldest events (and is told how many), the state never waits for it.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::model::{ActionStatus, ActionType, IsolationType, TenantId, Timestamp};

/// How many events a subscriber may fall behind before it loses the oldest.
pub(crate) const BACKLOG: usize = 4096;

/// One state change.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event {
    /// Position in the stream, from 1, increasing (the SSE `id`).
    pub id: u64,
    pub tenant: TenantId,
    /// Emulator time of the change (for a settled transition, the time it fell due).
    pub time: Timestamp,
    #[serde(flatten)]
    pub change: Change,
}

impl Event {
    /// The SSE event name: `action.created`, `machine.changed`...
    pub(crate) fn kind(&self) -> &'static str {
        self.change.kind()
    }
}

/// What changed. Serialized with a `type` tag equal to the SSE event name.
#[allow(
    dead_code,
    reason = "the seeding, alert, indicator and investigation stores publish these as they land"
)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub(crate) enum Change {
    #[serde(rename = "action.created")]
    ActionCreated(ActionEvent),
    /// A status change: by the clock, or a cancel.
    #[serde(rename = "action.updated")]
    ActionUpdated(ActionEvent),
    /// Isolation, restriction or a wire property of a machine changed.
    #[serde(rename = "machine.changed", rename_all = "camelCase")]
    MachineChanged {
        machine_id: Arc<str>,
        isolation: Option<IsolationType>,
        restricted: bool,
    },
    /// A machine was created, replaced or removed through the control plane.
    #[serde(rename = "machine.seeded", rename_all = "camelCase")]
    MachineSeeded { machine_id: Arc<str>, removed: bool },
    #[serde(rename = "alert.raised", rename_all = "camelCase")]
    AlertRaised(AlertEvent),
    #[serde(rename = "alert.updated", rename_all = "camelCase")]
    AlertUpdated(AlertEvent),
    /// An indicator was submitted, updated or deleted.
    #[serde(rename = "indicator.changed", rename_all = "camelCase")]
    IndicatorChanged { indicator_id: String, deleted: bool },
    /// An investigation was started or moved on.
    #[serde(rename = "investigation.updated", rename_all = "camelCase")]
    InvestigationUpdated {
        investigation_id: String,
        machine_id: Arc<str>,
        state: String,
    },
    /// The tenant's state went back to the fixtures.
    #[serde(rename = "tenant.reset")]
    TenantReset,
}

impl Change {
    fn kind(&self) -> &'static str {
        match self {
            Change::ActionCreated(_) => "action.created",
            Change::ActionUpdated(_) => "action.updated",
            Change::MachineChanged { .. } => "machine.changed",
            Change::MachineSeeded { .. } => "machine.seeded",
            Change::AlertRaised(_) => "alert.raised",
            Change::AlertUpdated(_) => "alert.updated",
            Change::IndicatorChanged { .. } => "indicator.changed",
            Change::InvestigationUpdated { .. } => "investigation.updated",
            Change::TenantReset => "tenant.reset",
        }
    }
}

/// An action as the stream shows it: enough to follow it without a GET.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActionEvent {
    pub action_id: uuid::Uuid,
    pub machine_id: Arc<str>,
    pub computer_dns_name: Arc<str>,
    #[serde(rename = "actionType")]
    pub action_type: ActionType,
    pub status: ActionStatus,
    pub requestor: Arc<str>,
}

/// An alert as the stream shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlertEvent {
    pub alert_id: String,
    pub machine_id: Option<Arc<str>>,
    pub status: String,
    pub title: String,
}

/// The stream every subscriber reads; cheap to publish to when nobody listens.
#[derive(Debug)]
pub(crate) struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    next: AtomicU64,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
            next: AtomicU64::new(1),
        }
    }
}

impl EventBus {
    /// Publishes the change `change()` of `tenant` at `time`; the change is not even built when
    /// nobody listens.
    pub(crate) fn publish(
        &self,
        tenant: &TenantId,
        time: Timestamp,
        change: impl FnOnce() -> Change,
    ) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let event = Event {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            tenant: tenant.clone(),
            time,
            change: change(),
        };
        // An error only means the last subscriber left meanwhile.
        let _ = self.tx.send(Arc::new(event));
    }

    /// A new subscriber: it sees every event published from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

/// A tenant's handle on the bus: where its store publishes.
#[derive(Debug, Clone)]
pub(crate) struct Sink {
    bus: Arc<EventBus>,
    tenant: TenantId,
}

impl Sink {
    pub(crate) fn new(bus: Arc<EventBus>, tenant: TenantId) -> Self {
        Self { bus, tenant }
    }

    /// Publishes `change()` of this tenant at `time` (built only if someone listens).
    pub(crate) fn publish(&self, time: Timestamp, change: impl FnOnce() -> Change) {
        self.bus.publish(&self.tenant, time, change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("contoso.onmicrosoft.com").unwrap()
    }

    #[test]
    fn nothing_is_built_without_a_subscriber() {
        let bus = EventBus::default();
        bus.publish(
            &tenant(),
            Timestamp(time::OffsetDateTime::UNIX_EPOCH),
            || panic!("built for nobody"),
        );
    }

    #[test]
    fn a_subscriber_gets_events_in_order_with_their_kind() {
        let bus = Arc::new(EventBus::default());
        let mut rx = bus.subscribe();
        let sink = Sink::new(Arc::clone(&bus), tenant());
        let at = Timestamp(time::OffsetDateTime::UNIX_EPOCH);
        sink.publish(at, || Change::TenantReset);
        sink.publish(at, || Change::MachineSeeded {
            machine_id: "m".into(),
            removed: true,
        });
        let first = rx.try_recv().unwrap();
        let second = rx.try_recv().unwrap();
        assert!(first.id < second.id);
        assert_eq!(first.kind(), "tenant.reset");
        let json = serde_json::to_value(&*second).unwrap();
        assert_eq!(json["type"], "machine.seeded");
        assert_eq!(json["machineId"], "m");
        assert_eq!(json["removed"], true);
        assert_eq!(json["tenant"], tenant().as_str());
    }
}
