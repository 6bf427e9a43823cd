//! `/api/alerts` (docs/contract/alerts.md): list (OData with `$expand=evidence`), get, update,
//! batch update, CreateAlertByReference, a machine's alerts and an alert's machine, user, files,
//! IPs and domains; and `POST /_mock/alerts`, which raises an alert on a machine.

use std::collections::HashSet;

use axum::{
    extract::{RawQuery, State},
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, patch, post},
    Json,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    admin::{params, tenant_id, Handler, Params},
    extract::{bounded_comment, required_string, JsonBody, PathParam, ServiceRoot},
    Endpoint, Listed,
};
use crate::{
    auth::{
        permissions::{self, dev},
        Caller,
    },
    error::{ApiError, Code, Result},
    model::{
        Alert, AlertCategory, AlertSeverity, AlertStatus, AlertView, Classification, Determination,
        Entity, Evidence, OData, TenantId, Timestamp,
    },
    odata::{self, ALERTS},
    state::AppState,
    store::{
        alerts::{self, AlertChange},
        Tenant, Visibility,
    },
    throttle::{self, Limit},
};

/// Batch update: "10 calls per minute and 500 calls per hour".
const BATCH_LIMIT: Limit = Limit {
    per_minute: 10,
    per_hour: 500,
};
/// CreateAlertByReference: "15 calls per minute" (no hourly figure: 15 a minute all hour).
const CREATE_LIMIT: Limit = Limit {
    per_minute: 15,
    per_hour: 900,
};

/// Most ids one batch update may name (emulator decision: the limit is undocumented).
pub(crate) const MAX_BATCH_IDS: usize = 1000;

/// The alert endpoints (docs/contract/alerts.md §0). `batchUpdate` and `CreateAlertByReference`
/// are spelled as documented and matched in that case only: a path the table matches as it is
/// sent is not normalised, and another spelling is an alert id (405 for POST).
pub(super) static ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::GET,
        path: "/api/alerts",
        access: permissions::ALERT_READ,
        limit: throttle::DOCUMENTED,
        handler: || get(list_alerts),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/alerts/{id}",
        access: permissions::ALERT_READ,
        limit: throttle::DOCUMENTED,
        handler: || get(get_alert),
    },
    Endpoint {
        method: Method::PATCH,
        path: "/api/alerts/{id}",
        access: permissions::ALERT_WRITE,
        limit: throttle::DOCUMENTED,
        handler: || patch(update_alert),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/alerts/batchUpdate",
        access: permissions::ALERT_WRITE,
        limit: BATCH_LIMIT,
        handler: || post(batch_update),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/alerts/CreateAlertByReference",
        access: permissions::ALERT_WRITE,
        limit: CREATE_LIMIT,
        handler: || post(create_by_reference),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/machines/{id}/alerts",
        access: permissions::ALERT_READ,
        limit: throttle::DOCUMENTED,
        handler: || get(machine_alerts),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/alerts/{id}/machine",
        access: permissions::READ,
        limit: throttle::DOCUMENTED,
        handler: || get(alert_machine),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/alerts/{id}/user",
        access: permissions::ALERT_USER,
        limit: throttle::DOCUMENTED,
        handler: || get(alert_user),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/alerts/{id}/files",
        access: permissions::ALERT_FILES,
        limit: throttle::DOCUMENTED,
        handler: || get(alert_files),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/alerts/{id}/ips",
        access: permissions::ALERT_IPS,
        limit: throttle::DOCUMENTED,
        handler: || get(alert_ips),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/alerts/{id}/domains",
        access: permissions::ALERT_DOMAINS,
        limit: throttle::DOCUMENTED,
        handler: || get(alert_domains),
    },
];

/// The alert control-plane routes.
pub(super) static ROUTES: &[(&str, Handler)] = &[("/_mock/alerts", || post(raise_alert))];

