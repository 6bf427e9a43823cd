//! The MachineAction entity (spec §4.1), kept compactly: the machine it acts on is shared, not
//! copied, and the values every action has alike (`title`, `errorHResult`, `requestSource`,
//! `commands`...) are written by the serializer, which emits the 20 properties in the real order,
//! nulls included.

use std::sync::Arc;

use serde::{ser::SerializeStruct, Deserialize, Serialize, Serializer};
use strum::{IntoStaticStr, VariantNames};
use uuid::Uuid;

use super::{Machine, Scope, Timestamp};

/// `type` of a MachineAction.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, VariantNames,
)]
pub(crate) enum ActionType {
    Isolate,
    Unisolate,
    RestrictCodeExecution,
    UnrestrictCodeExecution,
    RunAntiVirusScan,
    CollectInvestigationPackage,
    Offboard,
    StopAndQuarantineFile,
    LiveResponse,
}

impl ActionType {
    /// The wire name.
    pub(crate) fn as_str(self) -> &'static str {
        self.into()
    }
}

/// `status` of a MachineAction ("Cancelled" with double l, as on the wire).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, VariantNames,
)]
pub(crate) enum ActionStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    TimeOut,
    Cancelled,
}

impl ActionStatus {
    /// The wire name.
    pub(crate) fn as_str(self) -> &'static str {
        self.into()
    }

    /// Terminal statuses never change again.
    pub(crate) fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::InProgress)
    }
}

/// `relatedFileInfo` of a StopAndQuarantineFile action: the file's SHA-1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelatedFileInfo {
    pub sha1: Box<str>,
}

impl Serialize for RelatedFileInfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("RelatedFileInfo", 2)?;
        st.serialize_field("fileIdentifier", &*self.sha1)?;
        st.serialize_field("fileIdentifierType", "Sha1")?;
        st.end()
    }
}

/// Who cancelled an action, why and when.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cancellation {
    pub requestor: Arc<str>,
    pub comment: Option<Box<str>>,
    pub at: Timestamp,
}

/// A MachineAction. `machine` is the machine as it was when the action was created; only its id
/// and computer name (which never change) are read from it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MachineAction {
    pub id: Uuid,
    pub action_type: ActionType,
    pub status: ActionStatus,
    pub scope: Option<Scope>,
    pub machine: Arc<Machine>,
    pub requestor: Arc<str>,
    pub requestor_comment: Arc<str>,
    pub creation_date_time_utc: Timestamp,
    pub last_update_date_time_utc: Timestamp,
    pub cancellation: Option<Box<Cancellation>>,
    pub related_file_info: Option<RelatedFileInfo>,
}

impl MachineAction {
    /// `machineId`.
    pub(crate) fn machine_id(&self) -> &str {
        &self.machine.id
    }

    /// `computerDnsName`.
    pub(crate) fn computer_dns_name(&self) -> &str {
        &self.machine.computer_dns_name
    }
}

/// `requestSource` of every action made through this API.
pub(crate) const REQUEST_SOURCE: &str = "PublicApi";

impl Serialize for MachineAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let none: Option<&str> = None;
        let cancel = self.cancellation.as_deref();
        let mut st = s.serialize_struct("MachineAction", 20)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("type", &self.action_type)?;
        st.serialize_field("title", &none)?;
        st.serialize_field("requestor", &*self.requestor)?;
        st.serialize_field("requestorComment", &*self.requestor_comment)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("machineId", self.machine_id())?;
        st.serialize_field("computerDnsName", self.computer_dns_name())?;
        st.serialize_field("creationDateTimeUtc", &self.creation_date_time_utc)?;
        st.serialize_field("lastUpdateDateTimeUtc", &self.last_update_date_time_utc)?;
        st.serialize_field("cancellationRequestor", &cancel.map(|c| &*c.requestor))?;
        st.serialize_field(
            "cancellationComment",
            &cancel.and_then(|c| c.comment.as_deref()),
        )?;
        st.serialize_field("cancellationDateTimeUtc", &cancel.map(|c| c.at))?;
        st.serialize_field("errorHResult", &0)?;
        st.serialize_field("scope", &self.scope)?;
        st.serialize_field("externalId", &none)?;
        st.serialize_field("requestSource", REQUEST_SOURCE)?;
        st.serialize_field("relatedFileInfo", &self.related_file_info)?;
        st.serialize_field("commands", &[] as &[u8])?;
        st.serialize_field("troubleshootInfo", &none)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_the_constant_and_derived_properties() {
        let t = Timestamp::parse("2024-01-01T00:00:00Z").unwrap();
        let machine: Machine = serde_json::from_str(
            r#"{"id": "m", "computerDnsName": "d", "firstSeen": "2024-01-01T00:00:00Z",
                "lastSeen": "2024-01-01T00:00:00Z", "osPlatform": "Windows11"}"#,
        )
        .unwrap();
        let a = MachineAction {
            id: Uuid::nil(),
            action_type: ActionType::StopAndQuarantineFile,
            status: ActionStatus::Cancelled,
            scope: None,
            machine: Arc::new(machine),
            requestor: "r".into(),
            requestor_comment: "c".into(),
            creation_date_time_utc: t,
            last_update_date_time_utc: t,
            cancellation: Some(Box::new(Cancellation {
                requestor: "x".into(),
                comment: None,
                at: t,
            })),
            related_file_info: Some(RelatedFileInfo { sha1: "ab".into() }),
        };
        let v = serde_json::to_value(&a).unwrap();
        // The property order is checked against the OData schema (odata::tests).
        assert_eq!(v["machineId"], "m");
        assert_eq!(v["computerDnsName"], "d");
        assert_eq!(v["cancellationRequestor"], "x");
        assert_eq!(v["cancellationComment"], serde_json::Value::Null);
        assert_eq!(v["cancellationDateTimeUtc"], "2024-01-01T00:00:00.0000000Z");
        assert_eq!(v["errorHResult"], 0);
        assert_eq!(v["requestSource"], "PublicApi");
        assert_eq!(v["commands"], serde_json::json!([]));
        assert_eq!(
            v["relatedFileInfo"],
            serde_json::json!({"fileIdentifier": "ab", "fileIdentifierType": "Sha1"})
        );
    }
}
