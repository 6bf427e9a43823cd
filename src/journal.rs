//! The request journal: a bounded ring of what every `/api/` and token-endpoint request was
//! (who, what, answer, latency, fault rule), the filters `GET /_mock/requests` applies to it, and
//! the path patterns (`*` one segment, `**` the rest) the journal and the fault rules share.
//!
//! Memory is bounded whatever the load: at most `capacity` entries (`--journal-size`), each with
//! its body cut to [`MAX_BODY_RECORDED`] bytes and its path and query to [`MAX_TEXT`], and all
//! of them within [`BYTE_BUDGET`]; the oldest go first. No token or secret is ever recorded: the
//! `Authorization` header is not kept, and secret form fields and query parameters are masked.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use serde::Serialize;

use crate::model::{TenantId, Timestamp};

/// Entries kept by default: far more than a test asserts on between its action and its check
/// (tests read the journal right after acting, per tenant), at ~1.3 KB an entry a little over
/// 1 MiB; 10,000 cost 13 MiB, most of the memory budget of a 10,000-machine emulator
/// (`--journal-size` raises it).
pub(crate) const DEFAULT_JOURNAL_SIZE: usize = 1_000;
/// Bytes of a request body an entry keeps (UTF-8; `bodyTruncated` says when more was sent).
pub(crate) const MAX_BODY_RECORDED: usize = 4096;
/// Bytes of a path or query string an entry keeps.
pub(crate) const MAX_TEXT: usize = 2048;
/// Bytes all entries may hold together (estimated), besides their count.
pub(crate) const BYTE_BUDGET: usize = 64 * 1024 * 1024;
/// What a masked secret reads as.
pub(crate) const MASK: &str = "***";
/// Form fields and query parameters whose values are never recorded.
const SECRET_FIELDS: &[&str] = &[
    "client_secret",
    "password",
    "client_assertion",
    "assertion",
    "refresh_token",
    "code",
    "code_verifier",
    "access_token",
    "id_token",
];

/// One recorded request (camelCase on the wire).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry {
    pub id: u64,
    pub time: Timestamp,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub route: Option<String>,
    /// The status sent; 0 when a drop fault answered nothing.
    pub status: u16,
    pub tenant: Option<String>,
    pub app_id: Option<String>,
    pub user: Option<String>,
    pub permissions: Vec<String>,
    pub machine_id: Option<String>,
    pub action_id: Option<String>,
    pub latency_ms: f64,
    pub fault_rule: Option<String>,
    pub request_body: Option<String>,
    pub body_truncated: bool,
}

impl Entry {
    /// Estimated bytes the entry holds.
    fn cost(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        std::mem::size_of::<Self>()
            + self.request_id.len()
            + self.method.len()
            + self.path.len()
            + opt(&self.query)
            + opt(&self.route)
            + opt(&self.tenant)
            + opt(&self.app_id)
            + opt(&self.user)
            + self.permissions.iter().map(|p| p.len() + 24).sum::<usize>()
            + opt(&self.machine_id)
            + opt(&self.action_id)
            + opt(&self.fault_rule)
            + opt(&self.request_body)
    }
}

/// The ring of recorded requests.
#[derive(Debug)]
pub(crate) struct Journal {
    capacity: usize,
    byte_budget: usize,
    next_id: AtomicU64,
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Arc<Entry>>,
    bytes: usize,
}

impl Journal {
    /// A journal of at most `capacity` entries (0: off, nothing is recorded).
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_budget(capacity, BYTE_BUDGET)
    }

    /// A journal bounded by `capacity` entries and `byte_budget` bytes.
    pub(crate) fn with_budget(capacity: usize, byte_budget: usize) -> Self {
        Self {
            capacity,
            byte_budget,
            next_id: AtomicU64::new(1),
            ring: Mutex::new(Ring::default()),
        }
    }

    /// Whether requests are recorded at all.
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // A poisoned lock only means a recorder panicked between two whole updates.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `entry` (its `id` is assigned here), evicting the oldest past either bound.
    pub(crate) fn record(&self, mut entry: Entry) {
        if !self.enabled() {
            return;
        }
        entry.id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cost = entry.cost();
        let entry = Arc::new(entry);
        // Evicted entries are freed after the lock is released (a dozen allocations each).
        let mut evicted = Vec::new();
        let mut ring = self.ring();
        while !ring.entries.is_empty()
            && (ring.entries.len() >= self.capacity || ring.bytes + cost > self.byte_budget)
        {
            if let Some(old) = ring.entries.pop_front() {
                ring.bytes -= old.cost();
                evicted.push(old);
            }
        }
        ring.bytes += cost;
        ring.entries.push_back(entry);
        drop(ring);
        drop(evicted);
    }

    /// The entries `filter` selects, oldest first (`limit`: the newest that many).
    pub(crate) fn select(&self, filter: &Filter) -> Vec<Arc<Entry>> {
        let ring = self.ring();
        let mut out: Vec<Arc<Entry>> = ring
            .entries
            .iter()
            .filter(|e| filter.matches(e))
            .cloned()
            .collect();
        drop(ring);
        if let Some(limit) = filter.limit {
            let skip = out.len().saturating_sub(limit);
            out.drain(..skip);
        }
        out
    }

    /// How many entries `filter` selects (`limit` caps the count).
    pub(crate) fn count(&self, filter: &Filter) -> usize {
        let n = self
            .ring()
            .entries
            .iter()
            .filter(|e| filter.matches(e))
            .count();
        filter.limit.map_or(n, |l| n.min(l))
    }

    /// Forgets every entry, or one tenant's. Ids keep increasing.
    pub(crate) fn clear(&self, tenant: Option<&TenantId>) {
        let mut ring = self.ring();
        match tenant {
            None => *ring = Ring::default(),
            Some(t) => {
                ring.entries
                    .retain(|e| e.tenant.as_deref().is_none_or(|x| x != t.as_str()));
                ring.bytes = ring.entries.iter().map(|e| e.cost()).sum();
            }
        }
    }

    /// Entries held and their estimated bytes (for tests of the bound).
    #[cfg(test)]
    pub(crate) fn usage(&self) -> (usize, usize) {
        let ring = self.ring();
        (ring.entries.len(), ring.bytes)
    }
}

