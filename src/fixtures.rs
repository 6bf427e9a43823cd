//! Fixture loading: the embedded default fleet, or every machine file of `--fixtures DIR`. Loading
//! fails fast with the file, the machine and the field named; it never panics.
//!
//! A machine file is a JSON array of machines, or an object with a `machines` array. A machine is
//! the Machine entity as the API returns it (spec §7.1), plus three emulator-only keys:
//! `isolation` (`Full`/`Selective`/`UnManagedDevice`: starts isolated), `restricted` (bool) and
//! `simulation` (device behaviour overrides, see `store::SimulationOverride`).
//! `apps.json` and `users.json` are identity fixtures, not machine files.

use std::{
    collections::HashSet,
    fmt,
    path::{Path, PathBuf},
};

use serde_json::Value;

use crate::{
    auth::permissions::portal,
    identity::{AppRegistration, Directory, User},
    model::{IsolationType, Machine, MachineId},
    store::{FleetMachine, SimulationOverride, MAX_DELAY_SECONDS},
};

/// The default fleet, compiled into the binary so it runs from any folder.
pub const DEFAULT_MACHINES: &str = include_str!("../fixtures/machines.json");

/// The sample app registrations and users, embedded beside the fleet.
pub(crate) const DEFAULT_APPS: &str = include_str!("../fixtures/apps.json");
/// See [`DEFAULT_APPS`].
pub(crate) const DEFAULT_USERS: &str = include_str!("../fixtures/users.json");

/// Files in a fixtures folder that hold identity data rather than machines.
const NON_MACHINE_FILES: &[&str] = &["apps.json", "users.json"];

/// A fixture that cannot be loaded: which file, and what is wrong in it.
#[derive(Debug, thiserror::Error)]
pub struct FixtureError {
    pub file: PathBuf,
    pub message: String,
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid fixture {}: {}",
            self.file.display(),
            self.message
        )
    }
}

/// A fleet of fixture machines, loaded and checked: what an emulator serves to every tenant.
#[derive(Debug, Clone)]
pub struct Fleet(pub(crate) Vec<FleetMachine>);

impl Fleet {
    /// The embedded default fleet (`fixtures/machines.json`).
    pub fn embedded() -> Result<Self, FixtureError> {
        default_fleet().map(Self)
    }

    /// Every machine of every machine file in `dir`, in file-name order.
    pub fn from_dir(dir: &Path) -> Result<Self, FixtureError> {
        load_dir(dir).map(Self)
    }

    /// The machines of one machine file's text (e.g. [`DEFAULT_MACHINES`], edited).
    pub fn from_json(text: &str) -> Result<Self, FixtureError> {
        parse_machines(Path::new("(inline fleet)"), text, &mut HashSet::new()).map(Self)
    }

    /// How many machines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no machine.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The embedded default fleet.
pub(crate) fn default_fleet() -> Result<Vec<FleetMachine>, FixtureError> {
    let mut seen = HashSet::new();
    parse_machines(
        Path::new("fixtures/machines.json (embedded)"),
        DEFAULT_MACHINES,
        &mut seen,
    )
}

/// Every machine of every machine file in `dir`, in file-name order.
pub(crate) fn load_dir(dir: &Path) -> Result<Vec<FleetMachine>, FixtureError> {
    let err = |file: &Path, message: String| FixtureError {
        file: file.to_path_buf(),
        message,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| err(dir, format!("cannot read folder: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            !NON_MACHINE_FILES.contains(&name)
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(err(
            dir,
            "no machine fixture (*.json) in this folder".to_owned(),
        ));
    }
    let mut seen = HashSet::new();
    let mut fleet = Vec::new();
    for file in files {
        tracing::info!(file = %file.display(), "loading machine fixtures");
        let text =
            std::fs::read_to_string(&file).map_err(|e| err(&file, format!("cannot read: {e}")))?;
        fleet.extend(parse_machines(&file, &text, &mut seen)?);
    }
    Ok(fleet)
}

/// Parses one machine file; `seen` collects ids across files to reject duplicates.
pub(crate) fn parse_machines(
    file: &Path,
    text: &str,
    seen: &mut HashSet<String>,
) -> Result<Vec<FleetMachine>, FixtureError> {
    let err = |message: String| FixtureError {
        file: file.to_path_buf(),
        message,
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let items = match doc {
        Value::Array(items) => items,
        Value::Object(mut o) => match o.remove("machines") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(err(
                    "expected an array of machines or {\"machines\": [...]}".to_owned(),
                ))
            }
        },
        _ => {
            return Err(err(
                "expected an array of machines or {\"machines\": [...]}".to_owned(),
            ))
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| parse_machine(item, seen).map_err(|m| err(format!("machine #{i}: {m}"))))
        .collect()
}

fn parse_machine(item: Value, seen: &mut HashSet<String>) -> Result<FleetMachine, String> {
    let Value::Object(mut obj) = item else {
        return Err("not a JSON object".to_owned());
    };
    let label = obj
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    let isolation = match obj.remove("isolation") {
        None | Some(Value::Null) => None,
        Some(v) => Some(typed::<IsolationType>(v).map_err(|e| {
            format!(
                "({label}) field `isolation`: {}",
                e.trim_start_matches(".`: ")
            )
        })?),
    };
    let restricted = match obj.remove("restricted") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(v) => {
            return Err(format!(
                "({label}) field `restricted`: {v} is not a boolean"
            ))
        }
    };
    let simulation: SimulationOverride = match obj.remove("simulation") {
        None | Some(Value::Null) => SimulationOverride::default(),
        Some(v) => typed(v).map_err(|e| format!("({label}) field `simulation.{e}"))?,
    };
    if let Some((field, v)) = simulation.out_of_range() {
        return Err(format!(
            "({label}) field `simulation.{field}`: {v} is more than {MAX_DELAY_SECONDS} (ten years)"
        ));
    }
    let mut machine: Machine =
        typed(Value::Object(obj)).map_err(|e| format!("({label}) field `{e}"))?;
    validate(&mut machine).map_err(|e| format!("({label}) {e}"))?;
    if !seen.insert(machine.id.clone()) {
        return Err(format!("duplicate machine id {}", machine.id));
    }
    let key = MachineId::parse(&machine.id)
        .ok_or_else(|| format!("field `id`: {:?} is not 40 hex characters", machine.id))?;
    Ok(FleetMachine {
        key,
        machine,
        isolation,
        restricted,
        simulation,
    })
}

/// Deserializes with the failing path in the error: "osBuild`: invalid type ...".
fn typed<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde names unknown and missing fields in its own message; the path is then just ".".
        if path == "." {
            format!("{}`: {inner}", field_of(&inner))
        } else {
            format!("{path}`: {inner}")
        }
    })
}

