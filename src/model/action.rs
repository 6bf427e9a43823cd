//! The MachineAction entity (spec §4.1): 20 properties in the real order, nulls emitted.

use serde::{Deserialize, Serialize};
use strum::{IntoStaticStr, VariantNames};
use uuid::Uuid;

use super::{Scope, Timestamp};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, VariantNames)]
pub(crate) enum ActionStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    TimeOut,
    Cancelled,
}

impl ActionStatus {
    /// Terminal statuses never change again.
    pub(crate) fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::InProgress)
    }
}

/// `relatedFileInfo` of a StopAndQuarantineFile action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RelatedFileInfo {
    pub file_identifier: String,
    pub file_identifier_type: String,
}

/// The MachineAction entity exactly as the real service writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MachineAction {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub action_type: ActionType,
    pub title: Option<String>,
    pub requestor: String,
    pub requestor_comment: String,
    pub status: ActionStatus,
    pub machine_id: String,
    pub computer_dns_name: String,
    pub creation_date_time_utc: Timestamp,
    pub last_update_date_time_utc: Timestamp,
    pub cancellation_requestor: Option<String>,
    pub cancellation_comment: Option<String>,
    pub cancellation_date_time_utc: Option<Timestamp>,
    pub error_h_result: i64,
    pub scope: Option<Scope>,
    pub external_id: Option<String>,
    pub request_source: String,
    pub related_file_info: Option<RelatedFileInfo>,
    pub commands: Vec<serde_json::Value>,
    pub troubleshoot_info: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_h_result_has_its_wire_name() {
        let t = Timestamp::parse("2024-01-01T00:00:00Z").unwrap();
        let a = MachineAction {
            id: Uuid::nil(),
            action_type: ActionType::Unisolate,
            title: None,
            requestor: "r".into(),
            requestor_comment: "c".into(),
            status: ActionStatus::Pending,
            machine_id: "m".into(),
            computer_dns_name: "d".into(),
            creation_date_time_utc: t,
            last_update_date_time_utc: t,
            cancellation_requestor: None,
            cancellation_comment: None,
            cancellation_date_time_utc: None,
            error_h_result: 0,
            scope: None,
            external_id: None,
            request_source: "PublicApi".into(),
            related_file_info: None,
            commands: vec![],
            troubleshoot_info: None,
        };
        let v = serde_json::to_value(&a).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert!(keys.contains(&"errorHResult".to_owned()), "{keys:?}");
    }
}
