//! The entity sets' schemas: each property of `Machines` and `MachineActions`, its type as far as
//! `$filter` and `$orderby` need it, and whether it may be filtered.

use strum::VariantNames;

use crate::model::{ActionStatus, ActionType, DeviceValue, ExposureLevel, HealthStatus, RiskScore};

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

/// One property of an entity type.
#[derive(Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub filterable: bool,
}

/// An entity set: its name in `@odata.context`, its type name in messages, its properties.
#[derive(Debug)]
pub(crate) struct EntitySet {
    pub name: &'static str,
    pub type_name: &'static str,
    pub fields: &'static [Field],
}

impl EntitySet {
    /// The property `name`, or an error naming the entity type (with a hint on a case slip).
    pub(crate) fn field(&self, name: &str) -> Result<&Field, String> {
        if let Some(f) = self.fields.iter().find(|f| f.name == name) {
            return Ok(f);
        }
        let hint = self
            .fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| {
                format!(
                    " Did you mean '{}'? Property names are case-sensitive.",
                    f.name
                )
            })
            .unwrap_or_default();
        Err(format!(
            "Could not find a property named '{name}' on type 'microsoft.windowsDefenderATP.api.{}'.{hint}",
            self.type_name
        ))
    }
}

/// One schema row: a property, its type and whether `$filter` may use it.
const fn f(name: &'static str, kind: Kind, filterable: bool) -> Field {
    Field {
        name,
        kind,
        filterable,
    }
}

/// `MachineActions` (spec §4.1; filterable per §5.2).
pub(crate) static MACHINE_ACTIONS: EntitySet = EntitySet {
    name: "MachineActions",
    type_name: "MachineAction",
    fields: &[
        f("id", Kind::Str, true),
        f("type", Kind::Enum(ActionType::VARIANTS), true),
        f("title", Kind::Str, false),
        f("requestor", Kind::Str, true),
        f("requestorComment", Kind::Str, false),
        f("status", Kind::Enum(ActionStatus::VARIANTS), true),
        f("machineId", Kind::Str, true),
        f("computerDnsName", Kind::Str, false),
        f("creationDateTimeUtc", Kind::DateTime, true),
        f("lastUpdateDateTimeUtc", Kind::DateTime, false),
        f("cancellationRequestor", Kind::Str, false),
        f("cancellationComment", Kind::Str, false),
        f("cancellationDateTimeUtc", Kind::DateTime, false),
        f("errorHResult", Kind::Int, false),
        f("scope", Kind::Str, false),
        f("externalId", Kind::Str, false),
        f("requestSource", Kind::Str, false),
        f("relatedFileInfo", Kind::Complex, false),
        f("commands", Kind::Complex, false),
        f("troubleshootInfo", Kind::Str, false),
    ],
};

/// `Machines` (spec §7.1; filterable per §7.3).
pub(crate) static MACHINES: EntitySet = EntitySet {
    name: "Machines",
    type_name: "Machine",
    fields: &[
        f("id", Kind::Str, true),
        f("mergedIntoMachineId", Kind::Str, false),
        f("isPotentialDuplication", Kind::Bool, false),
        f("isExcluded", Kind::Bool, false),
        f("exclusionReason", Kind::Str, false),
        f("computerDnsName", Kind::Str, true),
        f("firstSeen", Kind::DateTime, false),
        f("lastSeen", Kind::DateTime, true),
        f("osPlatform", Kind::Str, true),
        f("osVersion", Kind::Str, false),
        f("osProcessor", Kind::Str, false),
        f("version", Kind::Str, true),
        f("lastIpAddress", Kind::Str, true),
        f("lastExternalIpAddress", Kind::Str, false),
        f("agentVersion", Kind::Str, false),
        f("osBuild", Kind::Int, false),
        f("healthStatus", Kind::Enum(HealthStatus::VARIANTS), true),
        f("deviceValue", Kind::Enum(DeviceValue::VARIANTS), true),
        f("rbacGroupId", Kind::Int, true),
        f("rbacGroupName", Kind::Str, false),
        f("riskScore", Kind::Enum(RiskScore::VARIANTS), true),
        f("exposureLevel", Kind::Enum(ExposureLevel::VARIANTS), true),
        f("isAadJoined", Kind::Bool, false),
        f("aadDeviceId", Kind::Str, true),
        f("machineTags", Kind::StrList, true),
        f("defenderAvStatus", Kind::Str, false),
        f("onboardingStatus", Kind::Str, true),
        f("osArchitecture", Kind::Str, false),
        f("managedBy", Kind::Str, false),
        f("managedByStatus", Kind::Str, false),
        f("ipAddresses", Kind::Complex, false),
        f("vmMetadata", Kind::Complex, false),
    ],
};