fn field_of(msg: &str) -> &str {
    msg.split('`').nth(1).unwrap_or("?")
}

fn validate(m: &mut Machine) -> Result<(), String> {
    if m.id.len() != 40 || !m.id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("field `id`: {:?} is not 40 hex characters", m.id));
    }
    m.id.make_ascii_lowercase();
    if m.computer_dns_name.trim().is_empty() {
        return Err("field `computerDnsName`: must not be empty".to_owned());
    }
    if m.os_platform.trim().is_empty() {
        return Err("field `osPlatform`: must not be empty".to_owned());
    }
    Ok(())
}

/// The directory: the built-ins plus `apps.json` and `users.json` of `dir` (each optional), or
/// the embedded samples when no folder is given.
pub(crate) fn load_directory(dir: Option<&Path>) -> Result<Directory, FixtureError> {
    let (apps, users) = match dir {
        None => (
            parse_apps(Path::new("fixtures/apps.json (embedded)"), DEFAULT_APPS)?,
            parse_users(Path::new("fixtures/users.json (embedded)"), DEFAULT_USERS)?,
        ),
        Some(dir) => {
            let read = |name: &str| -> Result<Option<(PathBuf, String)>, FixtureError> {
                let path = dir.join(name);
                if !path.exists() {
                    return Ok(None);
                }
                tracing::info!(file = %path.display(), "loading identity fixtures");
                std::fs::read_to_string(&path)
                    .map(|t| Some((path.clone(), t)))
                    .map_err(|e| FixtureError {
                        file: path,
                        message: format!("cannot read: {e}"),
                    })
            };
            let apps = match read("apps.json")? {
                Some((p, t)) => parse_apps(&p, &t)?,
                None => Vec::new(),
            };
            let users = match read("users.json")? {
                Some((p, t)) => parse_users(&p, &t)?,
                None => Vec::new(),
            };
            (apps, users)
        }
    };
    Ok(Directory::new(apps, users))
}

fn parse_list<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<Vec<T>, FixtureError> {
    let err = |message: String| FixtureError {
        file: file.to_path_buf(),
        message,
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let Value::Array(items) = doc else {
        return Err(err("expected a JSON array".to_owned()));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| typed(item).map_err(|e| err(format!("entry #{i}: field `{e}"))))
        .collect()
}

/// Parses an `apps.json`: every certificate must be a PEM certificate with an RSA key.
pub(crate) fn parse_apps(file: &Path, text: &str) -> Result<Vec<AppRegistration>, FixtureError> {
    let apps: Vec<AppRegistration> = parse_list(file, text)?;
    for (i, app) in apps.iter().enumerate() {
        let err = |message: String| FixtureError {
            file: file.to_path_buf(),
            message: format!("entry #{i} ({}): {message}", app.client_id),
        };
        if app.client_id.trim().is_empty() {
            return Err(err("field `clientId`: must not be empty".to_owned()));
        }
        for (k, pem) in app.certificates.iter().enumerate() {
            if !pem.contains("BEGIN CERTIFICATE")
                || jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).is_err()
            {
                return Err(err(format!(
                    "field `certificates[{k}]`: not a PEM certificate with an RSA key"
                )));
            }
        }
    }
    Ok(apps)
}

/// Parses a `users.json`: portal roles must be ones the portal knows.
pub(crate) fn parse_users(file: &Path, text: &str) -> Result<Vec<User>, FixtureError> {
    let users: Vec<User> = parse_list(file, text)?;
    for (i, user) in users.iter().enumerate() {
        for role in user.portal_roles.iter().flatten() {
            if !portal::ALL.iter().any(|r| r.eq_ignore_ascii_case(role)) {
                return Err(FixtureError {
                    file: file.to_path_buf(),
                    message: format!(
                        "entry #{i} ({}): field `portalRoles`: {role:?} is not one of {}",
                        user.upn,
                        portal::ALL.join(", ")
                    ),
                });
            }
        }
    }
    Ok(users)
}

#[cfg(test)]
#[path = "fixtures_tests.rs"]
mod tests;
