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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Machine, WholeSeconds};

    /// The serializer writes exactly the schema's properties, in the schema's order.
    #[test]
    fn the_wire_order_is_the_schema_order() {
        let machine: Machine = serde_json::from_str(
            r#"{"id": "m", "computerDnsName": "d", "firstSeen": "2024-01-01T00:00:00Z",
                "lastSeen": "2024-01-01T00:00:00Z", "osPlatform": "Windows11"}"#,
        )
        .unwrap();
        let i = Investigation {
            id: "3".into(),
            start_time: WholeSeconds::new(time::OffsetDateTime::UNIX_EPOCH),
            end_time: None,
            state: InvestigationState::Queued,
            cancelled_by: None,
            status_details: None,
            machine: Arc::new(machine),
            triggering_alert_id: None,
        };
        let text = serde_json::to_string(&i).unwrap();
        let mut written: Vec<(usize, &str)> = INVESTIGATIONS
            .fields
            .iter()
            .map(|f| (text.find(&format!("\"{}\":", f.name)).unwrap(), f.name))
            .collect();
        written.sort();
        let names: Vec<&str> = INVESTIGATIONS.fields.iter().map(|f| f.name).collect();
        assert_eq!(written.iter().map(|(_, n)| *n).collect::<Vec<_>>(), names);
        assert!(
            text.contains(r#""startTime":"1970-01-01T00:00:00Z""#),
            "{text}"
        );
    }
}