/// `raw` without `$expand`, and whether it asked for `evidence` (the only expandable property).
fn split_expand(raw: Option<&str>) -> Result<(Option<String>, bool)> {
    let Some(raw) = raw else {
        return Ok((None, false));
    };
    let mut rest = form_urlencoded::Serializer::new(String::new());
    let mut expand = None;
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if !k.eq_ignore_ascii_case("$expand") {
            rest.append_pair(&k, &v);
            continue;
        }
        if expand.is_some() {
            return Err(ApiError::bad_request(
                Code::ODataError,
                format!("Query option '{k}' was specified more than once, but it must be specified at most once."),
            ));
        }
        if !v.trim().eq_ignore_ascii_case("evidence") {
            return Err(ApiError::bad_request(
                Code::ODataError,
                format!("Could not find a navigation property named '{v}' on type 'microsoft.windowsDefenderATP.api.Alert'. Only 'evidence' can be expanded."),
            ));
        }
        expand = Some(true);
    }
    Ok((Some(rest.finish()), expand.unwrap_or(false)))
}

/// One alert as `tenant` reads it.
fn view(alert: std::sync::Arc<Alert>, tenant: &TenantId, with_evidence: bool) -> AlertView {
    AlertView {
        alert,
        tenant: tenant.clone(),
        with_evidence,
    }
}

/// The alerts of `tenant` the caller sees (of machine `machine` only, when given), as
/// `raw` asks, as the collection at `path`.
async fn list(
    state: &AppState,
    caller: Caller,
    root: &ServiceRoot,
    raw: Option<String>,
    path: &str,
    machine: Option<crate::store::MachineKey>,
) -> Result<Listed<AlertView>> {
    let (rest, expand) = split_expand(raw.as_deref())?;
    let query = odata::parse(rest.as_deref(), &ALERTS)?;
    let tenant = state.store().tenant(&caller.tenant);
    let page_size = state.page_size();
    let cost = query.cost(tenant.alerts().len());
    let tid = caller.tenant.clone();
    let page = super::off_workers(cost, move || {
        let page = tenant
            .alerts()
            .list(&caller.visibility, machine, &query, page_size);
        (page.map(|a| view(a, &tid, expand)), query)
    })
    .await?;
    super::collection(root, path, &ALERTS, raw.as_deref(), page)
}

/// `GET alerts` with `$filter`, `$top`, `$skip`, `$expand=evidence` (and `$orderby`, `$count`,
/// `$select`, as on the other sets).
async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    RawQuery(raw): RawQuery,
) -> Result<Listed<AlertView>> {
    list(&state, caller, &root, raw, "alerts", None).await
}

