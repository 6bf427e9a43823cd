//! Throughput ratios of one run (figures on shared machines are noisy; ratios of one run are what
//! to compare), on the same read endpoint, driving the real application in process through
//! `tower::ServiceExt::oneshot` (no sockets, no HTTP client: on 2 cores a client in the same run
//! would eat most of the CPU and hide the server's own cost):
//! - the rate limiter: `--rate-limits off` vs the limiter on under a quota too large to trip;
//! - the request journal: `--journal-size 0` (off) vs the default (every request recorded);
//! - the verified-token cache: on (the server as shipped) vs defeated (a one-entry cache fed 64
//!   distinct tokens in turn, so every request verifies an RS256 signature).
//!
//! Run: `cargo bench --bench throughput` (env BENCH_REQUESTS, BENCH_ROUNDS to change the load).

use std::time::Instant;

use axum::{body::Body, http::Request, Router};
use defender_mock::{
    mint as mint_token, ClockMode, Config, Emulator, Fleet, Keys, RateLimitMode as Mode,
    RateLimits as Settings, TokenSpec, DEFAULT_MACHINES,
};
use tower::ServiceExt;

const TASKS: usize = 4;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The application over the default fleet; returns it and the path of one machine.
fn app(rate_limits: Settings, token_cache: usize) -> (Router, String) {
    app_with(rate_limits, token_cache, Config::default().journal_size)
}

/// [`app`] with a journal of `journal_size` entries (0: off).
fn app_with(rate_limits: Settings, token_cache: usize, journal_size: usize) -> (Router, String) {
    let machines: serde_json::Value = serde_json::from_str(DEFAULT_MACHINES).expect("fleet");
    let path = format!("/api/machines/{}", machines[0]["id"].as_str().expect("id"));
    let config = Config {
        clock: ClockMode::Frozen,
        rate_limits,
        token_cache,
        journal_size,
        fleet: Some(Fleet::embedded().expect("fleet")),
        ..Config::default()
    };
    (Emulator::new(&config).expect("emulator").router(), path)
}

/// Requests per second for `total` GETs from `TASKS` concurrent tasks; task `t` sends token
/// `i * TASKS + t` (mod the count) on its `i`-th request, so no two in-flight requests share one.
async fn drive(target: &(Router, String), tokens: &[String], total: usize) -> f64 {
    let per_task = total / TASKS;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (app, path, tokens) = (target.0.clone(), target.1.clone(), tokens.to_vec());
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                let req = Request::get(&path)
                    .header(
                        "authorization",
                        format!("Bearer {}", tokens[(i * TASKS + t) % tokens.len()]),
                    )
                    .header("host", "localhost")
                    .body(Body::empty())
                    .expect("request");
                let res = app.clone().oneshot(req).await.expect("infallible");
                assert_eq!(res.status(), 200, "the quota must not trip");
                let _ = axum::body::to_bytes(res.into_body(), usize::MAX).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    (per_task * TASKS) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One side of a comparison: a name and an application with the path to call.
type Side<'a> = (&'a str, &'a (Router, String));

/// Alternates `a` and `b` over `rounds` rounds; prints every round and the medians.
async fn compare(
    label: &str,
    a: Side<'_>,
    b: Side<'_>,
    tokens: &[String],
    total: usize,
    rounds: usize,
) {
    drive(a.1, tokens, 2_000).await; // warm-up: connections, caches, allocator
    drive(b.1, tokens, 2_000).await;
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate the order so drift on a shared machine hits both sides alike.
        let (x, y) = if round % 2 == 0 {
            let x = drive(a.1, tokens, total).await;
            (x, drive(b.1, tokens, total).await)
        } else {
            let y = drive(b.1, tokens, total).await;
            (drive(a.1, tokens, total).await, y)
        };
        println!(
            "{label} round {round}: {} {x:>9.0} req/s   {} {y:>9.0} req/s   ratio {:.3}",
            a.0,
            b.0,
            y / x
        );
        xs.push(x);
        ys.push(y);
    }
    let (mx, my) = (median(xs), median(ys));
    println!(
        "{label} median: {} {mx:.0} req/s, {} {my:.0} req/s, ratio {}/{} {:.3} ({total} requests x {rounds} rounds, {TASKS} tasks)",
        a.0,
        b.0,
        b.0,
        a.0,
        my / mx
    );
}

#[tokio::main]
async fn main() {
    let total = env_usize("BENCH_REQUESTS", 40_000);
    let rounds = env_usize("BENCH_ROUNDS", 5);
    let mint = || {
        mint_token(
            &Keys::development(),
            &TokenSpec {
                roles: vec!["Machine.Read.All".into()],
                ttl_secs: 86_400,
                ..TokenSpec::default()
            },
        )
        .expect("token")
    };
    let huge = Settings {
        mode: Mode::Documented,
        per_minute: Some(u32::MAX),
        per_hour: Some(u32::MAX),
    };
    let off = Settings {
        mode: Mode::Off,
        ..Settings::default()
    };

    let (unjournaled, journaled) = (app_with(off, 4096, 0), app(off, 4096));
    compare(
        "journal",
        ("off", &unjournaled),
        ("on", &journaled),
        &[mint()],
        total,
        rounds,
    )
    .await;

    let (off_app, on_app) = (app(off, 4096), app(huge, 4096));
    compare(
        "limiter",
        ("off", &off_app),
        ("on", &on_app),
        &[mint()],
        total,
        rounds,
    )
    .await;

    let (cached, uncached) = (app(off, 4096), app(off, 1));
    let two = [mint(), mint()];
    compare(
        "token cache",
        ("cached", &cached),
        ("verify-every-request", &uncached),
        &two,
        total / 4,
        rounds,
    )
    .await;
}
