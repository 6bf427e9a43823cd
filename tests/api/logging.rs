//! The real binary's request log: exactly one line per request, carrying the `request-id` the
//! client got, written while the server idles (request lines are batched) and all there at a
//! clean stop.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{kill, Signal},
    unistd::Pid,
};

use crate::helpers::machine_id;

const BIN: &str = env!("CARGO_BIN_EXE_defender-mock");

/// How many lines of `log` name `id`.
fn lines_naming(log: &[String], id: &str) -> usize {
    log.iter().filter(|l| l.contains(id)).count()
}

#[tokio::test]
async fn every_request_has_exactly_one_log_line_with_its_request_id() {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--clock", "frozen"])
        .env("RUST_LOG", "defender_mock=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = ready_tx.send(line.unwrap_or_default());
        }
    });
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                log.lock().unwrap().push(line.unwrap_or_default());
            }
        })
    };
    let ready = ready_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let url = ready
        .strip_prefix("defender-mock listening on ")
        .unwrap()
        .to_owned();

    // Answers of each kind: 200, 401 (refused), 404 (unknown route), a path routed only after
    // normalisation, and a 405.
    let client = reqwest::Client::new();
    let machine = machine_id("fin-lt-0187");
    let paths = [
        "/_mock/health".to_owned(),
        format!("/api/machines/{machine}"),
        "/api/nowhere".to_owned(),
        format!("/API/v1.0/Machines/{machine}/"),
    ];
    let mut ids = HashMap::new();
    for round in 0..25 {
        for path in &paths {
            let r = client.get(format!("{url}{path}")).send().await.unwrap();
            let id = r.headers()["request-id"].to_str().unwrap().to_owned();
            assert!(
                ids.insert(id, (round, path.clone())).is_none(),
                "a request id came twice"
            );
        }
    }
    let r = client
        .delete(format!("{url}/api/machines/{machine}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    ids.insert(
        r.headers()["request-id"].to_str().unwrap().to_owned(),
        (0, "DELETE".to_owned()),
    );

    // Written while the server idles, without waiting for it to stop.
    let started = Instant::now();
    while ids
        .keys()
        .any(|id| lines_naming(&log.lock().unwrap(), id) == 0)
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "request lines still unwritten after 5 s of idling"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // One more request, then a clean stop: its line is there too, and no line twice.
    let r = client
        .get(format!("{url}/_mock/health"))
        .send()
        .await
        .unwrap();
    let last = r.headers()["request-id"].to_str().unwrap().to_owned();
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    let log = log.lock().unwrap();
    for (id, what) in ids.iter().chain([(&last, &(0, "last".to_owned()))]) {
        assert_eq!(
            lines_naming(&log, id),
            1,
            "{what:?} {id}:\n{}",
            log.join("\n")
        );
    }
    let request_lines = log.iter().filter(|l| l.contains("request_id=")).count();
    assert_eq!(request_lines, ids.len() + 1, "{}", log.join("\n"));
    assert!(
        log.last().unwrap().contains("shut down cleanly"),
        "{}",
        log.join("\n")
    );
}
