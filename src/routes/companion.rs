//! The machine companion endpoints and their table: tags on one machine or many, find machines
//! by tag or by internal IP, and a machine's logon users (docs/contract/machines-companion.md;
//! what the pages leave open is decided in docs/decisions.md "Machine tags and lookups").
//!
//! The table spells each route as Microsoft's pages do. Under `/api/machines/` a word in another
//! case reads as a machine id (the `{id}` routes match first), so `AddOrRemoveTagForMultipleMachines`,
//! `findbytag` and `findbyip(` must be spelled so there; with `/api/v1.0/` or a trailing slash,
//! `normalize` folds any case.

use std::{collections::HashSet, net::IpAddr, sync::Arc};

use axum::{
    extract::{RawQuery, State},
    http::{Method, StatusCode},
    routing::{get, post},
};
use serde_json::{Map, Value};
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

use super::{
    extract::{required_string, JsonBody, PathParam, ServiceRoot},
    Endpoint,
};
use crate::{
    auth::{permissions, Caller},
    error::{ApiError, Code, Result},
    model::{Collection, Entity, LogonUser, Machine, OData},
    state::AppState,
    store::{IpWindow, TagChange},
    throttle,
};

/// Most machines one `AddOrRemoveTagForMultipleMachines` call may name (documented).
pub(crate) const MAX_TAG_MACHINES: usize = 500;
/// Longest tag, in characters (emulator decision: the docs give no limit).
pub(crate) const MAX_TAG_CHARS: usize = 200;
/// `findbyip` matches machines seen this long before or after the timestamp (documented).
const IP_WINDOW: Duration = Duration::minutes(15);
/// `findbyip`'s timestamp must be at most this old (documented).
const IP_MAX_AGE: Duration = Duration::days(30);

/// The companion endpoints.
pub(super) static ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::POST,
        path: "/api/machines/{id}/tags",
        access: permissions::TAGS,
        limit: throttle::DOCUMENTED,
        handler: || post(tag_machine),
    },
    Endpoint {
        method: Method::POST,
        path: "/api/machines/AddOrRemoveTagForMultipleMachines",
        access: permissions::TAGS,
        limit: throttle::DOCUMENTED,
        handler: || post(tag_machines),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/machines/findbytag",
        access: permissions::READ,
        limit: throttle::DOCUMENTED,
        handler: || get(find_by_tag),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/machines/findbyip({args}",
        access: permissions::READ,
        limit: throttle::DOCUMENTED,
        handler: || get(find_by_ip),
    },
    Endpoint {
        method: Method::GET,
        path: "/api/machines/{id}/logonusers",
        access: permissions::LOGON_USERS,
        limit: throttle::DOCUMENTED,
        handler: || get(logon_users),
    },
];

type Machines = OData<Collection<Vec<Arc<Machine>>>>;

/// `{"@odata.context": ".../$metadata#{set}", "value": rows}`.
fn listed<T>(root: &ServiceRoot, set: &str, rows: Vec<T>) -> OData<Collection<Vec<T>>> {
    OData(
        StatusCode::OK,
        Collection {
            context: root.context(set),
            count: None,
            value: rows,
            next_link: None,
        },
    )
}

/// `POST machines/{id}/tags` `{"Value", "Action"}`: 200 and the machine as it now is.
async fn tag_machine(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
    body: JsonBody,
) -> Result<OData<Entity<Arc<Machine>>>> {
    let tenant = state.store().tenant(&caller.tenant);
    let key = tenant.resolve(&id, &caller.visibility)?;
    let (value, change) = tag_body(&body.object()?)?;
    let mut machines = tenant.change_tag(&[key], &value, change, state.clock().now());
    let machine = machines
        .pop()
        .ok_or_else(|| ApiError::Internal("tag: no machine returned".into()))?;
    Ok(OData(
        StatusCode::OK,
        Entity {
            context: root.context("Machines/$entity"),
            inner: machine,
        },
    ))
}

/// `POST machines/AddOrRemoveTagForMultipleMachines` `{"Value", "Action", "MachineIds"}`: all or
/// nothing (an unknown id is 404 and no machine changes); 200 and the machines as they now are.
async fn tag_machines(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    body: JsonBody,
) -> Result<Machines> {
    let obj = body.object()?;
    let (value, change) = tag_body(&obj)?;
    let ids = machine_ids(&obj)?;
    let tenant = state.store().tenant(&caller.tenant);
    let mut seen = HashSet::new();
    let mut keys = Vec::with_capacity(ids.len());
    for id in &ids {
        let key = tenant.resolve(id, &caller.visibility)?;
        if seen.insert(key) {
            keys.push(key);
        }
    }
    let machines = tenant.change_tag(&keys, &value, change, state.clock().now());
    Ok(listed(&root, "Machines", machines))
}

/// `Value` (a tag: not blank, at most `MAX_TAG_CHARS`) and `Action` (`Add` / `Remove`, any case).
fn tag_body(obj: &Map<String, Value>) -> Result<(String, TagChange)> {
    let value = required_string(obj, "Value")?;
    if value.trim().is_empty() {
        return Err(ApiError::invalid_body("Parameter Value must not be empty"));
    }
    let chars = value.chars().count();
    if chars > MAX_TAG_CHARS {
        return Err(ApiError::invalid_body(format!(
            "Parameter Value is {chars} characters long; at most {MAX_TAG_CHARS} are allowed"
        )));
    }
    let action = required_string(obj, "Action")?;
    let change = if action.eq_ignore_ascii_case("add") {
        TagChange::Add
    } else if action.eq_ignore_ascii_case("remove") {
        TagChange::Remove
    } else {
        return Err(ApiError::invalid_input(&action));
    };
    Ok((value, change))
}

