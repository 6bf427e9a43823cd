//! The `Investigations` entity set: each property of the Investigation, its type, whether
//! `$filter` may use it (the List Investigations page's list), and its getter.

use strum::VariantNames;

use super::schema::{Cell, EntitySet, Field, Getter, Kind};
use crate::model::{Investigation, InvestigationState};

const fn f(
    name: &'static str,
    kind: Kind,
    filterable: bool,
    get: Getter<Investigation>,
) -> Field<Investigation> {
    Field {
        name,
        kind,
        filterable,
        get,
    }
}

/// `Investigations` (`docs/contract/investigations.md` §1 order; filterable per §3).
pub(crate) static INVESTIGATIONS: EntitySet<Investigation> = EntitySet {
    name: "Investigations",
    type_name: "Investigation",
    fields: &[
        f("id", Kind::Str, true, |i| Cell::Str(&i.id)),
        f("startTime", Kind::DateTime, true, |i| {
            Cell::time(i.start_time.0)
        }),
        f("endTime", Kind::DateTime, false, |i| {
            i.end_time.map_or(Cell::Null, |t| Cell::time(t.0))
        }),
        f(
            "state",
            Kind::Enum(InvestigationState::VARIANTS),
            true,
            |i| Cell::Str(i.state.as_str()),
        ),
        f("cancelledBy", Kind::Str, false, |i| {
            i.cancelled_by.as_deref().map_or(Cell::Null, Cell::Str)
        }),
        f("statusDetails", Kind::Str, false, |i| {
            i.status_details.as_deref().map_or(Cell::Null, Cell::Str)
        }),
        f("machineId", Kind::Str, true, |i| Cell::Str(&i.machine.id)),
        f("computerDnsName", Kind::Str, false, |i| {
            Cell::Str(&i.machine.computer_dns_name)
        }),
        f("triggeringAlertId", Kind::Str, true, |i| {
            i.triggering_alert_id
                .as_deref()
                .map_or(Cell::Null, Cell::Str)
        }),
    ],
};
