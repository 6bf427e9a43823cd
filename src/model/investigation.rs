//! The automated Investigation entity (`docs/contract/investigations.md` §1): its states and its
//! wire shape, nine properties in the documented order, timestamps without fractional seconds.

use std::sync::Arc;

use serde::{ser::SerializeStruct, Deserialize, Serialize, Serializer};
use strum::{IntoStaticStr, VariantNames};
use time::{macros::format_description, OffsetDateTime};

use super::Machine;

/// `state` of an investigation (the documented set).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, VariantNames,
)]
pub(crate) enum InvestigationState {
    Unknown,
    Terminated,
    SuccessfullyRemediated,
    Benign,
    Failed,
    PartiallyRemediated,
    Running,
    PendingApproval,
    PendingResource,
    PartiallyInvestigated,
    TerminatedByUser,
    TerminatedBySystem,
    Queued,
    InnerFailure,
    PreexistingAlert,
    UnsupportedOs,
    UnsupportedAlertType,
    SuppressedAlert,
}

impl InvestigationState {
    /// The wire name.
    pub(crate) fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the investigation is over (it never changes again).
    pub(crate) fn is_terminal(self) -> bool {
        !matches!(
            self,
            Self::Queued | Self::Running | Self::PendingApproval | Self::PendingResource
        )
    }
}

/// A UTC instant in whole seconds, written as the investigation pages show it:
/// `2020-01-06T13:05:15Z` (kept truncated, so that `$filter` compares what a client reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct WholeSeconds(pub OffsetDateTime);

impl WholeSeconds {
    /// `t` without its fraction of a second.
    pub(crate) fn new(t: OffsetDateTime) -> Self {
        Self(t.replace_nanosecond(0).unwrap_or(t))
    }
}

impl Serialize for WholeSeconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        let utc = self.0.to_offset(time::UtcOffset::UTC);
        let text = utc.format(&fmt).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }
}

/// One investigation. `machine` is the machine it runs on, shared (its id, name and device
/// group never change).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Investigation {
    /// Numeric, increasing per tenant, as the wire writes it.
    pub id: String,
    pub start_time: WholeSeconds,
    pub end_time: Option<WholeSeconds>,
    pub state: InvestigationState,
    pub cancelled_by: Option<String>,
    pub status_details: Option<String>,
    pub machine: Arc<Machine>,
    pub triggering_alert_id: Option<String>,
}

impl Serialize for Investigation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Investigation", 9)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("startTime", &self.start_time)?;
        st.serialize_field("endTime", &self.end_time)?;
        st.serialize_field("state", &self.state)?;
        st.serialize_field("cancelledBy", &self.cancelled_by)?;
        st.serialize_field("statusDetails", &self.status_details)?;
        st.serialize_field("machineId", &*self.machine.id)?;
        st.serialize_field("computerDnsName", &*self.machine.computer_dns_name)?;
        st.serialize_field("triggeringAlertId", &self.triggering_alert_id)?;
        st.end()
    }
}
