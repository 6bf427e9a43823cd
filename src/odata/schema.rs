//! The entity sets' schemas: each property of `Machines` and `MachineActions`, its type as far as
//! `$filter` and `$orderby` need it, whether it may be filtered, and how to read it from a typed
//! row, so that queries run over the stored entities without serializing them.

use std::fmt;

use strum::VariantNames;
use time::OffsetDateTime;

use crate::model::{
    ActionStatus, ActionType, DeviceValue, ExposureLevel, HealthStatus, Machine, MachineAction,
    RiskScore,
};

/// A property's type, as far as filtering needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    /// A string restricted to these values (empty: any).
    Enum(&'static [&'static str]),
    Int,
    DateTime,
    Bool,
    StrList,
    /// Objects and other collections: selectable, not filterable.
    Complex,
}

impl Kind {
    /// The EDM type name OData error messages give the property.
    pub(super) fn edm(self) -> &'static str {
        match self {
            Kind::Str | Kind::Enum(_) => "Edm.String",
            Kind::Int => "Edm.Int64",
            Kind::DateTime => "Edm.DateTimeOffset",
            Kind::Bool => "Edm.Boolean",
            Kind::StrList => "Collection(Edm.String)",
            Kind::Complex => "Edm.ComplexType",
        }
    }
}

/// A property's value in a typed row, as `$filter` and `$orderby` compare it. Date-times are
/// truncated to the wire's 100 ns, so that a filter sees the instant a client reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Str(&'a str),
    Int(i64),
    Bool(bool),
    Time(OffsetDateTime),
    /// A GUID, compared as the string the wire writes (lower case, hyphenated).
    Guid(uuid::Uuid),
    List(&'a [String]),
    /// Not comparable (objects, other collections).
    Complex,
}

impl<'a> Cell<'a> {
    fn opt_str<S: std::ops::Deref<Target = str>>(s: &'a Option<S>) -> Self {
        s.as_deref().map_or(Cell::Null, Cell::Str)
    }

    fn name<T: Into<&'static str>>(v: T) -> Self {
        Cell::Str(v.into())
    }

    fn opt_name<T: Into<&'static str>>(v: Option<T>) -> Self {
        v.map_or(Cell::Null, |v| Cell::Str(v.into()))
    }

    /// A date-time cell, truncated to the wire's 100 ns.
    pub(super) fn time(t: OffsetDateTime) -> Self {
        let ns = t.nanosecond();
        Cell::Time(t.replace_nanosecond(ns - ns % 100).unwrap_or(t))
    }
}

/// Reads one property of a row.
pub(crate) type Getter<R> = for<'r> fn(&'r R) -> Cell<'r>;

/// One property of an entity type, read from rows of type `R`.
pub(crate) struct Field<R: 'static> {
    pub name: &'static str,
    pub kind: Kind,
    pub filterable: bool,
    pub get: Getter<R>,
}

impl<R> fmt::Debug for Field<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl<R> PartialEq for Field<R> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// An entity set: its name in `@odata.context`, its type name in messages, its properties.
#[derive(Debug)]
pub(crate) struct EntitySet<R: 'static> {
    pub name: &'static str,
    pub type_name: &'static str,
    pub fields: &'static [Field<R>],
}

impl<R> EntitySet<R> {
    /// The property `name` in any case (Microsoft's OData samples spell them in PascalCase:
    /// `ComputerDnsName`, `HealthStatus`), or an error naming the entity type. Output keeps the
    /// real camelCase: callers use the returned field's `name`.
    pub(crate) fn field(&self, name: &str) -> Result<&'static Field<R>, String> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .or_else(|| {
                self.fields
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(name))
            })
            .ok_or_else(|| {
                format!(
                    "Could not find a property named '{name}' on type 'microsoft.windowsDefenderATP.api.{}'.",
                    self.type_name
                )
            })
    }
}

/// One schema row: a property, its type, whether `$filter` may use it, and its getter.
const fn f<R>(name: &'static str, kind: Kind, filterable: bool, get: Getter<R>) -> Field<R> {
    Field {
        name,
        kind,
        filterable,
        get,
    }
}

/// A property that is never comparable (objects, other collections, always-null values).
fn complex<R>(_: &R) -> Cell<'_> {
    Cell::Complex
}

fn null<R>(_: &R) -> Cell<'_> {
    Cell::Null
}

