//! Token grants (spec §9.2): what a request to `POST /{tenant}/oauth2[/v2.0]/token` earns, decided
//! against the directory. `client_credentials` (secret in the form or HTTP Basic, or a
//! `client_assertion` signed with a registered certificate) gives the app's roles; `password`
//! gives the user's scopes. The HTTP handlers (parsing, rendering) are in `routes::token`.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{client_auth::authenticate_client, tenant_id, AppRegistration, Ctx, Directory};
use crate::{
    auth::{
        permissions::{ACCEPTED_AUDIENCES, MDE_APP_ID},
        token::{TokenSpec, TokenVersion},
    },
    error::Result,
};

/// Lifetime of issued tokens, as Entra reports it.
pub(crate) const EXPIRES_IN: i64 = 3599;
const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];
/// Resources Entra knows besides MDE: tokens for them are issued (without MDE roles), and the
/// MDE API then refuses them with 403, as the real one does.
const OTHER_RESOURCES: &[&str] = &[
    "https://api.security.microsoft.com",
    "https://graph.microsoft.com",
    "00000003-0000-0000-c000-000000000000",
];

/// One token request: the form fields and the HTTP Basic client credentials, if any.
#[derive(Debug)]
pub(crate) struct TokenRequest {
    /// `v1` (`oauth2/token`, `resource=`) or `v2` (`oauth2/v2.0/token`, `scope=`).
    pub(crate) endpoint: TokenVersion,
    /// The `{tenant}` path segment.
    pub(crate) tenant: String,
    pub(crate) form: HashMap<String, String>,
    pub(crate) basic: Option<(String, String)>,
}

/// The grants the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    ClientCredentials,
    Password,
}

impl Grant {
    fn parse(ctx: &Ctx, name: &str) -> Result<Self> {
        match name {
            "client_credentials" => Ok(Self::ClientCredentials),
            "password" => Ok(Self::Password),
            other => Err(ctx.bad(
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            )),
        }
    }
}

/// The token `request` earns at `now`, shaped as `shape` (the server's `--token-version`).
pub(crate) fn grant(
    directory: &Directory,
    request: &TokenRequest,
    shape: TokenVersion,
    now: OffsetDateTime,
) -> Result<TokenSpec> {
    let ctx = Ctx { now };
    let tid = request_tenant(&ctx, request)?;
    let form = &request.form;
    let grant = Grant::parse(
        &ctx,
        form.get("grant_type")
            .ok_or_else(|| ctx.missing("grant_type"))?,
    )?;
    let app = requesting_app(&ctx, directory, request, &tid)?;
    let base = |resource: &str| base_spec(shape, app, &tid, resource, now);
    match grant {
        Grant::ClientCredentials => client_credentials_grant(&ctx, app, request, &tid, base),
        Grant::Password => password_grant(&ctx, directory, request, &tid, base),
    }
}

/// The tenant GUID the request's `{tenant}` segment names; `common` and its kind name none.
fn request_tenant(ctx: &Ctx, request: &TokenRequest) -> Result<String> {
    Ok(tenant_id(&request.tenant, ctx.now)?.ok_or_else(|| {
        ctx.bad(
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by any provided credentials.",
        )
    })?
    .to_string())
}

/// The app registration of the request's `client_id` (form, else HTTP Basic) in tenant `tid`.
fn requesting_app<'d>(
    ctx: &Ctx,
    directory: &'d Directory,
    request: &TokenRequest,
    tid: &str,
) -> Result<&'d AppRegistration> {
    let client_id = request
        .form
        .get("client_id")
        .or_else(|| request.basic.as_ref().map(|(id, _)| id))
        .ok_or_else(|| ctx.missing("client_id"))?;
    directory.app(client_id, tid).ok_or_else(|| {
        ctx.bad(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tid}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    })
}

/// The `client_credentials` grant: the app authenticated, the resource checked; the app's roles
/// for MDE, none for another resource.
fn client_credentials_grant(
    ctx: &Ctx,
    app: &AppRegistration,
    request: &TokenRequest,
    tid: &str,
    base: impl Fn(&str) -> TokenSpec,
) -> Result<TokenSpec> {
    let form = &request.form;
    let secret = request.basic.as_ref().map(|(_, s)| s.clone());
    authenticate_client(ctx, app, form, secret)?;
    let resource = client_credentials_resource(ctx, request.endpoint, form)?;
    check_resource(ctx, &resource, tid)?;
    let roles = if is_mde(&resource) {
        app.roles.clone()
    } else {
        Vec::new()
    };
    Ok(TokenSpec {
        roles,
        ..base(&resource)
    })
}

/// The `password` grant: the user's scopes (those asked for, or all with `.default`).
fn password_grant(
    ctx: &Ctx,
    directory: &Directory,
    request: &TokenRequest,
    tid: &str,
    base: impl Fn(&str) -> TokenSpec,
) -> Result<TokenSpec> {
    let form = &request.form;
    let username = form
        .get("username")
        .ok_or_else(|| ctx.missing("username"))?;
    let password = form
        .get("password")
        .ok_or_else(|| ctx.missing("password"))?;
    let user = directory
        .user(username, tid)
        .filter(|u| u.password == *password)
        .ok_or_else(|| {
            ctx.bad(
                "invalid_grant",
                50126,
                "Error validating credentials due to invalid username or password.",
            )
        })?;
    let (resource, requested) = password_resource(ctx, request.endpoint, form)?;
    check_resource(ctx, &resource, tid)?;
    let held = user.scopes();
    let granted: Vec<String> = match requested {
        Some(req) => held.into_iter().filter(|s| req.contains(s)).collect(),
        None => held,
    };
    let scp = if is_mde(&resource) {
        granted.join(" ")
    } else {
        String::new()
    };
    Ok(TokenSpec {
        scp: Some(scp),
        upn: Some(user.upn.clone()),
        ..base(&resource)
    })
}

fn base_spec(
    shape: TokenVersion,
    app: &AppRegistration,
    tid: &str,
    resource: &str,
    now: OffsetDateTime,
) -> TokenSpec {
    let v2 = shape == TokenVersion::V2;
    TokenSpec {
        tenant: tid.to_owned(),
        app_id: app.client_id.clone(),
        app_name: Some(app.display_name.clone()),
        // v2 tokens name the resource by its appId, as Entra's do.
        audience: Some(if v2 && is_mde(resource) {
            MDE_APP_ID.to_owned()
        } else {
            resource.to_owned()
        }),
        ttl_secs: EXPIRES_IN,
        version: shape,
        now,
        ..TokenSpec::default()
    }
}

/// The resource of a client-credentials request: v2 `scope=<resource>/.default`, v1 `resource=`.
fn client_credentials_resource(
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
fn password_resource(
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

fn is_mde(resource: &str) -> bool {
    ACCEPTED_AUDIENCES
        .iter()
        .any(|a| a.eq_ignore_ascii_case(resource))
}

fn check_resource(ctx: &Ctx, resource: &str, tid: &str) -> Result<()> {
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
