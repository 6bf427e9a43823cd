//! The Indicator entity (custom threat intelligence, `docs/contract/indicators.md` §1): its enums
//! and its wire shape, the 31 properties of the real service in their real order, nulls included.

use serde::{ser::SerializeStruct, Serialize, Serializer};

use super::{values::wire_enum, Timestamp};

wire_enum!(
    /// `indicatorType`.
    IndicatorType { FileSha1, FileSha256, FileMd5, CertificateThumbprint, IpAddress, DomainName, Url }
);
wire_enum!(
    /// `action` (the current set, and the legacy `Alert` / `AlertAndBlock` still accepted).
    IndicatorAction { Warn, Block, Audit, Alert, AlertAndBlock, BlockAndRemediate, Allowed }
);
wire_enum!(
    /// `severity`.
    IndicatorSeverity { Informational, Low, Medium, High }
);

/// `createdBySource` of every indicator submitted through this API (observed wire value).
pub(crate) const CREATED_BY_SOURCE: &str = "PublicApi";

/// One indicator as stored and served.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Indicator {
    /// Numeric, increasing per tenant (kept as a number; written as a string).
    pub id: u64,
    pub indicator_value: String,
    pub indicator_type: IndicatorType,
    pub action: IndicatorAction,
    /// App id (apps) or UPN (users) of the submitter.
    pub created_by: String,
    pub severity: IndicatorSeverity,
    pub application: Option<String>,
    pub educate_url: Option<String>,
    pub title: String,
    pub description: String,
    pub recommended_actions: Option<String>,
    pub creation_time: Timestamp,
    pub expiration_time: Option<Timestamp>,
    pub last_update_time: Timestamp,
    pub last_updated_by: Option<String>,
    pub rbac_group_names: Vec<String>,
    pub rbac_group_ids: Vec<String>,
    pub generate_alert: bool,
    /// App display name or UPN of the submitter.
    pub created_by_display_name: String,
    pub external_id: Option<String>,
}

impl Indicator {
    /// `id` as the wire writes it.
    pub(crate) fn wire_id(&self) -> String {
        self.id.to_string()
    }

    /// Active at `now`: no expiration, or one still ahead.
    pub(crate) fn active_at(&self, now: time::OffsetDateTime) -> bool {
        self.expiration_time.is_none_or(|t| t.0 > now)
    }
}

impl Serialize for Indicator {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let none: Option<&str> = None;
        let empty: &[&str] = &[];
        let mut st = s.serialize_struct("Indicator", 31)?;
        st.serialize_field("id", &self.wire_id())?;
        st.serialize_field("indicatorValue", &self.indicator_value)?;
        st.serialize_field("indicatorType", &self.indicator_type)?;
        st.serialize_field("action", &self.action)?;
        st.serialize_field("createdBy", &self.created_by)?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("category", &1)?;
        st.serialize_field("application", &self.application)?;
        st.serialize_field("educateUrl", &self.educate_url)?;
        st.serialize_field("bypassDurationHours", &none)?;
        st.serialize_field("title", &self.title)?;
        st.serialize_field("description", &self.description)?;
        st.serialize_field("recommendedActions", &self.recommended_actions)?;
        st.serialize_field("creationTimeDateTimeUtc", &self.creation_time)?;
        st.serialize_field("expirationTime", &self.expiration_time)?;
        st.serialize_field("lastUpdateTime", &self.last_update_time)?;
        st.serialize_field("lastUpdatedBy", &self.last_updated_by)?;
        st.serialize_field("rbacGroupNames", &self.rbac_group_names)?;
        st.serialize_field("rbacGroupIds", &self.rbac_group_ids)?;
        st.serialize_field("notificationId", &none)?;
        st.serialize_field("notificationBody", &none)?;
        st.serialize_field("version", &none)?;
        st.serialize_field("mitreTechniques", empty)?;
        st.serialize_field("historicalDetection", &false)?;
        st.serialize_field("lookBackPeriod", &none)?;
        st.serialize_field("generateAlert", &self.generate_alert)?;
        st.serialize_field("additionalInfo", &none)?;
        st.serialize_field("createdByDisplayName", &self.created_by_display_name)?;
        st.serialize_field("externalId", &self.external_id)?;
        st.serialize_field("createdBySource", CREATED_BY_SOURCE)?;
        st.serialize_field("certificateInfo", &none)?;
        st.end()
    }
}
