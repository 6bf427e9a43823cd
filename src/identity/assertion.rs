//! The claims of a correctly signed client assertion, as Microsoft's "certificate credentials"
//! page sets them: issuer and subject the app; a validity window (`nbf` to `exp`) judged by the
//! client's clock with five minutes' skew; the audience the token endpoint that received it; and,
//! for single-use apps, a `jti` not presented before. Codes and texts: docs/contract/token-service.md.

use axum::http::StatusCode;
use serde_json::Value;
use time::OffsetDateTime;

use super::{
    entra_error,
    replay::{Refused, SeenAssertions},
    tenant_id, AppRegistration, Ctx,
};
use crate::error::{ApiError, Result};

/// Skew allowed on `nbf` and `exp`, which the client sets from its own clock.
const SKEW_SECS: i64 = 300;

/// Where Entra's texts send the reader.
const DOCS: &str = "https://learn.microsoft.com/entra/identity-platform/certificate-credentials";

/// The token endpoint an assertion was presented to: `{scheme}://{host}` as the client called
/// it, and the tenant its path names.
#[derive(Debug, Clone, Copy)]
pub(super) struct Endpoint<'a> {
    pub(super) origin: &'a str,
    pub(super) tid: &'a str,
}

/// Checks a signed assertion's claims for `app` presented at `endpoint`; a single-use app's
/// assertion is recorded in `seen`.
pub(super) fn check_claims(
    ctx: &Ctx,
    app: &AppRegistration,
    claims: &Value,
    endpoint: Endpoint<'_>,
    seen: &SeenAssertions,
) -> Result<()> {
    let text = |k: &str| claims[k].as_str().unwrap_or_default();
    if !text("iss").eq_ignore_ascii_case(&app.client_id)
        || !text("sub").eq_ignore_ascii_case(&app.client_id)
    {
        return Err(ctx.unauthorized(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    // The client signs with its own clock, which the emulator clock may have been moved away
    // from (and a frozen clock falls behind): the window is judged by wall time, as Entra's is
    // by the real time both sides share.
    let now = OffsetDateTime::now_utc();
    let window = Window::of(ctx, claims)?;
    window.check(ctx, now)?;
    check_audience(ctx, claims, endpoint)?;
    if app.single_use_assertions {
        first_use(ctx, app, claims, window, now, seen)?;
    }
    Ok(())
}

/// `nbf` (optional) and `exp` (required), in Unix seconds; MSAL writes them as floats.
#[derive(Debug, Clone, Copy)]
struct Window {
    nbf: Option<i64>,
    exp: i64,
}

impl Window {
    fn of(ctx: &Ctx, claims: &Value) -> Result<Self> {
        // `as` saturates: a float past i64 is i64::MAX, a negative one stays negative.
        let seconds = |v: &Value| v.as_f64().map(|f| f as i64);
        let exp = seconds(&claims["exp"]).ok_or_else(|| malformed(ctx))?;
        let nbf = match &claims["nbf"] {
            Value::Null => None,
            v => Some(seconds(v).ok_or_else(|| malformed(ctx))?),
        };
        Ok(Self { nbf, exp })
    }

    /// AADSTS700024 unless `nbf - skew <= now < exp + skew`, in Entra's words.
    fn check(self, ctx: &Ctx, now: OffsetDateTime) -> Result<()> {
        let t = now.unix_timestamp();
        let early = self
            .nbf
            .is_some_and(|nbf| nbf.saturating_sub(SKEW_SECS) > t);
        let late = t >= self.exp.saturating_add(SKEW_SECS);
        if !(early || late) {
            return Ok(());
        }
        Err(ctx.unauthorized(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at {DOCS} .",
                instant(now),
                seconds_instant(self.nbf.unwrap_or(0)),
                seconds_instant(self.exp),
            ),
        ))
    }
}

/// `2024-10-02T22:05:03.6755165Z`, as Entra writes times in AADSTS700024.
fn instant(t: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

/// A claim's Unix second as [`instant`] writes it, or the number where no date can hold it.
fn seconds_instant(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .map(instant)
        .unwrap_or_else(|_| secs.to_string())
}

/// AADSTS700023 unless `aud` names the token endpoint that received the assertion, in one of the
/// forms Entra accepts; AADSTS50027 for an `aud` that is not a string (Entra refuses an array).
fn check_audience(ctx: &Ctx, claims: &Value, endpoint: Endpoint<'_>) -> Result<()> {
    match &claims["aud"] {
        Value::String(aud) if endpoint.accepts(aud, ctx.now) => Ok(()),
        Value::String(_) | Value::Null => Err(ctx.unauthorized(
            700023,
            format!("Client assertion audience claim does not match Realm issuer. Review the documentation at {DOCS} ."),
        )),
        _ => Err(malformed(ctx)),
    }
}

impl Endpoint<'_> {
    /// True when `aud` is this emulator's `/{tenant}/oauth2/v2.0/token`, `/{tenant}/oauth2/token`
    /// or `/{tenant}/v2.0` (the form an earlier revision of Microsoft's page gave), on the origin
    /// the client called, for this request's tenant by its id or a name of it.
    fn accepts(&self, aud: &str, now: OffsetDateTime) -> bool {
        let (Some((origin, path)), Some((ours, _))) =
            (split_origin(aud), split_origin(self.origin))
        else {
            return false;
        };
        let Some((tenant, rest)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
            return false;
        };
        let form_ok = ["oauth2/v2.0/token", "oauth2/token", "v2.0"]
            .iter()
            .any(|f| rest.eq_ignore_ascii_case(f));
        let same_tenant = tenant_id(tenant, now)
            .ok()
            .flatten()
            .is_some_and(|t| t.as_str() == self.tid);
        origin == ours && form_ok && same_tenant
    }
}

/// `(scheme, host, port)` of an absolute URL, lower-cased with the scheme's default port filled
/// in, and the rest of it (path, query).
fn split_origin(url: &str) -> Option<((String, String, u16), &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    // The host ends at `]` for an IPv6 literal, else at the last `:`.
    let port_at = authority
        .rfind(':')
        .filter(|i| !authority[*i..].contains(']'));
    let (host, port) = match port_at {
        Some(i) => (&authority[..i], authority[i + 1..].parse().ok()?),
        None => (authority, default),
    };
    if host.is_empty() {
        return None;
    }
    Some(((scheme, host.to_ascii_lowercase(), port), path))
}

/// A single-use app's assertion: a `jti` is required, and one already presented is refused until
/// the assertion could no longer pass the time check anyway (`exp` plus the skew).
fn first_use(
    ctx: &Ctx,
    app: &AppRegistration,
    claims: &Value,
    window: Window,
    now: OffsetDateTime,
    seen: &SeenAssertions,
) -> Result<()> {
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| {
            ctx.bad(
                "invalid_request",
                50027,
                format!("JWT token is invalid or malformed. The client assertion has no 'jti' claim, which app '{}' requires: its assertions are single-use.", app.client_id),
            )
        })?;
    let until = window.exp.saturating_add(SKEW_SECS);
    match seen.first_use(&app.client_id, jti, until, now.unix_timestamp()) {
        Ok(()) => Ok(()),
        Err(Refused::Replayed) => Err(ctx.unauthorized(
            50013,
            format!("Assertion is invalid: this client assertion (its 'jti') was already presented. App '{}' accepts each client assertion once; sign a new one with a new 'jti'.", app.client_id),
        )),
        Err(Refused::Full) => Err(unavailable(ctx)),
    }
}

/// 503 `temporarily_unavailable`: the memory of used assertions is full of live ones.
fn unavailable(ctx: &Ctx) -> ApiError {
    entra_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        90024,
        "A transient error has occurred. Try again. (defender-mock: the memory of used single-use client assertions is full; retry once some have expired.)",
        ctx.now,
    )
}

