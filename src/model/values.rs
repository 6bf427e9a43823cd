//! The closed value sets of the wire, as enums: each spells its wire names once (serde and
//! `strum`), and the OData schema, body validation and fixture checks all read them from here.

use serde::Serialize;

/// Declares a wire enum: exact-case serde names (fixtures and responses), case-insensitive
/// `FromStr` (request bodies: "values match in any case"), `&'static str` names (`as_str`),
/// `VARIANTS`. Every entity's value sets (machines, alerts, indicators) are declared with it.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$va:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
            strum::EnumString, strum::IntoStaticStr, strum::VariantNames,
        )]
        #[strum(ascii_case_insensitive)]
        pub(crate) enum $name { $($(#[$va])* $variant),+ }

        impl $name {
            /// The wire name.
            #[allow(dead_code, reason = "not every value set is written as text")]
            pub(crate) fn as_str(self) -> &'static str {
                self.into()
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// `IsolationType` of an isolate request, and the isolation scope of a machine.
    IsolationType { Full, Selective, UnManagedDevice }
);
wire_enum!(
    /// `ScanType` of an antivirus scan request.
    ScanType { Quick, Full }
);
wire_enum!(
    /// `healthStatus` of a machine (spec §7.1).
    #[derive(Default)]
    HealthStatus {
        #[default]
        Active,
        Inactive,
        ImpairedCommunication,
        NoSensorData,
        NoSensorDataImpairedCommunication,
        Unknown,
    }
);
wire_enum!(
    /// `onboardingStatus` of a machine; `Offboarded` is what an offboard action leaves.
    #[derive(Default)]
    OnboardingStatus { #[default] Onboarded, CanBeOnboarded, Unsupported, InsufficientInfo, Offboarded }
);
wire_enum!(
    /// `riskScore` of a machine.
    RiskScore { None, Informational, Low, Medium, High }
);
wire_enum!(
    /// `exposureLevel` of a machine.
    ExposureLevel { None, Low, Medium, High }
);
wire_enum!(
    /// `deviceValue` of a machine.
    DeviceValue { Normal, Low, High }
);

/// The scope of an action as the MachineAction's `scope` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum Scope {
    Isolation(IsolationType),
    Scan(ScanType),
}

impl Scope {
    /// The wire name of the isolation or scan type.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scope::Isolation(t) => t.into(),
            Scope::Scan(t) => t.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantNames;

    #[test]
    fn names_parse_in_any_case_and_serialize_exactly() {
        assert_eq!(
            "unmanageddevice".parse::<IsolationType>().ok(),
            Some(IsolationType::UnManagedDevice)
        );
        assert_eq!(
            <&str>::from(IsolationType::UnManagedDevice),
            "UnManagedDevice"
        );
        assert_eq!(
            serde_json::to_string(&HealthStatus::NoSensorData)
                .ok()
                .as_deref(),
            Some("\"NoSensorData\"")
        );
        assert!(serde_json::from_str::<HealthStatus>("\"active\"").is_err());
        assert_eq!(ScanType::VARIANTS, ["Quick", "Full"]);
    }
}
