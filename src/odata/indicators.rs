//! The `Indicators` entity set: each property of the Indicator, its type, whether `$filter` may
//! use it (the List Indicators page's list), and its getter.

use strum::VariantNames;

use super::schema::{Cell, EntitySet, Field, Getter, Kind};
use crate::model::{Indicator, IndicatorAction, IndicatorSeverity, IndicatorType};

const fn f(
    name: &'static str,
    kind: Kind,
    filterable: bool,
    get: Getter<Indicator>,
) -> Field<Indicator> {
    Field {
        name,
        kind,
        filterable,
        get,
    }
}

fn null(_: &Indicator) -> Cell<'_> {
    Cell::Null
}

fn complex(_: &Indicator) -> Cell<'_> {
    Cell::Complex
}

fn opt(s: &Option<String>) -> Cell<'_> {
    s.as_deref().map_or(Cell::Null, Cell::Str)
}

/// `Indicators` (`docs/contract/indicators.md` §1.3 order; filterable per §2).
pub(crate) static INDICATORS: EntitySet<Indicator> = EntitySet {
    name: "Indicators",
    type_name: "Indicator",
    fields: &[
        f("id", Kind::Int, false, |i| {
            Cell::Int(i64::try_from(i.id).unwrap_or(i64::MAX))
        }),
        f("indicatorValue", Kind::Str, true, |i| {
            Cell::Str(&i.indicator_value)
        }),
        f(
            "indicatorType",
            Kind::Enum(IndicatorType::VARIANTS),
            true,
            |i| Cell::Str(i.indicator_type.as_str()),
        ),
        f("action", Kind::Enum(IndicatorAction::VARIANTS), true, |i| {
            Cell::Str(i.action.as_str())
        }),
        f("createdBy", Kind::Str, true, |i| Cell::Str(&i.created_by)),
        f(
            "severity",
            Kind::Enum(IndicatorSeverity::VARIANTS),
            true,
            |i| Cell::Str(i.severity.as_str()),
        ),
        f("category", Kind::Int, false, |_| Cell::Int(1)),
        f("application", Kind::Str, true, |i| opt(&i.application)),
        f("educateUrl", Kind::Str, false, |i| opt(&i.educate_url)),
        f("bypassDurationHours", Kind::Int, false, null),
        f("title", Kind::Str, true, |i| Cell::Str(&i.title)),
        f("description", Kind::Str, false, |i| {
            Cell::Str(&i.description)
        }),
        f("recommendedActions", Kind::Str, false, |i| {
            opt(&i.recommended_actions)
        }),
        f("creationTimeDateTimeUtc", Kind::DateTime, true, |i| {
            Cell::time(i.creation_time.0)
        }),
        f("expirationTime", Kind::DateTime, true, |i| {
            i.expiration_time.map_or(Cell::Null, |t| Cell::time(t.0))
        }),
        f("lastUpdateTime", Kind::DateTime, false, |i| {
            Cell::time(i.last_update_time.0)
        }),
        f("lastUpdatedBy", Kind::Str, false, |i| {
            opt(&i.last_updated_by)
        }),
        f("rbacGroupNames", Kind::StrList, true, |i| {
            Cell::List(&i.rbac_group_names)
        }),
        f("rbacGroupIds", Kind::StrList, true, |i| {
            Cell::List(&i.rbac_group_ids)
        }),
        f("notificationId", Kind::Str, false, null),
        f("notificationBody", Kind::Str, false, null),
        f("version", Kind::Str, false, null),
        f("mitreTechniques", Kind::Complex, false, complex),
        f("historicalDetection", Kind::Bool, false, |_| {
            Cell::Bool(false)
        }),
        f("lookBackPeriod", Kind::Str, false, null),
        f("generateAlert", Kind::Bool, true, |i| {
            Cell::Bool(i.generate_alert)
        }),
        f("additionalInfo", Kind::Str, false, null),
        f("createdByDisplayName", Kind::Str, true, |i| {
            Cell::Str(&i.created_by_display_name)
        }),
        f("externalId", Kind::Str, false, |i| opt(&i.external_id)),
        f("createdBySource", Kind::Str, false, |_| {
            Cell::Str(crate::model::CREATED_BY_SOURCE)
        }),
        f("certificateInfo", Kind::Complex, false, complex),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    /// The serializer writes exactly the schema's properties, in the schema's order.
    #[test]
    fn the_wire_order_is_the_schema_order() {
        let t = Timestamp::parse("2024-01-01T00:00:00Z").unwrap();
        let i = Indicator {
            id: 7,
            indicator_value: "contoso.com".into(),
            indicator_type: IndicatorType::DomainName,
            action: IndicatorAction::Block,
            created_by: "app".into(),
            severity: IndicatorSeverity::Low,
            application: None,
            educate_url: None,
            title: "t".into(),
            description: "d".into(),
            recommended_actions: None,
            creation_time: t,
            expiration_time: None,
            last_update_time: t,
            last_updated_by: None,
            rbac_group_names: Vec::new(),
            rbac_group_ids: Vec::new(),
            generate_alert: false,
            created_by_display_name: "App".into(),
            external_id: None,
        };
        let text = serde_json::to_string(&i).unwrap();
        let keys: Vec<String> =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
                .unwrap()
                .keys()
                .cloned()
                .collect();
        let mut written: Vec<(usize, &str)> = INDICATORS
            .fields
            .iter()
            .map(|f| (text.find(&format!("\"{}\":", f.name)).unwrap(), f.name))
            .collect();
        written.sort();
        let names: Vec<&str> = INDICATORS.fields.iter().map(|f| f.name).collect();
        assert_eq!(written.iter().map(|(_, n)| *n).collect::<Vec<_>>(), names);
        assert_eq!(keys.len(), names.len());
        assert_eq!((INDICATORS.fields[0].get)(&i), Cell::Int(7));
    }
}
