//! `/api/indicators`: list (OData), submit or update, import, delete, batch delete; the body
//! validation of an indicator (`docs/contract/indicators.md`, its "Decisions").

use std::net::{Ipv4Addr, Ipv6Addr};

use axum::{
    extract::{RawQuery, State},
    http::{Method, StatusCode},
    routing::{delete, get, post},
};
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{
    extract::{JsonBody, PathParam, ServiceRoot},
    Endpoint,
};
use crate::{
    auth::{permissions, Caller},
    error::{ApiError, Code, Result},
    model::{
        Entity, Indicator, IndicatorAction, IndicatorSeverity, IndicatorType, OData, Timestamp,
    },
    odata,
    state::AppState,
    store::{NewIndicator, TiCaller},
    throttle::{self, Limit},
};

/// Most indicators one import or batch delete may carry (documented: 500).
pub(crate) const MAX_BATCH: usize = 500;
/// Longest string property an indicator may carry, in characters (emulator decision).
pub(crate) const MAX_TEXT_CHARS: usize = 4096;
/// Most device-group names an indicator may name (emulator decision).
const MAX_GROUPS: usize = 256;

/// Import and batch delete: 30 calls a minute (the import page gives no hourly figure: 1,500).
const BATCH_LIMIT: Limit = Limit {
    per_minute: 30,
    per_hour: 1500,
};

/// The indicator endpoints.
pub(super) static ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::GET,
        path: "/api/indicators",
        access: permissions::INDICATORS,
        limit: throttle::DOCUMENTED,
        handler: || get(list_indicators),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/indicators",
        access: permissions::INDICATORS,
        limit: throttle::DOCUMENTED,
        handler: || post(submit_indicator),
    },
    // `import` and `BatchDelete` sit where an indicator id does (`DELETE /api/indicators/{id}`),
    // so the table, matched before route words are folded, spells each word both ways.
    Endpoint {
        method: Method::POST,
        path: "/api/indicators/import",
        access: permissions::INDICATORS,
        limit: BATCH_LIMIT,
        handler: || post(import_indicators),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/indicators/Import",
        access: permissions::INDICATORS,
        limit: BATCH_LIMIT,
        handler: || post(import_indicators),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/api/indicators/{id}",
        access: permissions::INDICATORS,
        limit: throttle::DOCUMENTED,
        handler: || delete(delete_indicator),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/indicators/BatchDelete",
        access: permissions::INDICATORS,
        limit: BATCH_LIMIT,
        handler: || post(batch_delete),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/indicators/batchdelete",
        access: permissions::INDICATORS,
        limit: BATCH_LIMIT,
        handler: || post(batch_delete),
    },
];

/// Who the caller is to the indicator store.
fn ti_caller(caller: &Caller) -> TiCaller {
    match caller.upn() {
        Some(upn) => TiCaller {
            id: upn.to_owned(),
            display_name: upn.to_owned(),
            sees_all: true,
        },
        None => TiCaller {
            id: caller.app_id.clone(),
            display_name: caller.requestor().to_owned(),
            sees_all: caller.permissions.iter().any(|p| p == permissions::TI_ALL),
        },
    }
}

/// `GET /api/indicators` with `$filter`, `$orderby`, `$top`, `$skip`, `$count`, `$select`.
async fn list_indicators(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    RawQuery(raw): RawQuery,
) -> Result<super::Listed<Indicator>> {
    let query = odata::parse(raw.as_deref(), &odata::INDICATORS)?;
    let tenant = state.store().tenant(&caller.tenant);
    let (now, page_size) = (state.clock().now(), state.page_size());
    let who = ti_caller(&caller);
    let cost = query.cost(tenant.indicators.count());
    let page = super::off_workers(cost, move || {
        let page = tenant.indicators.list(&who, &query, page_size, now);
        (page, query)
    })
    .await?;
    super::collection(
        &root,
        "indicators",
        &odata::INDICATORS,
        raw.as_deref(),
        page,
    )
}

/// `POST /api/indicators`: 200 with the created or updated indicator.
async fn submit_indicator(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    body: JsonBody,
) -> Result<OData<Entity<Indicator>>> {
    let now = state.clock().now();
    let new = parse_indicator(&body.object()?, now)?;
    let tenant = state.store().tenant(&caller.tenant);
    let mut results = tenant
        .indicators
        .upsert(vec![Ok(new)], &ti_caller(&caller), now);
    let row = results
        .pop()
        .unwrap_or_else(|| Err(ApiError::Internal("upsert returned nothing".into())))?;
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("Indicators/$entity"),
            inner: row,
        },
    ))
}

