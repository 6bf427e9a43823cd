//! The Machine entity (spec §7.1): the documented properties plus those seen on the wire, in the
//! real order. Fixtures use the same field names, so a fixture file reads like an API response.

use serde::{Deserialize, Serialize};

use super::{DeviceValue, ExposureLevel, HealthStatus, OnboardingStatus, RiskScore, Timestamp};

/// One entry of `ipAddresses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct IpAddress {
    pub ip_address: String,
    #[serde(default)]
    pub mac_address: Option<String>,
    #[serde(rename = "type", default = "default_if_type")]
    pub if_type: String,
    #[serde(default = "default_op_status")]
    pub operational_status: String,
}

fn default_if_type() -> String {
    "Ethernet".to_owned()
}

fn default_op_status() -> String {
    "Up".to_owned()
}

/// The Machine entity. Optional wire fields default to what the real service sends for a
/// freshly onboarded device, so fixtures only spell out what matters to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Machine {
    pub id: String,
    #[serde(default)]
    pub merged_into_machine_id: Option<String>,
    #[serde(default)]
    pub is_potential_duplication: bool,
    #[serde(default)]
    pub is_excluded: bool,
    #[serde(default)]
    pub exclusion_reason: Option<String>,
    pub computer_dns_name: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub os_platform: String,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub os_processor: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub last_ip_address: Option<String>,
    #[serde(default)]
    pub last_external_ip_address: Option<String>,
    #[serde(default)]
    pub agent_version: Option<String>,
    #[serde(default)]
    pub os_build: Option<i64>,
    #[serde(default)]
    pub health_status: HealthStatus,
    #[serde(default)]
    pub device_value: Option<DeviceValue>,
    #[serde(default)]
    pub rbac_group_id: i64,
    #[serde(default)]
    pub rbac_group_name: Option<String>,
    #[serde(default)]
    pub risk_score: Option<RiskScore>,
    #[serde(default)]
    pub exposure_level: Option<ExposureLevel>,
    #[serde(default)]
    pub is_aad_joined: bool,
    #[serde(default)]
    pub aad_device_id: Option<String>,
    #[serde(default)]
    pub machine_tags: Vec<String>,
    #[serde(default)]
    pub defender_av_status: Option<String>,
    #[serde(default)]
    pub onboarding_status: OnboardingStatus,
    #[serde(default)]
    pub os_architecture: Option<String>,
    #[serde(default)]
    pub managed_by: Option<String>,
    #[serde(default)]
    pub managed_by_status: Option<String>,
    #[serde(default)]
    pub ip_addresses: Vec<IpAddress>,
    #[serde(default)]
    pub vm_metadata: Option<serde_json::Value>,
}
