//! Bearer-token authentication and per-endpoint authorization.
//!
//! Flow: the route guard (`routes::guard`) takes the `Authorization: Bearer` token, `Authenticator`
//! verifies its signature and issuer once and caches the claims (RS256 verification is the
//! dominant per-request cost otherwise), checks `nbf`/`exp` against the emulator clock on every
//! call, and builds a `Caller`; `Caller::authorize` then applies the endpoint's `Access` rule:
//! audience first (403), then app roles (`roles`) or delegated scopes (`scp`) (403).

mod caller;
mod crypto;
pub(crate) mod guard;
pub(crate) mod keys;
pub(crate) mod permissions;
pub(crate) mod token;

use std::sync::{atomic::Ordering, Arc};

use axum::http::{header, HeaderMap};
use dashmap::DashMap;
use time::OffsetDateTime;

pub(crate) use caller::Caller;
pub(crate) use crypto::install as install_crypto;
pub use keys::Keys;
pub(crate) use permissions::Access;
pub(crate) use token::Claims;
pub use token::TokenSpec;

use crate::{error::ApiError, model::TenantId};

/// Verified tokens kept by default (`Config::token_cache`).
pub(crate) const DEFAULT_TOKEN_CACHE: usize = 4096;
/// A verified token: its claims and its tenant, parsed once.
#[derive(Debug)]
struct Verified {
    claims: Claims,
    tenant: TenantId,
}

/// The largest bearer token accepted. Entra's access tokens are a few kilobytes even with many
/// roles; a larger one is refused before its signature is checked, which also bounds every
/// claim (and so the cost of each request that carries it).
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Bytes the verified-token cache may hold (token text plus decoded claims, estimated), besides
/// its count: a few thousand large tokens cannot grow the server.
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Verifies bearer tokens, with a cache of verified claims bounded in count and in bytes. Its
/// `Debug` prints no token.
pub(crate) struct Authenticator {
    keys: Keys,
    cache: DashMap<Box<str>, Arc<Verified>>,
    capacity: usize,
    /// The most bytes the cache may hold.
    byte_budget: usize,
    /// Estimated bytes held by the cache.
    bytes: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys)
            .field("cached_tokens", &self.cache.len())
            .field("capacity", &self.capacity)
            .field("cached_bytes", &self.bytes.load(Ordering::Relaxed))
            .finish()
    }
}

impl Authenticator {
    /// An authenticator for tokens signed by `keys`.
    #[cfg(test)]
    pub(crate) fn new(keys: Keys) -> Self {
        Self::with_capacity(keys, DEFAULT_TOKEN_CACHE)
    }

    /// An authenticator that caches at most `capacity` verified tokens.
    pub(crate) fn with_capacity(keys: Keys, capacity: usize) -> Self {
        Self::with_limits(keys, capacity, CACHE_BYTES)
    }

    /// An authenticator whose cache holds at most `capacity` tokens and `byte_budget` bytes.
    pub(crate) fn with_limits(keys: Keys, capacity: usize, byte_budget: usize) -> Self {
        Self {
            keys,
            cache: DashMap::new(),
            capacity: capacity.max(1),
            byte_budget,
            bytes: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The signing keys.
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The caller behind `headers`' bearer token at emulator time `now`, or 401.
    pub(crate) fn authenticate(
        &self,
        headers: &HeaderMap,
        now: OffsetDateTime,
    ) -> Result<Caller, ApiError> {
        let token = bearer(headers)?;
        let verified = self.verified(token, now)?;
        token::check_time(&verified.claims, now).map_err(|e| {
            tracing::debug!(reason = %e, "token refused");
            let now = token::rfc3339(now.unix_timestamp());
            ApiError::Unauthorized(format!("{e} (the emulator's clock reads {now})."))
        })?;
        Ok(Caller::from_claims(
            &verified.claims,
            verified.tenant.clone(),
        ))
    }

    /// The token's signature, issuer and tenant checked once, then cached.
    fn verified(&self, token: &str, now: OffsetDateTime) -> Result<Arc<Verified>, ApiError> {
        if let Some(v) = self.cache.get(token) {
            return Ok(Arc::clone(&v));
        }
        let claims = token::verify_signature(&self.keys, token).map_err(|e| {
            tracing::debug!(reason = %e, "token refused");
            ApiError::Unauthorized(format!("{e}."))
        })?;
        let tenant = TenantId::parse(&claims.tid).ok_or_else(|| {
            ApiError::Unauthorized(format!(
                "the access token's tid {:?} is not a tenant id.",
                claims.tid
            ))
        })?;
        let verified = Arc::new(Verified { claims, tenant });
        self.remember(token, &verified, now);
        Ok(verified)
    }

    /// Caches a verified token; when the count or the bytes would pass their bound, expired
    /// tokens go first, then all of them.
    fn remember(&self, token: &str, verified: &Arc<Verified>, now: OffsetDateTime) {
        let cost = entry_cost(token);
        let full = |s: &Self| {
            s.cache.len() >= s.capacity || s.bytes.load(Ordering::Relaxed) + cost > s.byte_budget
        };
        if full(self) {
            let now = now.unix_timestamp();
            self.cache.retain(|t, c| {
                let keep = c.claims.exp > now;
                if !keep {
                    self.bytes.fetch_sub(entry_cost(t), Ordering::Relaxed);
                }
                keep
            });
            if full(self) {
                self.cache.clear();
                self.bytes.store(0, Ordering::Relaxed);
            }
        }
        if self
            .cache
            .insert(token.into(), Arc::clone(verified))
            .is_none()
        {
            self.bytes.fetch_add(cost, Ordering::Relaxed);
        }
    }

    /// The tenant and app a request's bearer token names, without verifying it (fault rules
    /// match on them before the guard runs): from the cache, else from the token's payload.
    pub(crate) fn peek(&self, headers: &HeaderMap) -> Option<(String, String)> {
        let token = bearer(headers).ok()?;
        if let Some(v) = self.cache.get(token) {
            return Some((v.tenant.as_str().to_owned(), v.claims.app_id().to_owned()));
        }
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
        let claims: Claims = serde_json::from_slice(&payload).ok()?;
        let tenant = TenantId::parse(&claims.tid)
            .map_or_else(|| claims.tid.clone(), |t| t.as_str().to_owned());
        Some((tenant, claims.app_id().to_owned()))
    }

    /// How many verified tokens are cached (for tests of the bound).
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.cache.len()
    }

    /// The cache's estimated bytes (for tests of the bound).
    #[cfg(test)]
    pub(crate) fn cached_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Estimated bytes of one cache entry: the token text, and decoded claims no larger than it.
fn entry_cost(token: &str) -> usize {
    2 * token.len() + 128
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "the request has no access token (no Authorization header).".into(),
            )
        })?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not text.".into()))?;
    let not_bearer = || {
        ApiError::Unauthorized("the Authorization header is not `Bearer <access token>`.".into())
    };
    let (scheme, token) = value.split_once(' ').ok_or_else(not_bearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(not_bearer());
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(ApiError::Unauthorized(format!(
            "the access token is larger than {MAX_TOKEN_BYTES} bytes."
        )));
    }
    Ok(token)
}

#[cfg(test)]
mod tests;
