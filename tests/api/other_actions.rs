//! The other machine actions (spec §6): each one's 201, permission 403, duplicate 400, OS 400.

use serde_json::{json, Value};

use crate::helpers::*;

struct Case {
    action: &'static str,
    role: &'static str,
    body: Value,
    ok_machine: &'static str,
    unsupported_machine: &'static str,
    wire_type: &'static str,
    scope: Value,
}

fn cases() -> Vec<Case> {
    let sha1 = "4c4a7b3e1d2f5a6b7c8d9e0f1a2b3c4d5e6f7a8b";
    vec![
        Case {
            action: "restrictCodeExecution",
            role: "Machine.RestrictExecution",
            body: json!({}),
            ok_machine: "fin-lt-0142",
            unsupported_machine: "sql-prod-01",
            wire_type: "RestrictCodeExecution",
            scope: Value::Null,
        },
        Case {
            action: "unrestrictCodeExecution",
            role: "Machine.RestrictExecution",
            body: json!({}),
            ok_machine: "kiosk-lobby-01",
            unsupported_machine: "web-lnx-01",
            wire_type: "UnrestrictCodeExecution",
            scope: Value::Null,
        },
        Case {
            action: "runAntiVirusScan",
            role: "Machine.Scan",
            body: json!({"ScanType": "Quick"}),
            ok_machine: "hr-dt-0031",
            unsupported_machine: "design-mbp-0012",
            wire_type: "RunAntiVirusScan",
            scope: json!("Quick"),
        },
        Case {
            action: "collectInvestigationPackage",
            role: "Machine.CollectForensics",
            body: json!({}),
            ok_machine: "web-lnx-01",
            unsupported_machine: "byod-phone-77",
            wire_type: "CollectInvestigationPackage",
            scope: Value::Null,
        },
        Case {
            action: "offboard",
            role: "Machine.Offboard",
            body: json!({}),
            ok_machine: "eng-ws-0230",
            unsupported_machine: "k8s-node-07",
            wire_type: "Offboard",
            scope: Value::Null,
        },
        Case {
            action: "StopAndQuarantineFile",
            role: "Machine.StopAndQuarantine",
            body: json!({"Sha1": sha1}),
            ok_machine: "exec-lt-0001",
            unsupported_machine: "web-lnx-02",
            wire_type: "StopAndQuarantineFile",
            scope: Value::Null,
        },
    ]
}

#[tokio::test]
async fn each_action_answers_201_403_duplicate_400_and_os_400() {
    let app = spawn_app().await;
    for c in cases() {
        let token = app.token(&[c.role, "Machine.Read.All"]);
        let r = app
            .act(&token, &machine_id(c.ok_machine), c.action, c.body.clone())
            .await;
        assert_eq!(r.status(), 201, "{}", c.action);
        let b: Value = r.json();
        assert_eq!(b["type"], c.wire_type);
        assert_eq!(b["scope"], c.scope, "{}", c.action);
        assert_eq!(b["status"], "Pending");

        let dup = app
            .act(&token, &machine_id(c.ok_machine), c.action, c.body.clone())
            .await;
        assert_error(dup, 400, "ActiveRequestAlreadyExists");

        let os = app
            .act(
                &token,
                &machine_id(c.unsupported_machine),
                c.action,
                c.body.clone(),
            )
            .await;
        assert_error(os, 400, "OsPlatformNotSupported");

        let wrong = app.token(&["Machine.Isolate", "Machine.Read.All"]);
        assert_error_containing(
            app.act(&wrong, &machine_id(c.ok_machine), c.action, c.body.clone())
                .await,
            403,
            "Forbidden",
            c.role,
        );
    }
}

#[tokio::test]
async fn restrict_and_unrestrict_share_a_conflict_group_and_flip_state_at_succeeded() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.RestrictExecution"]);
    let id = machine_id("fin-lt-0142");
    assert_eq!(
        app.act(&t, &id, "restrictCodeExecution", json!({}))
            .await
            .status(),
        201
    );
    assert_error(
        app.act(&t, &id, "unrestrictCodeExecution", json!({})).await,
        400,
        "ActiveRequestAlreadyExists",
    );
    // Another group is free.
    assert_eq!(app.isolate(&app.admin_token(), &id).await.status(), 201);
    app.advance(59.0).await;
    assert_eq!(
        app.machine_view(&id, None).await["appExecutionRestricted"],
        false
    );
    app.advance(1.0).await;
    assert_eq!(
        app.machine_view(&id, None).await["appExecutionRestricted"],
        true
    );
}

#[tokio::test]
async fn scan_type_defaults_to_full_and_rejects_unknown_values() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.Scan"]);
    let b: Value = app
        .act(
            &t,
            &machine_id("fin-lt-0142"),
            "runAntiVirusScan",
            json!({}),
        )
        .await
        .json();
    assert_eq!(b["scope"], "Full");
    assert_error(
        app.act(
            &t,
            &machine_id("hr-dt-0031"),
            "runAntiVirusScan",
            json!({"ScanType": "Deep"}),
        )
        .await,
        400,
        "InvalidInput",
    );
}

#[tokio::test]
async fn stop_and_quarantine_validates_sha1_and_conflicts_per_file() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.StopAndQuarantine"]);
    let id = machine_id("exec-lt-0001");
    assert_error_message(
        app.act(&t, &id, "StopAndQuarantineFile", json!({})).await,
        400,
        "MissingRequiredParameter",
        "Parameter Sha1 is missing",
    );
    assert_error_message(
        app.act(&t, &id, "stopandquarantinefile", json!({"Sha1": "xyz"}))
            .await,
        400,
        "InvalidHashValue",
        "Hash value xyz is invalid.",
    );
    let sha1 = "87662BC3D60E4200CEAF7AAE249D1C343F4B83C9";
    let r = app
        .act(&t, &id, "StopAndQuarantineFile", json!({"Sha1": sha1}))
        .await;
    let b: Value = r.json();
    assert_eq!(
        b["relatedFileInfo"],
        json!({"fileIdentifier": sha1.to_lowercase(), "fileIdentifierType": "Sha1"})
    );
    assert_error(
        app.act(
            &t,
            &id,
            "StopAndQuarantineFile",
            json!({"Sha1": sha1.to_lowercase()}),
        )
        .await,
        400,
        "ActiveRequestAlreadyExists",
    );
    let other = "1111111111111111111111111111111111111111";
    assert_eq!(
        app.act(&t, &id, "StopAndQuarantineFile", json!({"Sha1": other}))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn offboard_needs_a_comment_and_offboards_at_succeeded() {
    let app = spawn_app().await;
    let t = app.token(&["Machine.Offboard", "Machine.Read.All"]);
    let id = machine_id("eng-ws-0230");
    let r = app
        .post_json(&format!("/api/machines/{id}/offboard"), &t, &json!({}))
        .await;
    assert_error(r, 400, "MissingRequiredParameter");
    assert_eq!(app.act(&t, &id, "offboard", json!({})).await.status(), 201);
    app.advance(60.0).await;
    let m: Value = app.get_machine(&t, &id).await.json();
    assert_eq!(
        (m["onboardingStatus"].clone(), m["healthStatus"].clone()),
        (json!("Offboarded"), json!("Inactive"))
    );
}
