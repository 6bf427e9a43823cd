//! Discovery: OpenID configuration, JWKS, instance discovery and user realm, pointing back at the
//! emulator.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn discovery_documents_point_back_at_the_emulator() {
    let app = spawn_app().await;
    let tenant = fresh_tenant();
    let get =
        |path: String| app.send(Req::get(path).header("host", "login.microsoftonline.com:8443"));
    let r = get(format!("/{tenant}/v2.0/.well-known/openid-configuration")).await;
    assert_eq!(r.headers()["cache-control"], "max-age=86400, private");
    let v2: Value = r.json();
    assert_eq!(
        v2["token_endpoint"],
        format!("http://login.microsoftonline.com:8443/{tenant}/oauth2/v2.0/token")
    );
    assert_eq!(
        v2["authorization_endpoint"],
        format!("http://login.microsoftonline.com:8443/{tenant}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        v2["jwks_uri"],
        format!("http://login.microsoftonline.com:8443/{tenant}/discovery/v2.0/keys")
    );
    assert_eq!(
        v2["issuer"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0")
    );
    let v1: Value = get(format!("/{tenant}/.well-known/openid-configuration"))
        .await
        .json();
    assert_eq!(v1["issuer"], format!("https://sts.windows.net/{tenant}/"));
    assert_eq!(
        v1["token_endpoint"],
        format!("http://login.microsoftonline.com:8443/{tenant}/oauth2/token")
    );
    assert_eq!(
        v1["jwks_uri"],
        "http://login.microsoftonline.com:8443/common/discovery/keys"
    );
    let common: Value = get("/common/v2.0/.well-known/openid-configuration".into())
        .await
        .json();
    assert_eq!(
        common["issuer"],
        "https://login.microsoftonline.com/{tenantid}/v2.0"
    );

    let keys = app.mock_get("/common/discovery/keys").await;
    let k = &keys["keys"][0];
    assert_eq!(
        (k["kty"].clone(), k["use"].clone(), k["e"].clone()),
        (json!("RSA"), json!("sig"), json!("AQAB"))
    );
    assert_eq!(k["kid"], k["x5t"]);
    assert!(k["x5c"][0].as_str().unwrap().len() > 500);
    assert!(k.get("issuer").is_none(), "v1 key sets carry no issuer");
    let keys2 = app
        .mock_get(&format!("/{tenant}/discovery/v2.0/keys"))
        .await;
    assert_eq!(
        keys2["keys"][0]["issuer"],
        format!("https://login.microsoftonline.com/{tenant}/v2.0")
    );

    let inst: Value = get(format!("/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"))
    .await
    .json();
    assert_eq!(
        inst["tenant_discovery_endpoint"],
        format!(
            "http://login.microsoftonline.com:8443/{tenant}/v2.0/.well-known/openid-configuration"
        )
    );
    assert_eq!(inst["api-version"], "1.1");
    assert_eq!(
        inst["metadata"][0]["aliases"],
        json!(["login.microsoftonline.com:8443"])
    );
}

#[tokio::test]
async fn user_realm_discovery_says_managed() {
    let app = spawn_app().await;
    let b = app
        .mock_get("/common/userrealm/alice@contoso.com?api-version=1.0")
        .await;
    assert_eq!(
        (b["account_type"].clone(), b["domain_name"].clone()),
        (json!("Managed"), json!("contoso.com"))
    );
}
