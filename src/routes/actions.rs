//! `POST /api/machines/{id}/{action}`: validate, then hand the action to the tenant's store.

use axum::{extract::State, http::StatusCode};
use serde_json::{Map, Value};

use super::extract::{
    bounded_comment, optional_enum, required_string, JsonBody, PathParam, ServiceRoot,
};
use crate::{
    auth::Caller,
    error::{ApiError, Code, Result},
    model::{ActionType, Entity, IsolationType, MachineAction, OData, ScanType, Scope},
    state::AppState,
    store::NewAction,
};

type Created = OData<Entity<MachineAction>>;

/// Defines the handler of an action route: they differ only in the action type (spec §2, §3, §6).
macro_rules! action_handler {
    ($name:ident, $kind:expr) => {
        pub(super) async fn $name(
            State(state): State<AppState>,
            caller: Caller,
            root: ServiceRoot,
            PathParam(id): PathParam,
            body: JsonBody,
        ) -> Result<Created> {
            submit(&state, &caller, &root, &id, &body, $kind)
        }
    };
}

action_handler!(isolate, ActionType::Isolate);
action_handler!(unisolate, ActionType::Unisolate);
action_handler!(restrict_code_execution, ActionType::RestrictCodeExecution);
action_handler!(
    unrestrict_code_execution,
    ActionType::UnrestrictCodeExecution
);
action_handler!(run_antivirus_scan, ActionType::RunAntiVirusScan);
action_handler!(
    collect_investigation_package,
    ActionType::CollectInvestigationPackage
);
action_handler!(offboard, ActionType::Offboard);
action_handler!(stop_and_quarantine_file, ActionType::StopAndQuarantineFile);

/// The shared path of every action: machine (404) → body (400) → store (400 / 201).
fn submit(
    state: &AppState,
    caller: &Caller,
    root: &ServiceRoot,
    id: &str,
    body: &JsonBody,
    kind: ActionType,
) -> Result<Created> {
    let tenant = state.store().tenant(&caller.tenant);
    let key = tenant.resolve(id, &caller.visibility)?;
    let new = parse(kind, &body.object()?, caller.requestor())?;
    let action = tenant.submit(key, new, state.clock().now())?.into_action();
    Ok(OData(
        StatusCode::CREATED,
        Entity {
            context: root.context("MachineActions/$entity"),
            inner: action,
        },
    ))
}

/// The body parameters of `kind` (PascalCase, case-sensitive keys).
fn parse(kind: ActionType, obj: &Map<String, Value>, requestor: &str) -> Result<NewAction> {
    let comment = bounded_comment("Comment", required_string(obj, "Comment")?)?;
    let scope = match kind {
        ActionType::Isolate => Some(Scope::Isolation(optional_enum(
            obj,
            "IsolationType",
            IsolationType::Full,
        )?)),
        // Current docs mark ScanType required, older ones optional: default Full (decisions).
        ActionType::RunAntiVirusScan => {
            Some(Scope::Scan(optional_enum(obj, "ScanType", ScanType::Full)?))
        }
        _ => None,
    };
    let sha1 = match kind {
        ActionType::StopAndQuarantineFile => {
            let hash = required_string(obj, "Sha1")?;
            if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::bad_request(
                    Code::InvalidHashValue,
                    format!("Hash value {hash} is invalid."),
                ));
            }
            Some(hash.to_ascii_lowercase())
        }
        _ => None,
    };
    Ok(NewAction {
        action_type: kind,
        comment,
        requestor: requestor.to_owned(),
        scope,
        sha1,
    })
}