/// `MachineActions` (spec §4.1; filterable per §5.2).
pub(crate) static MACHINE_ACTIONS: EntitySet<MachineAction> = EntitySet {
    name: "MachineActions",
    type_name: "MachineAction",
    fields: &[
        f("id", Kind::Str, true, |a| Cell::Guid(a.id)),
        f("type", Kind::Enum(ActionType::VARIANTS), true, |a| {
            Cell::Str(a.action_type.as_str())
        }),
        f("title", Kind::Str, false, null),
        f("requestor", Kind::Str, true, |a| Cell::Str(&a.requestor)),
        f("requestorComment", Kind::Str, false, |a| {
            Cell::Str(&a.requestor_comment)
        }),
        f("status", Kind::Enum(ActionStatus::VARIANTS), true, |a| {
            Cell::Str(a.status.as_str())
        }),
        f("machineId", Kind::Str, true, |a| Cell::Str(a.machine_id())),
        f("computerDnsName", Kind::Str, false, |a| {
            Cell::Str(a.computer_dns_name())
        }),
        f("creationDateTimeUtc", Kind::DateTime, true, |a| {
            Cell::time(a.creation_date_time_utc.0)
        }),
        f("lastUpdateDateTimeUtc", Kind::DateTime, false, |a| {
            Cell::time(a.last_update_date_time_utc.0)
        }),
        f("cancellationRequestor", Kind::Str, false, |a| {
            a.cancellation
                .as_deref()
                .map_or(Cell::Null, |c| Cell::Str(&c.requestor))
        }),
        f("cancellationComment", Kind::Str, false, |a| {
            a.cancellation
                .as_deref()
                .and_then(|c| c.comment.as_deref())
                .map_or(Cell::Null, Cell::Str)
        }),
        f("cancellationDateTimeUtc", Kind::DateTime, false, |a| {
            a.cancellation
                .as_deref()
                .map_or(Cell::Null, |c| Cell::time(c.at.0))
        }),
        f("errorHResult", Kind::Int, false, |_| Cell::Int(0)),
        f("scope", Kind::Str, false, |a| {
            a.scope.map_or(Cell::Null, |s| Cell::Str(s.as_str()))
        }),
        f("externalId", Kind::Str, false, null),
        f("requestSource", Kind::Str, false, |_| {
            Cell::Str(crate::model::REQUEST_SOURCE)
        }),
        f("relatedFileInfo", Kind::Complex, false, complex),
        f("commands", Kind::Complex, false, complex),
        f("troubleshootInfo", Kind::Str, false, null),
    ],
};

/// `Machines` (spec §7.1; filterable per §7.3).
pub(crate) static MACHINES: EntitySet<Machine> = EntitySet {
    name: "Machines",
    type_name: "Machine",
    fields: &[
        f("id", Kind::Str, true, |m| Cell::Str(&m.id)),
        f("mergedIntoMachineId", Kind::Str, false, |m| {
            Cell::opt_str(&m.merged_into_machine_id)
        }),
        f("isPotentialDuplication", Kind::Bool, false, |m| {
            Cell::Bool(m.is_potential_duplication)
        }),
        f("isExcluded", Kind::Bool, false, |m| {
            Cell::Bool(m.is_excluded)
        }),
        f("exclusionReason", Kind::Str, false, |m| {
            Cell::opt_str(&m.exclusion_reason)
        }),
        f("computerDnsName", Kind::Str, true, |m| {
            Cell::Str(&m.computer_dns_name)
        }),
        f("firstSeen", Kind::DateTime, false, |m| {
            Cell::time(m.first_seen.0)
        }),
        f("lastSeen", Kind::DateTime, true, |m| {
            Cell::time(m.last_seen.0)
        }),
        f("osPlatform", Kind::Str, true, |m| Cell::Str(&m.os_platform)),
        f("osVersion", Kind::Str, false, |m| {
            Cell::opt_str(&m.os_version)
        }),
        f("osProcessor", Kind::Str, false, |m| {
            Cell::opt_str(&m.os_processor)
        }),
        f("version", Kind::Str, true, |m| Cell::opt_str(&m.version)),
        f("lastIpAddress", Kind::Str, true, |m| {
            Cell::opt_str(&m.last_ip_address)
        }),
        f("lastExternalIpAddress", Kind::Str, false, |m| {
            Cell::opt_str(&m.last_external_ip_address)
        }),
        f("agentVersion", Kind::Str, false, |m| {
            Cell::opt_str(&m.agent_version)
        }),
        f("osBuild", Kind::Int, false, |m| {
            m.os_build.map_or(Cell::Null, Cell::Int)
        }),
        f(
            "healthStatus",
            Kind::Enum(HealthStatus::VARIANTS),
            true,
            |m| Cell::name(m.health_status),
        ),
        f(
            "deviceValue",
            Kind::Enum(DeviceValue::VARIANTS),
            true,
            |m| Cell::opt_name(m.device_value),
        ),
        f("rbacGroupId", Kind::Int, true, |m| {
            Cell::Int(m.rbac_group_id)
        }),
        f("rbacGroupName", Kind::Str, false, |m| {
            Cell::opt_str(&m.rbac_group_name)
        }),
        f("riskScore", Kind::Enum(RiskScore::VARIANTS), true, |m| {
            Cell::opt_name(m.risk_score)
        }),
        f(
            "exposureLevel",
            Kind::Enum(ExposureLevel::VARIANTS),
            true,
            |m| Cell::opt_name(m.exposure_level),
        ),
        f("isAadJoined", Kind::Bool, false, |m| {
            Cell::Bool(m.is_aad_joined)
        }),
        f("aadDeviceId", Kind::Str, true, |m| {
            Cell::opt_str(&m.aad_device_id)
        }),
        f("machineTags", Kind::StrList, true, |m| {
            Cell::List(&m.machine_tags)
        }),
        f("defenderAvStatus", Kind::Str, false, |m| {
            Cell::opt_str(&m.defender_av_status)
        }),
        f("onboardingStatus", Kind::Str, true, |m| {
            Cell::name(m.onboarding_status)
        }),
        f("osArchitecture", Kind::Str, false, |m| {
            Cell::opt_str(&m.os_architecture)
        }),
        f("managedBy", Kind::Str, false, |m| {
            Cell::opt_str(&m.managed_by)
        }),
        f("managedByStatus", Kind::Str, false, |m| {
            Cell::opt_str(&m.managed_by_status)
        }),
        f("ipAddresses", Kind::Complex, false, complex),
        f("vmMetadata", Kind::Complex, false, complex),
    ],
};
