//! Fault rules (`/_mock/faults`): which requests a rule matches (method, route template or path
//! pattern, tenant, machine, app), what it does to them (answer an error, add latency, drop the
//! connection), for how many (`times`) and how often (`probability`). The middleware asks
//! [`Faults::pick`] once per API or token-endpoint request; the accept loop performs a drop
//! when a response carries [`DropConnection`].

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, RwLock,
};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::{journal::Pattern, model::TenantId};

/// The longest delay a rule may add (real time: a request held longer would meet the
/// request timeout anyway).
pub(crate) const MAX_DELAY_MS: u64 = 60_000;
/// The most rules kept at once.
pub(crate) const MAX_RULES: usize = 1000;

/// How a dropped connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DropMode {
    /// A TCP reset (RST): the client's read fails with "connection reset".
    Reset,
    /// A close without a response (FIN): the client reads end of stream.
    Close,
}

/// Response extension: the accept loop drops the connection instead of writing this response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DropConnection(pub DropMode);

/// What a matching request gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum Action {
    /// An error answer in the Defender shape (Entra's on the token endpoints).
    Error {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(
            default,
            rename = "retryAfter",
            skip_serializing_if = "Option::is_none"
        )]
        retry_after: Option<u64>,
    },
    /// Served normally after `ms` milliseconds (real time).
    Delay { ms: u64 },
    /// No response: the connection is reset or closed.
    Drop { mode: DropMode },
}

/// Which requests a rule applies to: every field given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Match {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A route template (`/api/machines/{id}/isolate`) or a path pattern (`*`, `**`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

/// The body of `POST /_mock/faults`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    #[serde(default, rename = "match")]
    pub matcher: Match,
    pub action: Action,
    #[serde(default)]
    pub times: Option<u64>,
    #[serde(default)]
    pub probability: Option<f64>,
}

/// A stored rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub id: String,
    pub matcher: Match,
    route: Option<Pattern>,
    tenant: Option<TenantId>,
    pub action: Action,
    pub times: Option<u64>,
    pub probability: f64,
    /// Applications left (`u64::MAX`: unlimited).
    remaining: AtomicU64,
    hits: AtomicU64,
}

/// A rule as `GET /_mock/faults` shows it.
#[derive(Debug, Serialize)]
pub(crate) struct RuleView<'a> {
    id: &'a str,
    #[serde(rename = "match")]
    matcher: &'a Match,
    action: &'a Action,
    times: Option<u64>,
    probability: f64,
    remaining: Option<u64>,
    hits: u64,
}

impl Rule {
    /// The rule as the control plane shows it.
    pub(crate) fn view(&self) -> RuleView<'_> {
        let remaining = self.remaining.load(Ordering::Relaxed);
        RuleView {
            id: &self.id,
            matcher: &self.matcher,
            action: &self.action,
            times: self.times,
            probability: self.probability,
            remaining: (remaining != u64::MAX).then_some(remaining),
            hits: self.hits.load(Ordering::Relaxed),
        }
    }

    fn matches(&self, req: &Probe<'_>) -> bool {
        let m = &self.matcher;
        m.method
            .as_ref()
            .is_none_or(|x| x.eq_ignore_ascii_case(req.method))
            && self
                .route
                .as_ref()
                .is_none_or(|p| p.matches(req.path) || req.route.is_some_and(|r| p.matches(r)))
            && m.tenant.as_ref().is_none_or(|raw| {
                req.tenant.is_some_and(|t| {
                    t.eq_ignore_ascii_case(raw)
                        || self
                            .tenant
                            .as_ref()
                            .is_some_and(|id| TenantId::parse(t).is_some_and(|tid| tid == *id))
                })
            })
            && m.machine
                .as_ref()
                .is_none_or(|x| req.machine.is_some_and(|y| y.eq_ignore_ascii_case(x)))
            && m.app
                .as_ref()
                .is_none_or(|x| req.app.is_some_and(|y| y.eq_ignore_ascii_case(x)))
    }

    /// Takes one application, if any is left.
    fn take(&self) -> bool {
        let taken = self
            .remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| match n {
                0 => None,
                u64::MAX => Some(u64::MAX),
                n => Some(n - 1),
            })
            .is_ok();
        if taken {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    /// Whether a rule with some applications left.
    fn live(&self) -> bool {
        self.remaining.load(Ordering::Relaxed) > 0
    }
}

/// What the middleware knows of a request when it asks for a fault.
#[derive(Debug, Default)]
pub(crate) struct Probe<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The route template it matched.
    pub route: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub machine: Option<&'a str>,
    pub app: Option<&'a str>,
}

/// The fault rules of a running emulator.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: RwLock<Vec<Arc<Rule>>>,
    next_id: AtomicU64,
}