/// `GET machines/{id}/alerts`: 404 for a machine the caller does not see (id, computer name or
/// `aadDeviceId`).
async fn machine_alerts(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Listed<AlertView>> {
    let key = state
        .store()
        .tenant(&caller.tenant)
        .resolve(&id, &caller.visibility)?;
    let path = format!("machines/{id}/alerts");
    list(&state, caller, &root, raw, &path, Some(key)).await
}

/// An alert entity response (evidence included, as the single GET has it).
fn entity(root: &ServiceRoot, caller: &Caller, alert: std::sync::Arc<Alert>) -> Response {
    OData(
        StatusCode::OK,
        Entity {
            context: root.context("Alerts/$entity"),
            inner: view(alert, &caller.tenant, true),
        },
    )
    .into_response()
}

/// `GET alerts/{id}`.
async fn get_alert(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<Response> {
    let (alert, _) = state
        .store()
        .tenant(&caller.tenant)
        .alerts()
        .get(&id, &caller.visibility)?;
    Ok(entity(&root, &caller, alert))
}

/// The updatable keys (decision 2: matched in any case, so the update page's table spelling
/// `Status` and its example's `status` both work).
const UPDATABLE: &[&str] = &[
    "status",
    "assignedTo",
    "classification",
    "determination",
    "comment",
];

/// The change a PATCH or batchUpdate body asks for (`skip`: keys that are not changes).
fn change_of(obj: &Map<String, Value>, skip: &[&str]) -> Result<AlertChange> {
    let mut change = AlertChange::default();
    for (key, v) in obj {
        if skip.iter().any(|s| s.eq_ignore_ascii_case(key)) {
            continue;
        }
        let Some(name) = UPDATABLE.iter().find(|u| u.eq_ignore_ascii_case(key)) else {
            return Err(ApiError::invalid_body(format!(
                "Property {key} cannot be updated; the updatable properties are {}",
                UPDATABLE.join(", ")
            )));
        };
        let text = || match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(ApiError::invalid_body(format!(
                "Parameter {key} must be a string"
            ))),
        };
        let value = |s: String| ApiError::invalid_input(&s);
        match *name {
            "status" => {
                let s = text()?;
                match s.parse::<AlertStatus>() {
                    Ok(AlertStatus::Unknown) | Err(_) => return Err(value(s)),
                    Ok(st) => change.status = Some(st),
                }
            }
            "assignedTo" => {
                change.assigned_to = Some(match v {
                    Value::Null => None,
                    _ => Some(bounded_comment(key, text()?)?),
                })
            }
            "classification" => {
                let s = text()?;
                change.classification = Some(s.parse::<Classification>().map_err(|_| value(s))?);
            }
            "determination" => {
                let s = text()?;
                change.determination = Some(s.parse::<Determination>().map_err(|_| value(s))?);
            }
            _ => change.comment = Some(bounded_comment(key, text()?)?),
        }
    }
    if change.is_empty() {
        return Err(ApiError::invalid_body(format!(
            "Request body must contain at least one of {}",
            UPDATABLE.join(", ")
        )));
    }
    Ok(change)
}

/// `PATCH alerts/{id}`: 404 for an unknown alert comes before 400 for its body.
async fn update_alert(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
    body: JsonBody,
) -> Result<Response> {
    let tenant = state.store().tenant(&caller.tenant);
    tenant.alerts().get(&id, &caller.visibility)?;
    let change = change_of(&body.object()?, &[])?;
    let mut updated = tenant.alerts().update(
        &[id],
        &caller.visibility,
        &change,
        caller.requestor(),
        state.clock().now(),
    )?;
    let alert = updated
        .pop()
        .ok_or_else(|| ApiError::Internal("update returned no alert".into()))?;
    Ok(entity(&root, &caller, alert))
}

/// `POST alerts/batchUpdate`: every id or none (decision 7: one unknown id is a 404 naming it,
/// and nothing changes); 200 with an empty body.
async fn batch_update(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody,
) -> Result<StatusCode> {
    let obj = body.object()?;
    let ids = match obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("alertIds")) {
        None | Some((_, Value::Null)) => return Err(ApiError::missing_parameter("alertIds")),
        Some((_, Value::Array(items))) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ApiError::invalid_body(
                    "Parameter alertIds must be a list of strings",
                )),
            })
            .collect::<Result<Vec<String>>>()?,
        Some(_) => {
            return Err(ApiError::invalid_body(
                "Parameter alertIds must be a list of strings",
            ))
        }
    };
    if ids.is_empty() || ids.len() > MAX_BATCH_IDS {
        return Err(ApiError::invalid_body(format!(
            "Parameter alertIds must list between 1 and {MAX_BATCH_IDS} alert ids; it lists {}",
            ids.len()
        )));
    }
    let mut seen = HashSet::new();
    let ids: Vec<String> = ids.into_iter().filter(|i| seen.insert(i.clone())).collect();
    let change = change_of(&obj, &["alertIds"])?;
    state.store().tenant(&caller.tenant).alerts().update(
        &ids,
        &caller.visibility,
        &change,
        caller.requestor(),
        state.clock().now(),
    )?;
    Ok(StatusCode::OK)
}

/// Every key CreateAlertByReference requires.
const CREATE_KEYS: &[&str] = &[
    "eventTime",
    "reportId",
    "machineId",
    "severity",
    "title",
    "description",
    "recommendedAction",
    "category",
];

