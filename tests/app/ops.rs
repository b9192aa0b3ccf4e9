//! The server as operators see it: health, readiness, metrics, request ids, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use poem::EndpointExt;
use tokio::sync::Notify;

use crate::support::app::TestApp;
use crate::support::db::TestDb;

async fn health_and_readiness(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    app.stop().await.unwrap();
}
on_both_backends!(health_and_readiness);

async fn request_ids(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let r = app.get("/healthz").await;
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-42");
    // An id that could forge log lines is replaced, not echoed.
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "a b c")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "a b c");
    app.stop().await.unwrap();
}
on_both_backends!(request_ids);

async fn metrics_content(db: TestDb) {
    let app = TestApp::spawn(db).await;
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
    assert_eq!(app.get("/no/such/page").await.status(), 404);
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{:?}",
        r.headers()
    );
    let text = r.text().await.unwrap();
    let has_line = |metric: &str, parts: &[&str]| {
        text.lines()
            .any(|l| l.starts_with(metric) && parts.iter().all(|p| l.contains(p)))
    };
    assert!(
        has_line(
            "http_requests_total",
            &["route=\"/healthz\"", "status=\"200\"", "method=\"GET\""]
        ),
        "{text}"
    );
    assert!(
        has_line(
            "http_requests_total",
            &["route=\"unmatched\"", "status=\"404\""]
        ),
        "{text}"
    );
    assert!(
        has_line(
            "http_request_duration_seconds_bucket",
            &["route=\"/healthz\"", "le=\"0.005\""]
        ),
        "{text}"
    );
    assert!(
        has_line("db_pool_connections", &["state=\"idle\""]),
        "{text}"
    );
    assert!(
        has_line("db_pool_connections", &["state=\"in_use\""]),
        "{text}"
    );
    app.stop().await.unwrap();
}
on_both_backends!(metrics_content);

/// A request in flight when shutdown begins still gets its answer; new connections are refused.
async fn graceful_shutdown_completes_in_flight_request(db: TestDb) {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let slow = {
        let started = started.clone();
        let release = release.clone();
        poem::endpoint::make(move |_| {
            let started = started.clone();
            let release = release.clone();
            async move {
                started.notify_one();
                release.notified().await;
                "finished"
            }
        })
        .map_to_response()
        .boxed()
    };
    let mut app = TestApp::spawn_with(db, |_| {}, vec![("/slow", slow)]).await;
    let client = app.client.clone();
    let url = app.url("/slow");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    started.notified().await;
    app.begin_stop();
    // Shutdown has begun: give the server a moment to stop accepting, then let the handler finish.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = reqwest::Client::new()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "new connections must be refused after shutdown began"
    );
    release.notify_one();
    let response = in_flight
        .await
        .unwrap()
        .expect("in-flight request answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "finished");
    app.wait().await.expect("server stopped cleanly");
}
on_both_backends!(graceful_shutdown_completes_in_flight_request);

/// With its database gone, a node reports 503 on /readyz but stays alive on /healthz.
#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let app = TestApp::spawn(db).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    crate::support::app::drop_postgres_database(&app.db.url).await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await.unwrap();
}
