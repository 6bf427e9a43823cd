//! Token grants (spec §9.2): what a request to `POST /{tenant}/oauth2[/v2.0]/token` earns, decided
//! against the directory. `client_credentials` (secret in the form or HTTP Basic, or a
//! `client_assertion` signed with a registered certificate) gives the app's roles; `password`
//! gives the user's scopes. The HTTP handlers (parsing, rendering) are in `routes::token`.

use std::collections::HashMap;

use time::OffsetDateTime;

mod resource;

use resource::{check_resource, client_credentials_resource, is_mde, password_resource};

use super::{
    client_auth::authenticate_client, replay::SeenAssertions, tenant_id, AppRegistration, Ctx,
    Directory,
};
use crate::{
    auth::{
        permissions::MDE_APP_ID,
        token::{TokenSpec, TokenVersion},
    },
    error::Result,
};

/// Lifetime of issued tokens, as Entra reports it.
pub(crate) const EXPIRES_IN: i64 = 3599;
/// One token request: where it was sent, the form fields and the HTTP Basic client credentials,
/// if any.
#[derive(Debug)]
pub(crate) struct TokenRequest {
    /// `v1` (`oauth2/token`, `resource=`) or `v2` (`oauth2/v2.0/token`, `scope=`).
    pub(crate) endpoint: TokenVersion,
    /// `{scheme}://{host}` as the client called it: a client assertion's audience must be a
    /// token endpoint under it.
    pub(crate) origin: String,
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
        Grant::ClientCredentials => {
            let seen = directory.seen_assertions();
            client_credentials_grant(&ctx, app, request, &tid, seen, base)
        }
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
    seen: &SeenAssertions,
    base: impl Fn(&str) -> TokenSpec,
) -> Result<TokenSpec> {
    let form = &request.form;
    authenticate_client(ctx, app, request, tid, seen)?;
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