/// `POST alerts/CreateAlertByReference` (decision 8): every key required (400 naming the first
/// missing); severity `Low`/`Medium`/`High`, a documented category; 404 when the machine is not
/// one the caller sees or the event time is after the emulator's now (no such event yet);
/// an open alert on that machine with the same title (any case) takes the event (a merge);
/// otherwise a new alert (`detectionSource` `CustomDetection`, investigation `Queued`). 200.
async fn create_by_reference(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    body: JsonBody,
) -> Result<Response> {
    let obj = body.object()?;
    let mut fields = Vec::with_capacity(CREATE_KEYS.len());
    for key in CREATE_KEYS {
        fields.push(required_string(&obj, key)?);
    }
    let [event_time, report_id, machine, severity, title, description, _recommended, category] =
        <[String; 8]>::try_from(fields)
            .map_err(|_| ApiError::Internal("CreateAlertByReference fields".into()))?;
    let at = Timestamp::parse(&event_time).map_err(|_| ApiError::invalid_input(&event_time))?;
    let severity = match severity.parse::<AlertSeverity>() {
        Ok(s @ (AlertSeverity::Low | AlertSeverity::Medium | AlertSeverity::High)) => s,
        _ => return Err(ApiError::invalid_input(&severity)),
    };
    let category = category
        .parse::<AlertCategory>()
        .map_err(|_| ApiError::invalid_input(&category))?;
    if title.trim().is_empty() {
        return Err(ApiError::invalid_body("Parameter title must not be empty"));
    }
    let now = state.clock().now();
    let tenant = state.store().tenant(&caller.tenant);
    let no_event = || ApiError::NotFound {
        code: Code::ResourceNotFound,
        message: format!(
            "No event with reportId {report_id} at {event_time} was found on machine {machine}"
        ),
    };
    let key = tenant
        .resolve(&machine, &caller.visibility)
        .map_err(|_| no_event())?;
    if at.0 > now {
        return Err(no_event());
    }
    let mut template = alerts::template(&title);
    template.severity = severity;
    template.category = category;
    template.description = Some(description);
    template.detection_source = Some("CustomDetection".into());
    template.first_event_time = Some(at);
    template.last_event_time = Some(at);
    let alert = tenant.alerts().raise_or_merge(key, template, now)?;
    Ok(entity(&root, &caller, alert))
}

/// The alert `id` of the caller's tenant, with the tenant.
fn found(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(
    std::sync::Arc<Tenant>,
    std::sync::Arc<Alert>,
    crate::store::MachineKey,
)> {
    let tenant = state.store().tenant(&caller.tenant);
    let (alert, key) = tenant.alerts().get(id, &caller.visibility)?;
    Ok((tenant, alert, key))
}

/// `GET alerts/{id}/machine` (decision 14: `@odata.context` `Machines/$entity`, as GET machine).
async fn alert_machine(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<Response> {
    let (tenant, _, key) = found(&state, &caller, &id)?;
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("Machines/$entity"),
            inner: tenant.machine(key, state.clock().now()),
        },
    )
    .into_response())
}

/// The User entity of an alert's `relatedUser` (docs/contract/alerts.md §8).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    account_name: String,
    account_domain: String,
    account_sid: Option<String>,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    most_prevalent_machine_id: String,
    least_prevalent_machine_id: String,
    logon_types: &'static str,
    log_on_machines_count: u32,
    is_domain_admin: bool,
    is_only_network_user: bool,
}