/// AADSTS50027, Entra's answer to an assertion whose claims it cannot read.
fn malformed(ctx: &Ctx) -> ApiError {
    ctx.bad(
        "invalid_request",
        50027,
        "JWT token is invalid or malformed.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_by_scheme_host_and_port_with_defaults() {
        let o = |u| split_origin(u).map(|(o, _)| o);
        assert_eq!(o("HTTPS://Login.Example:443/x"), o("https://login.example"));
        assert_eq!(o("http://h"), o("http://h:80/"));
        assert_ne!(o("http://h:8080"), o("http://h"));
        assert_ne!(o("https://h"), o("http://h:443"));
        assert_eq!(o("http://[::1]:9/a").unwrap().1, "[::1]");
        assert_eq!(o("http://[::1]/a").unwrap().2, 80);
        for bad in [
            "h/x",
            "ftp://h/",
            "http://:80/",
            "http://h:99999/",
            "http://h:x/",
        ] {
            assert!(split_origin(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_audience_is_this_token_endpoint_in_an_accepted_form() {
        let tid = "6d1c6fb5-43c9-4b44-a1fa-1b1e6a3e9a11";
        let e = Endpoint {
            origin: "http://127.0.0.1:8080",
            tid,
        };
        let now = OffsetDateTime::UNIX_EPOCH;
        let base = "http://127.0.0.1:8080";
        for ok in [
            format!("{base}/{tid}/oauth2/v2.0/token"),
            format!("{base}/{tid}/oauth2/token"),
            format!("{base}/{tid}/v2.0"),
            format!(
                "HTTP://127.0.0.1:8080/{}/OAuth2/V2.0/Token",
                tid.to_uppercase()
            ),
        ] {
            assert!(e.accepts(&ok, now), "{ok}");
        }
        for bad in [
            format!("http://127.0.0.1:8081/{tid}/oauth2/v2.0/token"),
            format!("https://127.0.0.1:8080/{tid}/oauth2/v2.0/token"),
            format!("http://login.microsoftonline.com/{tid}/oauth2/v2.0/token"),
            format!("{base}/common/oauth2/v2.0/token"),
            format!("{base}/00000000-0000-0000-0000-000000000001/oauth2/v2.0/token"),
            format!("{base}/{tid}/oauth2/v2.0/token/"),
            format!("{base}/{tid}/oauth2/v2.0/token?x=1"),
            format!("{base}/{tid}/oauth2/v2.0/authorize"),
            format!("{base}/{tid}"),
            format!("{base}/oauth2/v2.0/token"),
            "token".to_owned(),
        ] {
            assert!(!e.accepts(&bad, now), "{bad}");
        }
    }

    #[test]
    fn times_are_written_as_entra_writes_them() {
        assert_eq!(seconds_instant(0), "1970-01-01T00:00:00.0000000Z");
        assert_eq!(
            instant(OffsetDateTime::from_unix_timestamp_nanos(1_727_906_703_675_516_500).unwrap()),
            "2024-10-02T22:05:03.6755165Z"
        );
        assert_eq!(seconds_instant(i64::MAX), i64::MAX.to_string());
    }
}