/// A path pattern: `/`-separated segments matched case-insensitively, where `*` (or a route
/// template's `{name}`) matches one segment and a final `**` any rest (none included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct Pattern(String);

impl Pattern {
    /// A pattern from its text: it starts with `/`, and `**` is only its last segment.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        if !raw.starts_with('/') {
            return Err(format!("the path pattern {raw:?} does not start with /"));
        }
        let segments: Vec<&str> = raw.split('/').collect();
        if segments[..segments.len() - 1].contains(&"**") {
            return Err(format!("in the path pattern {raw:?}, ** may only end it"));
        }
        if raw.len() > MAX_TEXT {
            return Err(format!("the path pattern is longer than {MAX_TEXT} bytes"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Whether `path` (without query) matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let mut want = self.0.split('/');
        let mut have = path.split('/');
        loop {
            match (want.next(), have.next()) {
                (Some("**"), _) => return true,
                (None, None) => return true,
                (Some(w), Some(h)) if segment_matches(w, h) => {}
                _ => return false,
            }
        }
    }
}

fn segment_matches(want: &str, have: &str) -> bool {
    want == "*"
        || (want.starts_with('{') && want.ends_with('}') && !have.is_empty())
        || want.eq_ignore_ascii_case(have)
}

/// Status filter: one status or a class (`4xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusFilter {
    Exact(u16),
    Class(u16),
}

/// Where a listing starts: after an entry id, or at an emulator time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Since {
    After(u64),
    At(Timestamp),
}

/// The filters of `GET /_mock/requests` (and of `/count`): every one given must hold.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    method: Option<String>,
    path: Option<Pattern>,
    status: Option<StatusFilter>,
    tenant: Option<String>,
    machine: Option<String>,
    since: Option<Since>,
    limit: Option<usize>,
}

/// The query parameters a filter takes.
pub(crate) const FILTER_PARAMS: &[&str] = &[
    "method", "path", "status", "tenant", "machine", "since", "limit",
];

impl Filter {
    /// The filter of a query string's parameters; an unknown parameter or a bad value is an
    /// error naming it.
    pub(crate) fn parse(q: &HashMap<String, String>) -> Result<Self, String> {
        let mut f = Self::default();
        for (k, v) in q {
            match k.as_str() {
                "method" => f.method = Some(v.to_ascii_uppercase()),
                "path" => f.path = Some(Pattern::parse(v)?),
                "status" => f.status = Some(parse_status(v)?),
                "tenant" => {
                    let t = TenantId::parse(v).ok_or_else(|| {
                        format!("Invalid input {v:?}: a tenant is a GUID or a domain name")
                    })?;
                    f.tenant = Some(t.as_str().to_owned());
                }
                "machine" => f.machine = Some(v.to_ascii_lowercase()),
                "since" => f.since = Some(parse_since(v)?),
                "limit" => {
                    f.limit = Some(v.parse::<usize>().map_err(|_| {
                        format!("Invalid input {v:?}: limit is a whole number of entries")
                    })?)
                }
                other => {
                    return Err(format!(
                        "Unknown filter {other:?}: the filters are {}",
                        FILTER_PARAMS.join(", ")
                    ))
                }
            }
        }
        Ok(f)
    }

    fn matches(&self, e: &Entry) -> bool {
        self.method.as_ref().is_none_or(|m| *m == e.method)
            && self.path.as_ref().is_none_or(|p| p.matches(&e.path))
            && self.status.is_none_or(|s| match s {
                StatusFilter::Exact(n) => e.status == n,
                StatusFilter::Class(c) => e.status / 100 == c,
            })
            && self
                .tenant
                .as_ref()
                .is_none_or(|t| e.tenant.as_deref() == Some(t.as_str()))
            && self.machine.as_ref().is_none_or(|m| {
                e.machine_id
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(m))
            })
            && self.since.is_none_or(|s| match s {
                Since::After(id) => e.id > id,
                Since::At(t) => e.time >= t,
            })
    }
}