/// `GET alerts/{id}/user`: 404 `ResourceNotFound` when the alert has no related user (the
/// real service's message).
async fn alert_user(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<Response> {
    let (_, alert, _) = found(&state, &caller, &id)?;
    let Some(u) = &alert.related_user else {
        return Err(ApiError::NotFound {
            code: Code::ResourceNotFound,
            message: format!("There is no User related to alert {id}"),
        });
    };
    let sid = alert
        .evidence
        .iter()
        .filter(|e| e.entity_type == "User")
        .find(|e| {
            e.account_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&u.user_name))
        })
        .and_then(|e| e.user_sid.clone());
    let user = User {
        id: format!("{}\\{}", u.domain_name.to_lowercase(), u.user_name),
        account_name: u.user_name.clone(),
        account_domain: u.domain_name.clone(),
        account_sid: sid,
        first_seen: alert.first_event_time,
        last_seen: alert.last_event_time,
        most_prevalent_machine_id: alert.machine_id.clone(),
        least_prevalent_machine_id: alert.machine_id.clone(),
        logon_types: "Interactive",
        log_on_machines_count: 1,
        is_domain_admin: false,
        is_only_network_user: false,
    };
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("Users/$entity"),
            inner: user,
        },
    )
    .into_response())
}

/// A File entity made from file and process evidence (the emulator has no file profiles: what
/// the evidence does not say is null).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct File {
    sha1: String,
    sha256: Option<String>,
    md5: Option<String>,
    global_prevalence: Option<i64>,
    global_first_observed: Option<Timestamp>,
    global_last_observed: Option<Timestamp>,
    size: Option<i64>,
    file_type: Option<String>,
    is_pe_file: bool,
    file_publisher: Option<String>,
    file_product_name: Option<String>,
    signer: Option<String>,
    issuer: Option<String>,
    signer_hash: Option<String>,
    is_valid_certificate: Option<bool>,
    determination_type: &'static str,
    determination_value: Option<String>,
}

fn file_of(e: &Evidence, sha1: &str, alert: &Alert) -> File {
    let name = e
        .file_name
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let pe = [".exe", ".dll", ".sys", ".scr"]
        .iter()
        .any(|x| name.ends_with(x));
    File {
        sha1: sha1.to_owned(),
        sha256: e.sha256.clone(),
        md5: None,
        global_prevalence: None,
        global_first_observed: e.evidence_creation_time,
        global_last_observed: e.evidence_creation_time,
        size: None,
        file_type: pe.then(|| "PortableExecutable".to_owned()),
        is_pe_file: pe,
        file_publisher: None,
        file_product_name: None,
        signer: None,
        issuer: None,
        signer_hash: None,
        is_valid_certificate: None,
        determination_type: if e.detection_status.is_some() {
            "Malware"
        } else {
            "Unknown"
        },
        determination_value: alert.threat_name.clone(),
    }
}

/// A collection body with its context (the related-entity lists are not OData-queryable).
#[derive(Debug, Serialize)]
struct Related<T> {
    #[serde(rename = "@odata.context")]
    context: String,
    value: Vec<T>,
}

fn related<T: Serialize>(context: String, value: Vec<T>) -> Response {
    OData(StatusCode::OK, Related { context, value }).into_response()
}

