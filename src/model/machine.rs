//! The Machine entity (spec §7.1): the documented properties plus those seen on the wire, in the
//! real order. Fixtures use the same field names, so a fixture file reads like an API response.
//!
//! Kept compactly, since a fleet has thousands: strings are boxed slices, and the values machines
//! share (platforms, versions, device groups, statuses) are one `Arc<str>` each, interned while a
//! fleet is parsed (see [`Interning`]).

use std::{cell::RefCell, collections::HashSet, sync::Arc};

use serde::{Deserialize, Deserializer, Serialize};

use super::{DeviceValue, ExposureLevel, HealthStatus, OnboardingStatus, RiskScore, Timestamp};

thread_local! {
    /// The strings interned on this thread while an [`Interning`] is alive.
    static POOL: RefCell<Option<HashSet<Arc<str>>>> = const { RefCell::new(None) };
}

/// While alive, machines deserialized on this thread share one `Arc<str>` per distinct value of
/// their repeated fields. Dropping it forgets the pool (the machines keep their strings).
#[derive(Debug)]
pub(crate) struct Interning(());

impl Interning {
    pub(crate) fn start() -> Self {
        POOL.with(|p| *p.borrow_mut() = Some(HashSet::new()));
        Self(())
    }
}

impl Drop for Interning {
    fn drop(&mut self) {
        POOL.with(|p| *p.borrow_mut() = None);
    }
}

/// `s` as a shared string: the pooled copy when interning, else a new one.
fn intern(s: &str) -> Arc<str> {
    POOL.with(|p| match p.borrow_mut().as_mut() {
        Some(pool) => {
            if let Some(shared) = pool.get(s) {
                return Arc::clone(shared);
            }
            let shared: Arc<str> = s.into();
            pool.insert(Arc::clone(&shared));
            shared
        }
        None => s.into(),
    })
}

/// A string machines share (interned while a fleet is parsed).
fn shared<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    Ok(intern(&s))
}

/// An optional string machines share.
fn shared_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<str>>, D::Error> {
    let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
    Ok(s.map(|s| intern(&s)))
}

/// One entry of `ipAddresses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct IpAddress {
    pub ip_address: Box<str>,
    #[serde(default)]
    pub mac_address: Option<Box<str>>,
    #[serde(
        rename = "type",
        default = "default_if_type",
        deserialize_with = "shared"
    )]
    pub if_type: Arc<str>,
    #[serde(default = "default_op_status", deserialize_with = "shared")]
    pub operational_status: Arc<str>,
}

fn default_if_type() -> Arc<str> {
    intern("Ethernet")
}

fn default_op_status() -> Arc<str> {
    intern("Up")
}

/// The Machine entity. Optional wire fields default to what the real service sends for a
/// freshly onboarded device, so fixtures only spell out what matters to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Machine {
    pub id: Box<str>,
    #[serde(default)]
    pub merged_into_machine_id: Option<Box<str>>,
    #[serde(default)]
    pub is_potential_duplication: bool,
    #[serde(default)]
    pub is_excluded: bool,
    #[serde(default, deserialize_with = "shared_opt")]
    pub exclusion_reason: Option<Arc<str>>,
    pub computer_dns_name: Box<str>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    #[serde(deserialize_with = "shared")]
    pub os_platform: Arc<str>,
    #[serde(default, deserialize_with = "shared_opt")]
    pub os_version: Option<Arc<str>>,
    #[serde(default, deserialize_with = "shared_opt")]
    pub os_processor: Option<Arc<str>>,
    #[serde(default, deserialize_with = "shared_opt")]
    pub version: Option<Arc<str>>,
    #[serde(default)]
    pub last_ip_address: Option<Box<str>>,
    #[serde(default)]
    pub last_external_ip_address: Option<Box<str>>,
    #[serde(default, deserialize_with = "shared_opt")]
    pub agent_version: Option<Arc<str>>,
    #[serde(default)]
    pub os_build: Option<i64>,
    #[serde(default)]
    pub health_status: HealthStatus,
    #[serde(default)]
    pub device_value: Option<DeviceValue>,
    #[serde(default)]
    pub rbac_group_id: i64,
    #[serde(default, deserialize_with = "shared_opt")]
    pub rbac_group_name: Option<Arc<str>>,
    #[serde(default)]
    pub risk_score: Option<RiskScore>,
    #[serde(default)]
    pub exposure_level: Option<ExposureLevel>,
    #[serde(default)]
    pub is_aad_joined: bool,
    #[serde(default)]
    pub aad_device_id: Option<Box<str>>,
    #[serde(default)]
    pub machine_tags: Vec<String>,
    #[serde(default, deserialize_with = "shared_opt")]
    pub defender_av_status: Option<Arc<str>>,
    #[serde(default)]
    pub onboarding_status: OnboardingStatus,
    #[serde(default, deserialize_with = "shared_opt")]
    pub os_architecture: Option<Arc<str>>,
    #[serde(default, deserialize_with = "shared_opt")]
    pub managed_by: Option<Arc<str>>,
    #[serde(default, deserialize_with = "shared_opt")]
    pub managed_by_status: Option<Arc<str>>,
    #[serde(default)]
    pub ip_addresses: Box<[IpAddress]>,
    #[serde(default)]
    pub vm_metadata: Option<Box<serde_json::Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_values_are_shared_while_interning() {
        let json = |id: &str| {
            format!(
                r#"{{"id": "{id}", "computerDnsName": "d", "firstSeen": "2024-01-01T00:00:00Z",
                    "lastSeen": "2024-01-01T00:00:00Z", "osPlatform": "Windows11",
                    "ipAddresses": [{{"ipAddress": "10.0.0.1"}}]}}"#
            )
        };
        let parse = |id: &str| serde_json::from_str::<Machine>(&json(id)).unwrap();
        let (a, b) = {
            let _pool = Interning::start();
            (parse("a"), parse("b"))
        };
        assert!(Arc::ptr_eq(&a.os_platform, &b.os_platform));
        assert!(Arc::ptr_eq(
            &a.ip_addresses[0].if_type,
            &b.ip_addresses[0].if_type
        ));
        let c = parse("c");
        assert!(
            !Arc::ptr_eq(&a.os_platform, &c.os_platform),
            "no pool, no sharing"
        );
        assert_eq!(a.os_platform, c.os_platform);
        assert_eq!(&*a.ip_addresses[0].operational_status, "Up");
    }
}
