//! Throughput cost of the rate limiter: the same read endpoint served with `--rate-limits off`
//! and with the limiter on under a quota too large to trip, measured in one run and reported as
//! a ratio (figures on shared machines are noisy; ratios of one run are what to compare).
//!
//! Run: `cargo bench --bench throttle` (env BENCH_REQUESTS, BENCH_ROUNDS to change the load).

use std::time::Instant;

use defender_mock::{
    auth::{token, Keys, TokenSpec},
    clock::ClockMode,
    fixtures, startup,
    state::{AppState, Config},
    throttle::{Mode, Settings},
};
use tokio::{net::TcpListener, sync::oneshot};

const CONNECTIONS: usize = 8;
const IN_FLIGHT_PER_CONNECTION: usize = 4;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn serve(rate_limits: Settings) -> (String, String, oneshot::Sender<()>) {
    let fleet = fixtures::default_fleet().expect("fleet");
    let id = fleet[0].machine.id.clone();
    let config = Config {
        clock: ClockMode::Frozen,
        rate_limits,
        ..Config::default()
    };
    let state = AppState::new(fleet, config, Keys::development());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}/api/machines/{id}",
        listener.local_addr().expect("addr")
    );
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(startup::run(listener, state, async {
        let _ = rx.await;
    }));
    (url, id, tx)
}

/// Requests per second for `total` GETs spread over several connections.
async fn drive(url: &str, token: &str, total: usize) -> f64 {
    let per_task = total / (CONNECTIONS * IN_FLIGHT_PER_CONNECTION);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let client = reqwest::Client::new();
        for _ in 0..IN_FLIGHT_PER_CONNECTION {
            let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_task {
                    let r = client
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(r.status(), 200, "the quota must not trip");
                    let _ = r.bytes().await;
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("task");
    }
    (per_task * CONNECTIONS * IN_FLIGHT_PER_CONNECTION) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let total = env_usize("BENCH_REQUESTS", 40_000);
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let huge = Settings {
        mode: Mode::Documented,
        per_minute: Some(u32::MAX),
        per_hour: Some(u32::MAX),
    };
    let off = Settings {
        mode: Mode::Off,
        ..Settings::default()
    };
    let (url_on, _, _stop_on) = serve(huge).await;
    let (url_off, _, _stop_off) = serve(off).await;
    let token = token::mint(
        &Keys::development(),
        &TokenSpec {
            roles: vec!["Machine.Read.All".into()],
            ttl_secs: 86_400,
            ..TokenSpec::default()
        },
    )
    .expect("token");
    // Warm-up: connections, the token cache, allocator.
    drive(&url_on, &token, 2_000).await;
    drive(&url_off, &token, 2_000).await;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate the order so drift on a shared machine hits both sides alike.
        let (a, b) = if round % 2 == 0 {
            (
                drive(&url_off, &token, total).await,
                drive(&url_on, &token, total).await,
            )
        } else {
            let b = drive(&url_on, &token, total).await;
            (drive(&url_off, &token, total).await, b)
        };
        println!(
            "round {round}: limits off {a:>9.0} req/s   limits on {b:>9.0} req/s   on/off {:.3}",
            b / a
        );
        off.push(a);
        on.push(b);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (m_on, m_off) = (median(&mut on), median(&mut off));
    println!(
        "median: limits off {m_off:.0} req/s, limits on {m_on:.0} req/s, ratio on/off {:.3} ({} requests x {rounds} rounds, {} connections)",
        m_on / m_off,
        total,
        CONNECTIONS
    );
}
