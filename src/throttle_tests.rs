//! Unit tests of `throttle`.

use super::*;

fn tid(s: &str) -> TenantId {
    TenantId::parse(&format!("{s}.example.com")).unwrap()
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
}

fn check(l: &Limiter, now: OffsetDateTime) -> Decision {
    l.check(
        &tid("t"),
        "app",
        RouteKey {
            method: "POST",
            path: "/api/machines/{id}/unisolate",
        },
        DOCUMENTED,
        now,
    )
}

#[test]
fn the_101st_call_in_a_minute_waits_for_the_oldest_to_leave() {
    let l = Limiter::new(Settings::default());
    for _ in 0..50 {
        assert_eq!(check(&l, t0()), Decision::Accepted);
    }
    let t10 = t0() + Duration::seconds(10);
    for _ in 0..50 {
        assert_eq!(check(&l, t10), Decision::Accepted);
    }
    assert_eq!(
        check(&l, t10),
        Decision::Throttled {
            retry_after_secs: 50
        }
    );
    // Throttled calls do not count: still 50 s, and at t0+60 exactly the first 50 have left.
    assert_eq!(
        check(&l, t10),
        Decision::Throttled {
            retry_after_secs: 50
        }
    );
    let t60 = t0() + Duration::seconds(60);
    for _ in 0..50 {
        assert_eq!(check(&l, t60), Decision::Accepted);
    }
    assert_eq!(
        check(&l, t60),
        Decision::Throttled {
            retry_after_secs: 10
        }
    );
}

#[test]
fn retry_after_rounds_up_and_is_never_zero() {
    let l = Limiter::new(Settings::default());
    for _ in 0..100 {
        check(&l, t0());
    }
    let almost = t0() + Duration::seconds(59) + Duration::milliseconds(999);
    assert_eq!(
        check(&l, almost),
        Decision::Throttled {
            retry_after_secs: 1
        }
    );
    let a_bit = t0() + Duration::milliseconds(1);
    assert_eq!(
        check(&l, a_bit),
        Decision::Throttled {
            retry_after_secs: 60
        }
    );
}

#[test]
fn the_hour_window_holds_1500_whatever_the_spread() {
    let l = Limiter::new(Settings::default());
    let mut now = t0();
    for _ in 0..15 {
        for _ in 0..100 {
            assert_eq!(check(&l, now), Decision::Accepted);
        }
        now += Duration::seconds(60);
    }
    // 15 minutes in: the minute window is empty but the hour is full until t0 + 3600.
    assert_eq!(
        check(&l, now),
        Decision::Throttled {
            retry_after_secs: 3600 - 900
        }
    );
    assert_eq!(check(&l, t0() + HOUR), Decision::Accepted);
}

#[test]
fn keys_are_independent_and_idle_keys_are_swept() {
    let l = Limiter::new(Settings::default());
    for _ in 0..100 {
        check(&l, t0());
    }
    assert!(matches!(check(&l, t0()), Decision::Throttled { .. }));
    assert_eq!(
        l.check(
            &tid("t"),
            "other-app",
            RouteKey {
                method: "POST",
                path: "/x"
            },
            DOCUMENTED,
            t0()
        ),
        Decision::Accepted
    );
    assert_eq!(
        l.check(
            &tid("u"),
            "app",
            RouteKey {
                method: "POST",
                path: "/api/machines/{id}/unisolate"
            },
            DOCUMENTED,
            t0()
        ),
        Decision::Accepted
    );
    assert_eq!(l.keys(), 3);
    l.sweep(t0() + Duration::minutes(59));
    assert_eq!(l.keys(), 3);
    l.sweep(t0() + HOUR);
    assert_eq!(l.keys(), 0);
}

#[test]
fn memory_per_key_is_bounded_by_the_limit() {
    let l = Limiter::new(Settings::default());
    let mut now = t0();
    for _ in 0..5000 {
        check(&l, now);
        now += Duration::seconds(3);
    }
    assert!(l.calls.iter().all(|e| e.len() <= 1500));
}

#[test]
fn off_and_overrides() {
    let off = Limiter::new(Settings {
        mode: Mode::Off,
        ..Settings::default()
    });
    for _ in 0..1000 {
        assert_eq!(check(&off, t0()), Decision::Accepted);
    }
    let custom = Limiter::new(Settings {
        per_minute: Some(3),
        per_hour: Some(4),
        ..Settings::default()
    });
    for _ in 0..3 {
        assert_eq!(check(&custom, t0()), Decision::Accepted);
    }
    assert_eq!(
        check(&custom, t0()),
        Decision::Throttled {
            retry_after_secs: 60
        }
    );
    assert_eq!(check(&custom, t0() + MINUTE), Decision::Accepted);
    assert_eq!(
        check(&custom, t0() + MINUTE),
        Decision::Throttled {
            retry_after_secs: 3540
        }
    );
    // GetPackageUri keeps its documented 2/min whatever the override.
    for _ in 0..2 {
        assert_eq!(
            custom.check(
                &tid("t"),
                "app",
                RouteKey {
                    method: "GET",
                    path: "pkg"
                },
                PACKAGE_URI,
                t0()
            ),
            Decision::Accepted
        );
    }
    assert!(matches!(
        custom.check(
            &tid("t"),
            "app",
            RouteKey {
                method: "GET",
                path: "pkg"
            },
            PACKAGE_URI,
            t0()
        ),
        Decision::Throttled { .. }
    ));
    // Per tenant.
    custom.set_tenant(
        &tid("T"),
        Some(Settings {
            mode: Mode::Off,
            ..Settings::default()
        }),
    );
    for _ in 0..10 {
        assert_eq!(check(&custom, t0()), Decision::Accepted);
    }
}

#[test]
fn the_call_log_keeps_only_the_last_hour() {
    let l = Limiter::new(Settings {
        mode: Mode::Documented,
        per_minute: Some(MAX_PER_MINUTE),
        per_hour: Some(MAX_PER_HOUR),
    });
    // 200 calls spread over three hours: the log holds only those of the last hour.
    for i in 0..200 {
        let at = t0() + Duration::seconds(i * 54);
        assert_eq!(check(&l, at), Decision::Accepted);
    }
    let len = l.calls.iter().map(|e| e.value().len()).max().unwrap_or(0);
    assert!(len <= 67, "{len} calls remembered");
}