impl Faults {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Rule>>> {
        self.rules.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Rule>>> {
        self.rules.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks `spec` and stores it as a new rule, or says what is wrong with it.
    pub(crate) fn add(&self, spec: RuleSpec) -> Result<Arc<Rule>, String> {
        let RuleSpec {
            matcher,
            action,
            times,
            probability,
        } = spec;
        check_action(&action)?;
        let probability = probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err(format!(
                "Invalid input {probability}: probability is between 0 and 1"
            ));
        }
        if times == Some(0) {
            return Err("Invalid input 0: times is at least 1 (leave it out for always)".into());
        }
        if let Some(m) = &matcher.method {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(format!("Invalid input {m:?}: method is an HTTP method"));
            }
        }
        let route = matcher.route.as_deref().map(Pattern::parse).transpose()?;
        let tenant = matcher.tenant.as_deref().and_then(TenantId::parse);
        let mut rules = self.write();
        if rules.len() >= MAX_RULES {
            rules.retain(|r| r.live()); // spent rules make room first
        }
        if rules.len() >= MAX_RULES {
            return Err(format!(
                "There are already {MAX_RULES} fault rules: delete some first"
            ));
        }
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let rule = Arc::new(Rule {
            id: format!("fault-{n}"),
            matcher,
            route,
            tenant,
            action,
            times,
            probability,
            remaining: AtomicU64::new(times.unwrap_or(u64::MAX)),
            hits: AtomicU64::new(0),
        });
        rules.push(rule.clone());
        Ok(rule)
    }

    /// Every rule, oldest first.
    pub(crate) fn list(&self) -> Vec<Arc<Rule>> {
        self.read().clone()
    }

    /// Deletes rule `id`; `false` if there is none.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let mut rules = self.write();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        rules.len() != before
    }

    /// Deletes every rule, or with `tenant` the rules that match only that tenant (a reset of
    /// one tenant leaves rules meant for all tenants, or for others, in place).
    pub(crate) fn clear(&self, tenant: Option<&TenantId>) {
        match tenant {
            None => self.write().clear(),
            Some(t) => self.write().retain(|r| r.tenant.as_ref() != Some(t)),
        }
    }

    /// Whether any rule has applications left (the middleware skips its work otherwise).
    pub(crate) fn active(&self) -> bool {
        self.read().iter().any(|r| r.live())
    }

    /// Whether some live rule matches on the calling app (so the middleware has to find it).
    pub(crate) fn wants_app(&self) -> bool {
        self.read()
            .iter()
            .any(|r| r.live() && r.matcher.app.is_some())
    }

    /// The first rule (oldest first) that matches `req`, has an application left and wins its
    /// draw; that application is taken.
    pub(crate) fn pick(&self, req: &Probe<'_>) -> Option<Arc<Rule>> {
        let rules = self.read();
        rules
            .iter()
            .find(|r| r.live() && r.matches(req) && draw(r.probability) && r.take())
            .cloned()
    }
}

/// `true` with probability `p` (0 never, 1 always).
fn draw(p: f64) -> bool {
    if p >= 1.0 {
        return true;
    }
    if p <= 0.0 {
        return false;
    }
    let bits = uuid::Uuid::new_v4().as_u64_pair().0 >> 11;
    (bits as f64 / (1u64 << 53) as f64) < p
}

fn check_action(action: &Action) -> Result<(), String> {
    match action {
        Action::Error {
            status,
            code,
            message,
            ..
        } => {
            if !(400..=599).contains(status) {
                return Err(format!(
                    "Invalid input {status}: an error fault's status is from 400 to 599"
                ));
            }
            if code.as_ref().is_some_and(|c| c.is_empty() || c.len() > 100) {
                return Err("Invalid input: code is 1 to 100 characters".into());
            }
            if message.as_ref().is_some_and(|m| m.len() > 4096) {
                return Err("Invalid input: message is at most 4096 bytes".into());
            }
            Ok(())
        }
        Action::Delay { ms } if *ms > MAX_DELAY_MS => Err(format!(
            "Invalid input {ms}: a delay is at most {MAX_DELAY_MS} ms"
        )),
        _ => Ok(()),
    }
}

/// The Defender code an error fault answers when its rule names none.
pub(crate) fn defender_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        408 => "RequestTimeout",
        409 => "Conflict",
        413 => "RequestEntityTooLarge",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        s if s < 500 => "BadRequest",
        _ => "InternalServerError",
    }
}

/// The Entra `error` and AADSTS number an error fault on a token endpoint answers when its
/// rule names no code: AADSTS90033 ("a transient error has occurred") for 429 and 5xx.
pub(crate) fn entra_code(status: StatusCode) -> (&'static str, u32) {
    match status.as_u16() {
        401 => ("invalid_client", 7_000_215),
        429 | 503 | 504 => ("temporarily_unavailable", 90_033),
        s if s >= 500 => ("server_error", 90_033),
        _ => ("invalid_request", 900_144),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> RuleSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn times_counts_down_and_probability_zero_never_fires() {
        let f = Faults::default();
        let r = f
            .add(spec(
                r#"{"action": {"kind": "delay", "ms": 1}, "times": 2}"#,
            ))
            .unwrap();
        let probe = Probe {
            method: "GET",
            path: "/api/machines",
            ..Probe::default()
        };
        assert!(f.pick(&probe).is_some() && f.pick(&probe).is_some());
        assert!(f.pick(&probe).is_none());
        assert_eq!(r.view().hits, 2);
        f.clear(None);
        f.add(spec(
            r#"{"action": {"kind": "drop", "mode": "reset"}, "probability": 0}"#,
        ))
        .unwrap();
        assert!((0..100).all(|_| f.pick(&probe).is_none()));
    }

    #[test]
    fn bad_rules_are_refused() {
        let f = Faults::default();
        assert!(f
            .add(spec(r#"{"action": {"kind": "error", "status": 200}}"#))
            .is_err());
        assert!(f
            .add(spec(
                r#"{"action": {"kind": "delay", "ms": 1}, "probability": 1.5}"#
            ))
            .is_err());
        assert!(serde_json::from_str::<RuleSpec>(r#"{"action": {"kind": "explode"}}"#).is_err());
    }
}