fn parse_status(v: &str) -> Result<StatusFilter, String> {
    let bad = || format!("Invalid input {v:?}: status is a number (404) or a class (4xx)");
    let lower = v.to_ascii_lowercase();
    if let Some(class) = lower.strip_suffix("xx") {
        return match class.parse::<u16>() {
            Ok(c @ 1..=5) => Ok(StatusFilter::Class(c)),
            _ => Err(bad()),
        };
    }
    v.parse::<u16>()
        .ok()
        .filter(|n| *n < 1000)
        .map(StatusFilter::Exact)
        .ok_or_else(bad)
}

fn parse_since(v: &str) -> Result<Since, String> {
    if let Ok(id) = v.parse::<u64>() {
        return Ok(Since::After(id));
    }
    Timestamp::parse(v).map(Since::At).map_err(|_| {
        format!("Invalid input {v:?}: since is an RFC 3339 time or a journal entry id")
    })
}

/// `text` cut to at most `max` bytes on a character boundary, and whether it was cut.
pub(crate) fn truncate(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// A form body or query string with the value of every secret field masked. A value cut short
/// (a truncated body) is masked all the same.
pub(crate) fn mask_form(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, pair) in text.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) if is_secret(k) => {
                out.push_str(k);
                out.push('=');
                out.push_str(MASK);
            }
            _ => out.push_str(pair),
        }
    }
    out
}

fn is_secret(raw_key: &str) -> bool {
    let key: String = form_urlencoded::parse(format!("{raw_key}=").as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default();
    SECRET_FIELDS.iter().any(|s| key.eq_ignore_ascii_case(s))
}

/// A JSON body with the value of every secret-named key (at any depth) masked; `None` if the
/// text is not whole JSON.
pub(crate) fn mask_json(text: &str) -> Option<String> {
    let mut v: serde_json::Value = serde_json::from_str(text).ok()?;
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if SECRET_FIELDS.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                        *x = serde_json::Value::from(MASK);
                    } else {
                        walk(x);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    serde_json::to_string(&v).ok()
}

/// The value of form field `name` in `body`, if present.
pub(crate) fn form_field(body: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &str) -> Entry {
        Entry {
            id: 0,
            time: Timestamp(time::OffsetDateTime::UNIX_EPOCH),
            request_id: "r".into(),
            method: "GET".into(),
            path: "/api/machines".into(),
            query: None,
            route: None,
            status: 200,
            tenant: Some(tenant.into()),
            app_id: None,
            user: None,
            permissions: vec![],
            machine_id: None,
            action_id: None,
            latency_ms: 0.0,
            fault_rule: None,
            request_body: Some("x".repeat(MAX_BODY_RECORDED)),
            body_truncated: false,
        }
    }

    #[test]
    fn patterns_match_one_segment_or_the_rest() {
        let p = Pattern::parse("/api/machines/*/unisolate").unwrap();
        assert!(p.matches("/api/machines/abc/unisolate"));
        assert!(p.matches("/API/Machines/abc/UnIsolate"));
        assert!(!p.matches("/api/machines/abc/isolate"));
        assert!(!p.matches("/api/machines/a/b/unisolate"));
        let rest = Pattern::parse("/api/**").unwrap();
        assert!(rest.matches("/api/machines/x/isolate") && rest.matches("/api"));
        let template = Pattern::parse("/api/machines/{id}/isolate").unwrap();
        assert!(template.matches("/api/machines/{id}/isolate"));
        assert!(template.matches("/api/machines/0a1b/isolate"));
        assert!(Pattern::parse("/api/**/x").is_err() && Pattern::parse("api").is_err());
    }

    #[test]
    fn the_byte_budget_evicts_the_oldest() {
        let one = entry("t").cost();
        let j = Journal::with_budget(1000, one * 3);
        for _ in 0..10 {
            j.record(entry("t"));
        }
        let (n, bytes) = j.usage();
        assert_eq!(n, 3);
        assert!(bytes <= one * 3);
    }

    #[test]
    fn secrets_are_masked_even_when_cut_short() {
        let masked = mask_form("grant_type=password&client_secret=s3cr&password=hunt");
        assert_eq!(masked, "grant_type=password&client_secret=***&password=***");
        assert_eq!(
            mask_form("a=1&client%5Fsecret=zz"),
            "a=1&client%5Fsecret=***"
        );
        let json = mask_json(r#"{"a":{"password":"p"},"b":[{"client_secret":"c"}]}"#).unwrap();
        assert!(!json.contains("\"p\"") && !json.contains("\"c\""), "{json}");
    }
}