/// `MachineIds`: 1 to `MAX_TAG_MACHINES` strings.
fn machine_ids(obj: &Map<String, Value>) -> Result<Vec<String>> {
    let list = match obj.get("MachineIds") {
        None | Some(Value::Null) => return Err(ApiError::missing_parameter("MachineIds")),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(ApiError::invalid_body(
                "Parameter MachineIds must be an array of machine ids",
            ))
        }
    };
    if list.is_empty() {
        return Err(ApiError::invalid_body(
            "Parameter MachineIds must name at least one machine",
        ));
    }
    if list.len() > MAX_TAG_MACHINES {
        return Err(ApiError::invalid_body(format!(
            "Parameter MachineIds names {} machines; at most {MAX_TAG_MACHINES} are allowed per call",
            list.len()
        )));
    }
    list.iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(ApiError::invalid_body(
                "Parameter MachineIds must be an array of machine ids",
            )),
        })
        .collect()
}

/// `GET machines/findbytag?tag=...&useStartsWithFilter=...`: 200 and the machines (any case).
async fn find_by_tag(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    RawQuery(raw): RawQuery,
) -> Result<Machines> {
    let mut tag = None;
    let mut starts_with = false;
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if k.eq_ignore_ascii_case("tag") {
            tag = Some(v.into_owned());
        } else if k.eq_ignore_ascii_case("useStartsWithFilter") {
            starts_with = match v.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(ApiError::invalid_input(&v)),
            };
        }
    }
    let tag = tag
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::missing_parameter("tag"))?;
    let tenant = state.store().tenant(&caller.tenant);
    let machines = tenant.find_by_tag(&caller.visibility, &tag, starts_with, state.clock().now());
    Ok(listed(&root, "Machines", machines))
}

/// `GET machines/findbyip(ip='{IP}',timestamp={time})`: 200 and the machines that had the
/// address and were seen within 15 minutes of the time, which must be in the past 30 days.
async fn find_by_ip(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(args): PathParam,
) -> Result<Machines> {
    let now = state.clock().now();
    let (ip, at) = ip_args(&args)?;
    if at > now || at < now - IP_MAX_AGE {
        return Err(ApiError::bad_request(
            Code::InvalidInput,
            format!(
                "The given timestamp {} must be in the past 30 days.",
                at.format(&Rfc3339).unwrap_or_default()
            ),
        ));
    }
    let window = IpWindow {
        ip: &ip,
        from: at - IP_WINDOW,
        to: at + IP_WINDOW,
    };
    let tenant = state.store().tenant(&caller.tenant);
    let machines = tenant.find_by_ip(&caller.visibility, window, now);
    Ok(listed(&root, "Machines", machines))
}

/// The address (canonical form) and time of `ip='...',timestamp=...)` (the rest of the path
/// segment after `findbyip(`); keys in any case, values quoted or not.
fn ip_args(args: &str) -> Result<(String, OffsetDateTime)> {
    let malformed = || {
        ApiError::bad_request(
            Code::InvalidInput,
            format!(
                "Invalid input findbyip({args}: expected findbyip(ip='{{IP}}',timestamp={{time}})"
            ),
        )
    };
    let inner = args.strip_suffix(')').ok_or_else(malformed)?;
    let (mut ip, mut at) = (None, None);
    for part in inner.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(malformed)?;
        let v = v.trim();
        let v = v
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .unwrap_or(v);
        match k.trim().to_ascii_lowercase().as_str() {
            "ip" => ip = Some(v.to_owned()),
            "timestamp" => at = Some(v.to_owned()),
            _ => return Err(malformed()),
        }
    }
    let ip = ip.ok_or_else(|| ApiError::missing_parameter("ip"))?;
    let at = at.ok_or_else(|| ApiError::missing_parameter("timestamp"))?;
    let parsed: IpAddr = ip.parse().map_err(|_| {
        ApiError::bad_request(Code::InvalidInput, format!("IP address {ip} is invalid."))
    })?;
    let at = OffsetDateTime::parse(&at, &Rfc3339).map_err(|_| {
        ApiError::bad_request(
            Code::InvalidInput,
            format!("Timestamp {at} is invalid: expected an ISO 8601 time such as 2024-05-01T08:44:05Z."),
        )
    })?;
    Ok((parsed.to_string(), at))
}

/// `GET machines/{id}/logonusers`: 200 and the users of the machine's fixture.
async fn logon_users(
    State(state): State<AppState>,
    caller: Caller,
    root: ServiceRoot,
    PathParam(id): PathParam,
) -> Result<OData<Collection<Vec<LogonUser>>>> {
    let tenant = state.store().tenant(&caller.tenant);
    let key = tenant.resolve(&id, &caller.visibility)?;
    Ok(listed(&root, "Users", tenant.logon_users(key).into_vec()))
}
