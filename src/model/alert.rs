//! The Alert entity (docs/contract/alerts.md §1): its documented properties plus those seen on
//! the wire (`loggedOnUsers`, `domains`, evidence `registryValueName`), in the real order, its
//! closed value sets, and the nested comment, evidence and user shapes. Fixtures use the wire
//! names, so an alerts file reads like an API response.

use serde::{Deserialize, Serialize};

use super::{values::wire_enum, InvestigationState, Timestamp};

wire_enum!(
    /// `severity` (§1.4).
    AlertSeverity { UnSpecified, Informational, Low, Medium, High }
);
wire_enum!(
    /// `status` (§1.4); an update may set `New`, `InProgress` or `Resolved`.
    AlertStatus { Unknown, New, InProgress, Resolved }
);
wire_enum!(
    /// `classification` (§1.4; decision 3: the update page's `InformationalExpectedActivity` is
    /// written, the resource page's display text is accepted on input).
    Classification {
        TruePositive,
        #[serde(alias = "Informational, expected activity")]
        #[strum(
            to_string = "InformationalExpectedActivity",
            serialize = "Informational, expected activity"
        )]
        InformationalExpectedActivity,
        FalsePositive,
    }
);
wire_enum!(
    /// `determination` (§1.4; decision 4: the resource and batch pages' names are written, the
    /// update page's `ConfirmedActivity` and `NotMalicious` accepted on input).
    Determination {
        MultiStagedAttack,
        MaliciousUserActivity,
        CompromisedUser,
        Malware,
        Phishing,
        UnwantedSoftware,
        SecurityTesting,
        LineOfBusinessApplication,
        #[serde(alias = "ConfirmedActivity")]
        #[strum(to_string = "ConfirmedUserActivity", serialize = "ConfirmedActivity")]
        ConfirmedUserActivity,
        #[serde(alias = "NotMalicious")]
        #[strum(to_string = "Clean", serialize = "NotMalicious")]
        Clean,
        InsufficientData,
        Other,
    }
);
wire_enum!(
    /// `category`: the values CreateAlertByReference documents (§1.4).
    AlertCategory {
        General,
        CommandAndControl,
        Collection,
        CredentialAccess,
        DefenseEvasion,
        Discovery,
        Exfiltration,
        Exploit,
        Execution,
        InitialAccess,
        LateralMovement,
        Malware,
        Persistence,
        PrivilegeEscalation,
        Ransomware,
        SuspiciousActivity,
    }
);

/// An alert comment (`createdTime` on the wire, whatever the resource table says).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AlertComment {
    pub comment: String,
    pub created_by: String,
    pub created_time: Timestamp,
}

/// `relatedUser`: an object on the wire (the table says String).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RelatedUser {
    pub user_name: String,
    pub domain_name: String,
}

/// One of `loggedOnUsers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LoggedOnUser {
    pub account_name: String,
    pub domain_name: String,
}

/// One evidence item: every key always written, null when it does not apply.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub(crate) struct Evidence {
    pub entity_type: String,
    pub evidence_creation_time: Option<Timestamp>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub file_name: Option<String>,
    pub file_path: Option<String>,
    pub process_id: Option<i64>,
    pub process_command_line: Option<String>,
    pub process_creation_time: Option<Timestamp>,
    pub parent_process_id: Option<i64>,
    pub parent_process_creation_time: Option<Timestamp>,
    pub parent_process_file_name: Option<String>,
    pub parent_process_file_path: Option<String>,
    pub ip_address: Option<String>,
    pub url: Option<String>,
    pub registry_key: Option<String>,
    pub registry_hive: Option<String>,
    pub registry_value_type: Option<String>,
    pub registry_value: Option<String>,
    pub registry_value_name: Option<String>,
    pub account_name: Option<String>,
    pub domain_name: Option<String>,
    pub user_sid: Option<String>,
    pub aad_user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub detection_status: Option<String>,
}

