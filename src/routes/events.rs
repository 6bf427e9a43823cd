//! `GET /_mock/events`: the live state stream as Server-Sent Events, one SSE event per state
//! change (`event:` its kind, `id:` its position, `data:` the JSON `Event`), optionally for one
//! tenant (`?tenant=`) and some kinds (`?types=action.created,action.updated`).

use std::{collections::HashSet, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    response::{
        sse::{self, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::get,
};
use futures_util::stream::{self, Stream, StreamExt as _};
use tokio::sync::broadcast::{error::RecvError, Receiver};

use super::admin::{params, tenant_id, Handler, Params};
use crate::{error::Result, events::Event, model::TenantId, state::AppState};

/// The stream's control-plane route.
pub(super) static ROUTES: &[(&str, Handler)] = &[("/_mock/events", || get(events))];

/// How often an idle stream sends a comment, so proxies and clients keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Which events a subscriber asked for.
#[derive(Debug, Default)]
struct Filter {
    tenant: Option<TenantId>,
    kinds: Option<HashSet<String>>,
}

impl Filter {
    fn wants(&self, e: &Event) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == e.tenant)
            && self.kinds.as_ref().is_none_or(|k| k.contains(e.kind()))
    }
}

async fn events(State(state): State<AppState>, q: Params) -> Result<Response> {
    let q = params(q)?;
    let filter = Filter {
        tenant: q.get("tenant").map(|t| tenant_id(t)).transpose()?,
        kinds: q.get("types").map(|t| {
            t.split(',')
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty())
                .collect()
        }),
    };
    // Subscribed before the response starts: a client that has the headers sees every change
    // made after that.
    let rx = state.store().events().subscribe();
    Ok(Sse::new(stream_of(rx, filter))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

/// The SSE events of `rx` that `filter` wants, beginning with a `ready` event; a subscriber
/// that fell behind gets a `lagged` event saying how many it missed.
fn stream_of(
    rx: Receiver<Arc<Event>>,
    filter: Filter,
) -> impl Stream<Item = std::result::Result<sse::Event, Infallible>> {
    let ready = sse::Event::default().event("ready").data("{}");
    let rest = stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if filter.wants(&e) => {
                    let data = serde_json::to_string(&*e).unwrap_or_default();
                    let out = sse::Event::default()
                        .event(e.kind())
                        .id(e.id.to_string())
                        .data(data);
                    return Some((Ok(out), (rx, filter)));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => {
                    let out = sse::Event::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{n}}}"));
                    return Some((Ok(out), (rx, filter)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    stream::once(async { Ok(ready) }).chain(rest)
}
