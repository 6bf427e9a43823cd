//! The `Alerts` entity set's schema (docs/contract/alerts.md §1.2, §2): each property in wire
//! order, its type, whether `$filter` may use it (the List alerts page's list), and its getter.

use strum::VariantNames;

use super::schema::{Cell, EntitySet, Field, Getter, Kind};
use crate::model::{Alert, AlertCategory, AlertSeverity, AlertStatus};

const fn f(name: &'static str, kind: Kind, filterable: bool, get: Getter<Alert>) -> Field<Alert> {
    Field {
        name,
        kind,
        filterable,
        get,
    }
}

fn opt(s: &Option<String>) -> Cell<'_> {
    s.as_deref().map_or(Cell::Null, Cell::Str)
}

fn complex(_: &Alert) -> Cell<'_> {
    Cell::Complex
}

/// `Alerts`: filterable on `alertCreationTime`, `lastUpdateTime`, `incidentId`,
/// `investigationId`, `id`, `assignedTo`, `detectionSource`, `lastEventTime`, `status`,
/// `severity`, `category` (List alerts API).
pub(crate) static ALERTS: EntitySet<Alert> = EntitySet {
    name: "Alerts",
    type_name: "Alert",
    fields: &[
        f("id", Kind::Str, true, |a| Cell::Str(&a.id)),
        f("incidentId", Kind::Int, true, |a| {
            a.incident_id.map_or(Cell::Null, Cell::Int)
        }),
        f("investigationId", Kind::Int, true, |a| {
            a.investigation_id.map_or(Cell::Null, Cell::Int)
        }),
        f("assignedTo", Kind::Str, true, |a| opt(&a.assigned_to)),
        f("severity", Kind::Enum(AlertSeverity::VARIANTS), true, |a| {
            Cell::Str(a.severity.into())
        }),
        f("status", Kind::Enum(AlertStatus::VARIANTS), true, |a| {
            Cell::Str(a.status.into())
        }),
        f("classification", Kind::Str, false, |a| {
            a.classification.map_or(Cell::Null, |c| Cell::Str(c.into()))
        }),
        f("determination", Kind::Str, false, |a| {
            a.determination.map_or(Cell::Null, |d| Cell::Str(d.into()))
        }),
        f("investigationState", Kind::Str, false, |a| {
            a.investigation_state
                .map_or(Cell::Null, |s| Cell::Str(s.into()))
        }),
        f("detectionSource", Kind::Str, true, |a| {
            opt(&a.detection_source)
        }),
        f("detectorId", Kind::Str, false, |a| opt(&a.detector_id)),
        f("category", Kind::Enum(AlertCategory::VARIANTS), true, |a| {
            Cell::Str(a.category.into())
        }),
        f("threatFamilyName", Kind::Str, false, |a| {
            opt(&a.threat_family_name)
        }),
        f("title", Kind::Str, false, |a| Cell::Str(&a.title)),
        f("description", Kind::Str, false, |a| opt(&a.description)),
        f("alertCreationTime", Kind::DateTime, true, |a| {
            Cell::time(a.alert_creation_time.0)
        }),
        f("firstEventTime", Kind::DateTime, false, |a| {
            a.first_event_time.map_or(Cell::Null, |t| Cell::time(t.0))
        }),
        f("lastEventTime", Kind::DateTime, true, |a| {
            a.last_event_time.map_or(Cell::Null, |t| Cell::time(t.0))
        }),
        f("lastUpdateTime", Kind::DateTime, true, |a| {
            Cell::time(a.last_update_time.0)
        }),
        f("resolvedTime", Kind::DateTime, false, |a| {
            a.resolved_time.map_or(Cell::Null, |t| Cell::time(t.0))
        }),
        f("machineId", Kind::Str, false, |a| Cell::Str(&a.machine_id)),
        f("computerDnsName", Kind::Str, false, |a| {
            opt(&a.computer_dns_name)
        }),
        f("rbacGroupName", Kind::Str, false, |a| {
            opt(&a.rbac_group_name)
        }),
        f("aadTenantId", Kind::Str, false, |_| Cell::Null),
        f("threatName", Kind::Str, false, |a| opt(&a.threat_name)),
        f("mitreTechniques", Kind::StrList, false, |a| {
            Cell::List(&a.mitre_techniques)
        }),
        f("relatedUser", Kind::Complex, false, complex),
        f("loggedOnUsers", Kind::Complex, false, complex),
        f("comments", Kind::Complex, false, complex),
        f("evidence", Kind::Complex, false, complex),
        f("domains", Kind::StrList, false, |a| Cell::List(&a.domains)),
    ],
};
