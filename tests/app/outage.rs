//! The database goes away under a running node (a private PostgreSQL cluster, stopped at once as
//! in a crash, then started again): requests fail fast with 503 and a real `Retry-After` in
//! each adapter's language, the JWKS goes on from the last good key set, and service comes back
//! by itself once the database does.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::pg_cluster::PgCluster;

#[tokio::test]
async fn a_database_outage_fails_fast_and_recovers() {
    let Some(cluster) = PgCluster::start() else {
        eprintln!("no PostgreSQL binaries: skipped");
        return;
    };
    let url = cluster.url();
    let app = TestApp::spawn_with(
        TestDb::sqlite().await,
        move |c| c.database.url = url,
        Vec::new(),
    )
    .await;
    let http = reqwest::Client::new();
    let token = || {
        http.post(app.url("/oauth2/token"))
            .basic_auth("nobody", Some("wrong"))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let api = || {
        http.get(app.url("/api/v1/me"))
            .bearer_auth("axk_not_a_key")
            .send()
    };
    assert_eq!(token().await.unwrap().status(), 401);
    assert_eq!(api().await.unwrap().status(), 401);
    assert_eq!(app.get("/login").await.status(), 200);
    let jwks: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    let kids = jwks["keys"].as_array().unwrap().len();
    assert!(kids >= 1, "{jwks}");

    cluster.stop();
    // The first request finds the database gone (it may wait for the pool to give up); after it,
    // every request is refused at once.
    let first = Instant::now();
    assert_eq!(token().await.unwrap().status(), 503);
    let first = first.elapsed();
    let mut slowest = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        let r = token().await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "2");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");

        let r = api().await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "2");
        assert_eq!(r.headers()["content-type"], "application/problem+json");

        let r = app.get("/login").await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "2");
        let page = r.text().await.unwrap();
        assert!(page.contains("Temporarily unavailable"), "{page}");

        let r = app.get("/readyz").await;
        assert_eq!(r.status(), 503);
        slowest = slowest.max(started.elapsed());
    }
    // Four requests in each round, each refused at once.
    assert!(
        slowest < Duration::from_millis(500),
        "slowest round {slowest:?}"
    );
    // The key set is re-read, fails, and the last good one is served.
    app.state.keys.invalidate();
    let r = app.get("/oauth2/jwks").await;
    assert_eq!(r.status(), 200);
    let during: Value = r.json().await.unwrap();
    assert_eq!(during["keys"].as_array().unwrap().len(), kids, "{during}");
    eprintln!("outage: first request answered in {first:?}, later rounds of 4 within {slowest:?}");

    cluster.pg_ctl_start();
    let back = Instant::now();
    loop {
        if app.get("/readyz").await.status() == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "not back after the database was"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "outage: serving again {:?} after the database started",
        back.elapsed()
    );
    assert_eq!(app.get("/login").await.status(), 200);
    assert_eq!(token().await.unwrap().status(), 401);
    app.stop().await.unwrap();
}

/// `authx serve` on SQLite killed with SIGKILL under write load, twice: every write it
/// acknowledged is there after a restart, and the database passes its integrity check.
#[tokio::test]
async fn sigkill_under_write_load_loses_no_acknowledged_write() {
    use crate::support::binary::{authx, run, text};
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let out = run(authx(dir.path()).args([
        "bootstrap-admin",
        "--email",
        "admin@example.com",
        "--issue-api-key",
    ]));
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{err}");
    let key: String = stdout
        .split("axk_")
        .nth(1)
        .map(|rest| {
            let tail: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            format!("axk_{tail}")
        })
        .expect("an API key printed");
    let serve = || {
        let mut child = authx(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines.next().expect("server logs its address").unwrap();
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        (child, addr)
    };
    let http = reqwest::Client::new();
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..2 {
        let (mut child, addr) = serve();
        let writers = (0..4).map(|w| {
            let http = http.clone();
            let key = key.clone();
            let addr = addr.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0.. {
                    let r = http
                        .post(format!("http://{addr}/api/v1/users"))
                        .bearer_auth(&key)
                        .json(&serde_json::json!({"username": format!("r{round}w{w}n{n}")}))
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 201 => {
                            let body: Value = match r.json().await {
                                Ok(body) => body,
                                Err(_) => break,
                            };
                            ids.push(body["id"].as_str().unwrap().to_owned());
                        }
                        Ok(r) => panic!("a write refused: {}", r.status()),
                        Err(_) => break,
                    }
                }
                ids
            })
        });
        let writers: Vec<_> = writers.collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            std::process::Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let _ = child.wait();
        for writer in writers {
            acknowledged.extend(writer.await.unwrap());
        }
    }
    assert!(
        acknowledged.len() > 20,
        "only {} writes",
        acknowledged.len()
    );
    let (mut child, addr) = serve();
    let mut missing = Vec::new();
    for id in &acknowledged {
        let r = http
            .get(format!("http://{addr}/api/v1/users/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            missing.push(id.clone());
        }
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let url = format!("sqlite:{}", dir.path().join("authx.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    eprintln!(
        "SIGKILL twice under write load: {} acknowledged writes, {} missing, integrity {integrity}",
        acknowledged.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "lost acknowledged writes: {missing:?}");
    assert_eq!(integrity, "ok");
}
