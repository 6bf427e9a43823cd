//! `GET /api/machines/{id}`: the full Machine entity, by id or name, on any Host and API version.

use serde_json::Value;

use crate::helpers::*;

const ORDER: &[&str] = &[
    "@odata.context",
    "id",
    "mergedIntoMachineId",
    "isPotentialDuplication",
    "isExcluded",
    "exclusionReason",
    "computerDnsName",
    "firstSeen",
    "lastSeen",
    "osPlatform",
    "osVersion",
    "osProcessor",
    "version",
    "lastIpAddress",
    "lastExternalIpAddress",
    "agentVersion",
    "osBuild",
    "healthStatus",
    "deviceValue",
    "rbacGroupId",
    "rbacGroupName",
    "riskScore",
    "exposureLevel",
    "isAadJoined",
    "aadDeviceId",
    "machineTags",
    "defenderAvStatus",
    "onboardingStatus",
    "osArchitecture",
    "managedBy",
    "managedByStatus",
    "ipAddresses",
    "vmMetadata",
];

#[tokio::test]
async fn a_machine_has_every_wire_property_in_the_real_order() {
    let app = spawn_app().await;
    let id = machine_id("dc01");
    let r = app.get_machine(&app.admin_token(), &id).await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json();
    let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ORDER);
    assert_eq!(
        b["@odata.context"],
        format!("{}/api/$metadata#Machines/$entity", app.url)
    );
    assert!(b["rbacGroupId"].is_number());
    assert_eq!(b["onboardingStatus"], "Onboarded");
}

#[tokio::test]
async fn a_machine_is_found_by_computer_name() {
    let app = spawn_app().await;
    for name in ["dc01.corp.contoso.com", "DC01"] {
        let r = app.get_machine(&app.admin_token(), name).await;
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.json::<Value>()["id"], machine_id("dc01").as_str());
    }
    let r = app.get_machine(&app.admin_token(), "no-such-host").await;
    assert_error_message(
        r,
        404,
        "ResourceNotFound",
        "Machine no-such-host was not found",
    );
}

#[tokio::test]
async fn versioned_paths_and_regional_hosts_are_served_and_echoed_in_the_context() {
    let app = spawn_app().await;
    let id = machine_id("dc01");
    let req = Req::get(format!("/api/v1.0/Machines/{id}"))
        .header("host", "eu.api.security.microsoft.com")
        .bearer(&app.admin_token());
    let r = app.send(req).await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json();
    assert_eq!(
        b["@odata.context"],
        "http://eu.api.security.microsoft.com/api/$metadata#Machines/$entity"
    );
}