/// One line of an import's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ImportResult {
    id: Option<String>,
    indicator: Option<String>,
    is_failed: bool,
    failure_reason: Option<String>,
}

/// `{"value": [...]}` (the import page's example has no `@odata.context`).
#[derive(Debug, Serialize)]
struct ImportResults {
    value: Vec<ImportResult>,
}

/// `POST /api/indicators/import`: `{"Indicators": [...]}`, at most 500; 200 with one result per
/// indicator in order (an invalid one fails alone).
async fn import_indicators(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody,
) -> Result<OData<ImportResults>> {
    let now = state.clock().now();
    let obj = body.object()?;
    let items = batch(&obj, "Indicators")?;
    let values: Vec<Option<String>> = items
        .iter()
        .map(|v| {
            v.as_object()
                .and_then(|o| field(o, "indicatorValue"))
                .and_then(Value::as_str)
                .map(|s| s.trim().to_owned())
        })
        .collect();
    let parsed = items
        .iter()
        .map(|item| match item {
            Value::Object(o) => parse_indicator(o, now),
            _ => Err(ApiError::invalid_body(
                "Each indicator must be a JSON object",
            )),
        })
        .collect();
    let tenant = state.store().tenant(&caller.tenant);
    let results = tenant.indicators.upsert(parsed, &ti_caller(&caller), now);
    let value = results
        .into_iter()
        .zip(values)
        .map(|(r, indicator)| match r {
            Ok(row) => ImportResult {
                id: Some(row.wire_id()),
                indicator: Some(row.indicator_value),
                is_failed: false,
                failure_reason: None,
            },
            Err(e) => ImportResult {
                id: None,
                indicator,
                is_failed: true,
                failure_reason: Some(e.message()),
            },
        })
        .collect();
    Ok(OData(StatusCode::OK, ImportResults { value }))
}

