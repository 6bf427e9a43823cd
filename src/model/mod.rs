//! Wire shapes of the Defender API: the MachineAction, Machine and Alert entities in their real property
//! order, the 7-digit UTC timestamp, and the OData envelopes around them (spec §4, §7, §8.1).

mod action;
mod alert;
mod ids;
mod indicator;
mod investigation;
mod machine;
mod odata;
mod timestamp;
mod user;
mod values;

pub(crate) use action::{
    ActionStatus, ActionType, Cancellation, MachineAction, RelatedFileInfo, REQUEST_SOURCE,
};
pub(crate) use alert::{
    Alert, AlertCategory, AlertComment, AlertSeverity, AlertStatus, AlertView, Classification,
    Determination, Evidence,
};
pub(crate) use ids::{MachineId, TenantId};
pub(crate) use indicator::{
    Indicator, IndicatorAction, IndicatorSeverity, IndicatorType, CREATED_BY_SOURCE,
};
pub(crate) use investigation::{Investigation, InvestigationState, WholeSeconds};
pub(crate) use machine::{Interning, Machine};
pub(crate) use odata::{Collection, Entity, OData};
pub(crate) use timestamp::Timestamp;
pub(crate) use user::LogonUser;

/// Largest request body the API accepts (emulator-decisions: over 1 MiB → 413).
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;
pub(crate) use values::{
    DeviceValue, ExposureLevel, HealthStatus, IsolationType, OnboardingStatus, RiskScore, ScanType,
    Scope,
};