/// `GET alerts/{id}/files`: the distinct files (by SHA-1) of its file and process evidence;
/// `[]` when there is none (decision 14).
async fn alert_files(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<Response> {
    let (_, alert, _) = found(&state, &caller, &id)?;
    let mut seen = HashSet::new();
    let files: Vec<File> = alert
        .evidence
        .iter()
        .filter(|e| e.entity_type == "File" || e.entity_type == "Process")
        .filter_map(|e| e.sha1.as_deref().map(|s| (e, s)))
        .filter(|(_, s)| seen.insert(s.to_ascii_lowercase()))
        .map(|(e, s)| file_of(e, s, &alert))
        .collect();
    Ok(related(root.context("Files"), files))
}

/// `GET alerts/{id}/ips`: the distinct IP addresses of its evidence. The context is under the
/// host, without `/api`, as the page's example writes it.
async fn alert_ips(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<Response> {
    #[derive(Serialize)]
    struct Ip {
        id: String,
    }
    let (_, alert, _) = found(&state, &caller, &id)?;
    let mut seen = HashSet::new();
    let ips: Vec<Ip> = alert
        .evidence
        .iter()
        .filter_map(|e| e.ip_address.clone())
        .filter(|ip| seen.insert(ip.clone()))
        .map(|id| Ip { id })
        .collect();
    Ok(related(format!("{}/$metadata#Ips", root.origin()), ips))
}

/// `GET alerts/{id}/domains`: the distinct hosts of its evidence URLs and its `domains`. The
/// context is under the host, as the page's example writes it.
async fn alert_domains(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<Response> {
    #[derive(Serialize)]
    struct Domain {
        host: String,
    }
    let (_, alert, _) = found(&state, &caller, &id)?;
    let from_urls = alert.evidence.iter().filter_map(|e| {
        let url = e.url.as_deref()?;
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let host = rest.split(['/', '?', '#']).next()?;
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let host = host.split(':').next()?;
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    });
    let mut seen = HashSet::new();
    let hosts: Vec<Domain> = from_urls
        .chain(alert.domains.iter().map(|d| d.to_ascii_lowercase()))
        .filter(|h| seen.insert(h.clone()))
        .map(|host| Domain { host })
        .collect();
    Ok(related(
        format!("{}/$metadata#Domains", root.origin()),
        hosts,
    ))
}

/// Keys `POST /_mock/alerts` refuses: the emulator sets them.
const SET_BY_EMULATOR: &[&str] = &[
    "id",
    "incidentId",
    "alertCreationTime",
    "lastUpdateTime",
    "computerDnsName",
    "rbacGroupName",
    "aadTenantId",
];

/// `POST /_mock/alerts[?tenant=]` `{"machineId": id, computer name or aadDeviceId, ...any Alert
/// property but those the emulator sets}`: raises the alert now (201, the Alert entity with its
/// evidence) and publishes `alert.raised`. Defaults: title "Suspicious activity", severity
/// Medium, category SuspiciousActivity, status New, detectionSource WindowsDefenderAtp,
/// investigationState Queued, event times now.
async fn raise_alert(State(state): State<AppState>, q: Params, body: JsonBody) -> Result<Response> {
    let q = params(q)?;
    let tid = tenant_id(q.get("tenant").map_or(dev::TENANT_ID, String::as_str))?;
    let mut obj = body.object()?;
    let machine = required_string(&obj, "machineId")?;
    obj.remove("machineId");
    if let Some(key) = SET_BY_EMULATOR.iter().find(|k| obj.contains_key(**k)) {
        return Err(ApiError::bad_request(
            Code::InvalidInput,
            format!("Invalid input: {key} is set by the emulator"),
        ));
    }
    let template = alerts::template("Suspicious activity");
    let mut base = template_json(&template)?;
    base.extend(obj);
    let template: Alert = serde_path_to_error::deserialize(Value::Object(base)).map_err(|e| {
        ApiError::bad_request(
            Code::InvalidInput,
            format!("Invalid input at {}: {}", e.path(), e.inner()),
        )
    })?;
    if template.title.trim().is_empty() {
        return Err(ApiError::bad_request(
            Code::InvalidInput,
            "Invalid input: title must not be empty",
        ));
    }
    let tenant = state.store().tenant(&tid);
    let key = tenant.resolve(&machine, &Visibility::All)?;
    let alert = tenant.alerts().raise(key, template, state.clock().now())?;
    Ok((StatusCode::CREATED, Json(view(alert, &tid, true))).into_response())
}

/// The template as the JSON object a body is merged over.
fn template_json(t: &Alert) -> Result<Map<String, Value>> {
    let v = serde_json::to_value(view(
        std::sync::Arc::new(t.clone()),
        &TenantId::parse(dev::TENANT_ID).ok_or_else(|| ApiError::Internal("tenant".into()))?,
        true,
    ))
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    match v {
        Value::Object(mut m) => {
            // Placeholders the store replaces; `aadTenantId` is the reading tenant's.
            m.remove("aadTenantId");
            m.insert("machineId".into(), Value::String(String::new()));
            Ok(m)
        }
        _ => Err(ApiError::Internal("alert template".into())),
    }
}