/// `DELETE /api/indicators/{id}`: 204, or 404.
async fn delete_indicator(
    State(state): State<AppState>,
    caller: Caller,
    PathParam(raw): PathParam,
) -> Result<StatusCode> {
    let id = indicator_id(&raw)?;
    state.store().tenant(&caller.tenant).indicators.delete(
        id,
        &ti_caller(&caller),
        state.clock().now(),
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/indicators/BatchDelete`: `{"IndicatorIds": [...]}`; 204 when every one existed
/// and was deleted, else nothing is deleted (404 naming the first unknown id).
async fn batch_delete(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody,
) -> Result<StatusCode> {
    let obj = body.object()?;
    let ids = batch(&obj, "IndicatorIds")?
        .iter()
        .map(|v| match v {
            Value::String(s) => indicator_id(s),
            Value::Number(n) => indicator_id(&n.to_string()),
            other => indicator_id(&other.to_string()),
        })
        .collect::<Result<Vec<u64>>>()?;
    state.store().tenant(&caller.tenant).indicators.delete_all(
        &ids,
        &ti_caller(&caller),
        state.clock().now(),
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// An indicator id: a positive number (400 `InvalidInput` otherwise).
fn indicator_id(raw: &str) -> Result<u64> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && raw.trim().bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            ApiError::bad_request(
                Code::InvalidInput,
                format!("Indicator id {raw} is invalid: indicator ids are numbers."),
            )
        })
}

/// The array `key` of a batch body: present, not empty, at most [`MAX_BATCH`] long.
fn batch<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Vec<Value>> {
    let items = match field(obj, key) {
        None | Some(Value::Null) => return Err(ApiError::missing_parameter(key)),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::invalid_body(format!(
                "Parameter {key} must be an array"
            )))
        }
    };
    if items.is_empty() {
        return Err(ApiError::invalid_body(format!(
            "Parameter {key} must hold at least one item"
        )));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            Code::MaximumBatchSizeExceeded,
            format!(
                "Maximum batch size exceeded. Received: {}, allowed: {MAX_BATCH}.",
                items.len()
            ),
        ));
    }
    Ok(items)
}

/// Body property `key`, matched in any case (ASP.NET binds JSON bodies case-insensitively; the
/// exact spelling wins when both are sent).
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// An optional string property, bounded.
fn opt_text(obj: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match field(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => bounded(key, s).map(Some),
        Some(_) => Err(ApiError::invalid_body(format!(
            "Parameter {key} must be a string"
        ))),
    }
}

/// A required string property, bounded; empty counts as missing.
fn text(obj: &Map<String, Value>, key: &str) -> Result<String> {
    match opt_text(obj, key)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ApiError::missing_parameter(key)),
    }
}

fn bounded(key: &str, s: &str) -> Result<String> {
    let chars = s.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ApiError::invalid_body(format!(
            "Parameter {key} is {chars} characters long; at most {MAX_TEXT_CHARS} are allowed"
        )));
    }
    Ok(s.to_owned())
}

/// A required enum property (values in any case).
fn enum_value<T: std::str::FromStr>(obj: &Map<String, Value>, key: &str) -> Result<T> {
    match field(obj, key) {
        None | Some(Value::Null) => Err(ApiError::missing_parameter(key)),
        Some(Value::String(s)) => s.parse().map_err(|_| ApiError::invalid_input(s)),
        Some(v) => Err(ApiError::invalid_input(&v.to_string())),
    }
}

/// One indicator of a submit or an import, validated against the rules of the contract.
pub(crate) fn parse_indicator(
    obj: &Map<String, Value>,
    now: OffsetDateTime,
) -> Result<NewIndicator> {
    let value = text(obj, "indicatorValue")?.trim().to_owned();
    let indicator_type: IndicatorType = enum_value(obj, "indicatorType")?;
    let action: IndicatorAction = enum_value(obj, "action")?;
    let title = text(obj, "title")?;
    let description = text(obj, "description")?;
    check_value(indicator_type, &value)?;
    let severity = match field(obj, "severity") {
        None | Some(Value::Null) => IndicatorSeverity::Informational,
        Some(_) => enum_value(obj, "severity")?,
    };
    let generate_alert = match field(obj, "generateAlert") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(Value::String(s)) => return Err(ApiError::invalid_input(s)),
        Some(v) => return Err(ApiError::invalid_input(&v.to_string())),
    };
    check_action(indicator_type, action, generate_alert)?;
    let educate_url = opt_text(obj, "educateUrl")?;
    if let Some(url) = &educate_url {
        let fits = indicator_type == IndicatorType::Url
            && matches!(action, IndicatorAction::Block | IndicatorAction::Warn);
        if !fits {
            return Err(ApiError::bad_request(
                Code::BadRequest,
                "educateUrl is supported for Block and Warn action types for URL indicators only.",
            ));
        }
        if !valid_url(url) {
            return Err(ApiError::bad_request(
                Code::InvalidUrl,
                format!("URL {url} is invalid."),
            ));
        }
    }
    Ok(NewIndicator {
        value,
        indicator_type,
        action,
        application: opt_text(obj, "application")?,
        title,
        description,
        expiration_time: expiration(obj, now)?,
        severity,
        recommended_actions: opt_text(obj, "recommendedActions")?,
        rbac_group_names: group_names(obj)?,
        educate_url,
        generate_alert,
        external_id: opt_text(obj, "externalId")?,
    })
}

/// `expirationTime`: absent or null (never expires), else an RFC 3339 time after `now`.
fn expiration(obj: &Map<String, Value>, now: OffsetDateTime) -> Result<Option<Timestamp>> {
    let raw = match field(obj, "expirationTime") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        Some(v) => return Err(ApiError::invalid_input(&v.to_string())),
    };
    let t = Timestamp::parse(raw).map_err(|_| {
        ApiError::bad_request(
            Code::InvalidInput,
            format!("Invalid input {raw}: expirationTime must be an ISO 8601 date-time such as 2025-12-12T00:00:00Z."),
        )
    })?;
    if t.0 <= now {
        return Err(ApiError::bad_request(
            Code::BadRequest,
            format!("The expiration time {raw} is in the past: it must be later than now."),
        ));
    }
    Ok(Some(t))
}

/// `rbacGroupNames`: an array of names, or one comma-separated string; blanks dropped.
fn group_names(obj: &Map<String, Value>) -> Result<Vec<String>> {
    let names: Vec<String> = match field(obj, "rbacGroupNames") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ApiError::invalid_body(
                    "Parameter rbacGroupNames must hold strings",
                )),
            })
            .collect::<Result<_>>()?,
        Some(_) => {
            return Err(ApiError::invalid_body(
                "Parameter rbacGroupNames must be an array of strings",
            ))
        }
    };
    let mut out: Vec<String> = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let n = bounded("rbacGroupNames", n)?;
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&n)) {
            out.push(n);
        }
    }
    if out.len() > MAX_GROUPS {
        return Err(ApiError::invalid_body(format!(
            "Parameter rbacGroupNames names {} groups; at most {MAX_GROUPS} are allowed",
            out.len()
        )));
    }
    Ok(out)
}

/// The actions each indicator type takes (indicators overview: certificates allow or block and
/// remediate; IPs, URLs and domains cannot remediate), and `Audit` needs `generateAlert`.
fn check_action(t: IndicatorType, a: IndicatorAction, generate_alert: bool) -> Result<()> {
    use IndicatorAction as A;
    let fits = match t {
        IndicatorType::CertificateThumbprint => matches!(
            a,
            A::Allowed | A::BlockAndRemediate | A::Alert | A::AlertAndBlock
        ),
        IndicatorType::IpAddress | IndicatorType::DomainName | IndicatorType::Url => {
            a != A::BlockAndRemediate
        }
        _ => true,
    };
    if !fits {
        return Err(ApiError::bad_request(
            Code::BadRequest,
            format!(
                "Action {} is not supported for indicator type {}.",
                a.as_str(),
                t.as_str()
            ),
        ));
    }
    if a == A::Audit && !generate_alert {
        return Err(ApiError::bad_request(
            Code::BadRequest,
            "The GenerateAlert parameter must be set to true when the action is Audit.",
        ));
    }
    Ok(())
}

/// The value's format for its type, with the documented error codes and messages.
fn check_value(t: IndicatorType, v: &str) -> Result<()> {
    let hex = |len: usize| v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit());
    let (ok, code, what) = match t {
        IndicatorType::FileSha1 | IndicatorType::CertificateThumbprint => {
            (hex(40), Code::InvalidHashValue, "Hash value")
        }
        IndicatorType::FileSha256 => (hex(64), Code::InvalidHashValue, "Hash value"),
        IndicatorType::FileMd5 => (hex(32), Code::InvalidHashValue, "Hash value"),
        IndicatorType::IpAddress => (valid_ip(v), Code::InvalidIpAddress, "IP address"),
        IndicatorType::DomainName => (valid_domain(v), Code::InvalidDomainName, "Domain name"),
        IndicatorType::Url => (valid_url(v), Code::InvalidUrl, "URL"),
    };
    if ok {
        return Ok(());
    }
    Err(ApiError::bad_request(
        code,
        format!("{what} {v} is invalid."),
    ))
}

/// An IPv4 address in dotted-quad form, or an IPv6 address with all eight segments (no CIDR, no
/// ranges, no `::`), as the indicators overview requires.
fn valid_ip(v: &str) -> bool {
    if v.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    !v.contains("::") && v.split(':').count() == 8 && v.parse::<Ipv6Addr>().is_ok()
}

/// A DNS name of at least two labels: letters, digits and hyphens, labels of 1-63 characters
/// not starting or ending with a hyphen, 253 characters at most, a top-level label not all
/// digits (that would be an IP address). No wildcards.
fn valid_domain(v: &str) -> bool {
    let v = v.strip_suffix('.').unwrap_or(v);
    let labels: Vec<&str> = v.split('.').collect();
    v.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

/// An `http`/`https` URL (the scheme may be left out) whose host is a domain or an IP address,
/// with no white space or control characters.
fn valid_url(v: &str) -> bool {
    if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    let rest = if let Some(r) = lower.strip_prefix("https://") {
        r
    } else if let Some(r) = lower.strip_prefix("http://") {
        r
    } else if lower.contains("://") {
        return false;
    } else {
        &lower
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(inner) = host_port
        .strip_prefix('[')
        .and_then(|h| h.split(']').next())
    {
        return inner.parse::<Ipv6Addr>().is_ok();
    } else {
        match host_port.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => h,
            Some(_) => return false,
            None => host_port,
        }
    };
    host.parse::<Ipv4Addr>().is_ok() || valid_domain(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_by_type() {
        assert!(valid_ip("10.1.2.3"));
        assert!(valid_ip("2001:4860:4860:0:0:0:0:8888"));
        assert!(!valid_ip("2001:4860:4860::8888"));
        assert!(!valid_ip("10.0.0.0/8"));
        assert!(!valid_ip("10.1.2"));
        assert!(valid_domain("example.com"));
        assert!(valid_domain("sub.example-1.co.uk"));
        assert!(!valid_domain("*.example.com"));
        assert!(!valid_domain("localhost"));
        assert!(!valid_domain("-a.com"));
        assert!(!valid_domain("1.2.3.4"));
        assert!(valid_url("https://example.com/block?x=1"));
        assert!(valid_url("example.com/path"));
        assert!(valid_url("http://10.0.0.1:8080/"));
        assert!(!valid_url("ftp://example.com"));
        assert!(!valid_url("https://exa mple.com"));
        assert!(!valid_url("https://"));
    }
}