/// A stored alert. `aadTenantId` is not stored: it is the tenant that reads the alert (so the
/// fixture alerts every tenant shares read as that tenant's).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Alert {
    pub id: String,
    #[serde(default)]
    pub incident_id: Option<i64>,
    #[serde(default)]
    pub investigation_id: Option<i64>,
    #[serde(default)]
    pub assigned_to: Option<String>,
    pub severity: AlertSeverity,
    pub status: AlertStatus,
    #[serde(default)]
    pub classification: Option<Classification>,
    #[serde(default)]
    pub determination: Option<Determination>,
    #[serde(default)]
    pub investigation_state: Option<InvestigationState>,
    #[serde(default)]
    pub detection_source: Option<String>,
    #[serde(default)]
    pub detector_id: Option<String>,
    pub category: AlertCategory,
    #[serde(default)]
    pub threat_family_name: Option<String>,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub alert_creation_time: Timestamp,
    #[serde(default)]
    pub first_event_time: Option<Timestamp>,
    #[serde(default)]
    pub last_event_time: Option<Timestamp>,
    pub last_update_time: Timestamp,
    #[serde(default)]
    pub resolved_time: Option<Timestamp>,
    pub machine_id: String,
    /// Filled from the machine when a fixture leaves it out.
    #[serde(default)]
    pub computer_dns_name: Option<String>,
    /// Always the machine's device group (read from it when the alert is loaded or raised).
    #[serde(default)]
    pub rbac_group_name: Option<String>,
    /// Accepted in fixtures (they read like API responses) and ignored: see the type's doc.
    #[serde(default, rename = "aadTenantId")]
    pub _aad_tenant_id: Option<String>,
    #[serde(default)]
    pub threat_name: Option<String>,
    #[serde(default)]
    pub mitre_techniques: Vec<String>,
    #[serde(default)]
    pub related_user: Option<RelatedUser>,
    #[serde(default)]
    pub logged_on_users: Vec<LoggedOnUser>,
    #[serde(default)]
    pub comments: Vec<AlertComment>,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Wire key seen as `[]` in every capture; fixtures may list host names.
    #[serde(default)]
    pub domains: Vec<String>,
}

/// An alert as one tenant reads it: the wire entity, with `evidence` written or left `[]`.
#[derive(Debug, Clone)]
pub(crate) struct AlertView {
    pub alert: std::sync::Arc<Alert>,
    pub tenant: super::TenantId,
    pub with_evidence: bool,
}

/// The wire order (§1.2, with `loggedOnUsers` and `domains` where real responses have them).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    id: &'a str,
    incident_id: Option<i64>,
    investigation_id: Option<i64>,
    assigned_to: Option<&'a str>,
    severity: AlertSeverity,
    status: AlertStatus,
    classification: Option<Classification>,
    determination: Option<Determination>,
    investigation_state: Option<InvestigationState>,
    detection_source: Option<&'a str>,
    detector_id: Option<&'a str>,
    category: AlertCategory,
    threat_family_name: Option<&'a str>,
    title: &'a str,
    description: Option<&'a str>,
    alert_creation_time: Timestamp,
    first_event_time: Option<Timestamp>,
    last_event_time: Option<Timestamp>,
    last_update_time: Timestamp,
    resolved_time: Option<Timestamp>,
    machine_id: &'a str,
    computer_dns_name: Option<&'a str>,
    rbac_group_name: Option<&'a str>,
    aad_tenant_id: &'a str,
    threat_name: Option<&'a str>,
    mitre_techniques: &'a [String],
    related_user: Option<&'a RelatedUser>,
    logged_on_users: &'a [LoggedOnUser],
    comments: &'a [AlertComment],
    evidence: &'a [Evidence],
    domains: &'a [String],
}

impl Serialize for AlertView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = &*self.alert;
        Wire {
            id: &a.id,
            incident_id: a.incident_id,
            investigation_id: a.investigation_id,
            assigned_to: a.assigned_to.as_deref(),
            severity: a.severity,
            status: a.status,
            classification: a.classification,
            determination: a.determination,
            investigation_state: a.investigation_state,
            detection_source: a.detection_source.as_deref(),
            detector_id: a.detector_id.as_deref(),
            category: a.category,
            threat_family_name: a.threat_family_name.as_deref(),
            title: &a.title,
            description: a.description.as_deref(),
            alert_creation_time: a.alert_creation_time,
            first_event_time: a.first_event_time,
            last_event_time: a.last_event_time,
            last_update_time: a.last_update_time,
            resolved_time: a.resolved_time,
            machine_id: &a.machine_id,
            computer_dns_name: a.computer_dns_name.as_deref(),
            rbac_group_name: a.rbac_group_name.as_deref(),
            aad_tenant_id: self.tenant.as_str(),
            threat_name: a.threat_name.as_deref(),
            mitre_techniques: &a.mitre_techniques,
            related_user: a.related_user.as_ref(),
            logged_on_users: &a.logged_on_users,
            comments: &a.comments,
            evidence: if self.with_evidence { &a.evidence } else { &[] },
            domains: &a.domains,
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_parse_and_canonical_names_are_written() {
        assert_eq!(
            "ConfirmedActivity".parse::<Determination>().ok(),
            Some(Determination::ConfirmedUserActivity)
        );
        assert_eq!(
            "notmalicious".parse::<Determination>().ok(),
            Some(Determination::Clean)
        );
        assert_eq!(
            <&str>::from(Determination::ConfirmedUserActivity),
            "ConfirmedUserActivity"
        );
        assert_eq!(
            "Informational, expected activity"
                .parse::<Classification>()
                .ok(),
            Some(Classification::InformationalExpectedActivity)
        );
        assert_eq!(
            serde_json::to_string(&Classification::InformationalExpectedActivity).ok(),
            Some("\"InformationalExpectedActivity\"".into())
        );
        assert!("Apt".parse::<Determination>().is_err());
    }
}
