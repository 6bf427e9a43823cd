//! The resource a token request names (v1 `resource=`, v2 `scope=`), the scopes a password
//! request asks for, and whether Entra would know that resource.

use std::collections::HashMap;

use super::{Ctx, TokenVersion};
use crate::{auth::permissions::ACCEPTED_AUDIENCES, error::Result};

/// OpenID Connect scopes a request may add beside its resource's; they name no resource.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];
/// Resources Entra knows besides MDE: tokens for them are issued (without MDE roles), and the
/// MDE API then refuses them with 403, as the real one does.
const OTHER_RESOURCES: &[&str] = &[
    "https://api.security.microsoft.com",
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
];

/// The resource of a client-credentials request: v2 `scope=<resource>/.default`, v1 `resource=`.
pub(super) fn client_credentials_resource(
    ctx: &Ctx,
    version: TokenVersion,
    form: &HashMap<String, String>,
) -> Result<String> {
    if version == TokenVersion::V1 {
        return form
            .get("resource")
            .map(|r| normalize_resource(r))
            .ok_or_else(|| ctx.missing("resource"));
    }
    let scope = form.get("scope").ok_or_else(|| ctx.missing("scope"))?;
    let items: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
        .collect();
    match items.as_slice() {
        [one] => one.strip_suffix("/.default").map(normalize_resource).ok_or_else(|| {
            ctx.bad(
                "invalid_scope",
                1002012,
                format!("The provided value for scope {one} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
            )
        }),
        _ => Err(ctx.bad(
            "invalid_scope",
            70011,
            format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        )),
    }
}

/// The resource of a password request and the scopes asked for (`None` = `.default`, all held).
pub(super) fn password_resource(
    ctx: &Ctx,
    version: TokenVersion,
    form: &HashMap<String, String>,
) -> Result<(String, Option<Vec<String>>)> {
    if version == TokenVersion::V1 {
        let r = form
            .get("resource")
            .ok_or_else(|| ctx.missing("resource"))?;
        return Ok((normalize_resource(r), None));
    }
    let scope = form.get("scope").ok_or_else(|| ctx.missing("scope"))?;
    password_scopes(ctx, scope)
}

/// A v2 password request's `scope`: its one resource, and the scope names asked for (`None` when
/// `.default` is among them: all the user holds).
fn password_scopes(ctx: &Ctx, scope: &str) -> Result<(String, Option<Vec<String>>)> {
    let mut resource: Option<String> = None;
    let mut wanted = Vec::new();
    let mut all = false;
    for item in scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
    {
        let bad = || {
            ctx.bad(
                "invalid_scope",
                70011,
                format!("The provided value for the input parameter 'scope' is not valid. The scope {item} is not valid."),
            )
        };
        let (res, name) = item.rsplit_once('/').ok_or_else(bad)?;
        let res = normalize_resource(res);
        if resource.as_ref().is_some_and(|r| *r != res) {
            return Err(ctx.bad("invalid_scope", 28000, "Provided value for the input parameter scope is not valid because it contains more than one resource."));
        }
        resource = Some(res);
        if name == ".default" {
            all = true;
        } else {
            wanted.push(name.to_owned());
        }
    }
    let resource = resource.ok_or_else(|| {
        ctx.bad("invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid: it names no resource.")
    })?;
    Ok((resource, (!all).then_some(wanted)))
}

/// `api://{appId}` and a trailing slash name the same resource as the bare form.
fn normalize_resource(r: &str) -> String {
    let r = r.trim().trim_end_matches('/');
    r.strip_prefix("api://").unwrap_or(r).to_owned()
}

/// Whether `resource` names the MDE API (any of its accepted audiences, any case).
pub(super) fn is_mde(resource: &str) -> bool {
    ACCEPTED_AUDIENCES
        .iter()
        .any(|a| a.eq_ignore_ascii_case(resource))
}

/// Refuses a resource Entra would not know in tenant `tid`: neither MDE nor one of
/// `OTHER_RESOURCES`.
pub(super) fn check_resource(ctx: &Ctx, resource: &str, tid: &str) -> Result<()> {
    if is_mde(resource)
        || OTHER_RESOURCES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(resource))
    {
        return Ok(());
    }
    Err(ctx.bad(
        "invalid_resource",
        500011,
        format!("The resource principal named {resource} was not found in the tenant named {tid}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."),
    ))
}
