//! Hostile bodies, on both backends: a body larger than its route class takes is refused with a
//! 413 as soon as that is known (a declared length before anything is read, a chunked body at
//! the limit), in each adapter's language, and many such bodies at once leave memory bounded.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::app::TestApp;
use crate::support::db::TestDb;

/// Sends `POST path` with `total` bytes of `content_type` body (declared with Content-Length, or
/// chunked), writing until the server answers or closes; returns the status line's code and
/// how many body bytes were written.
async fn post_raw(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    total: usize,
    chunked: bool,
) -> (Option<u16>, usize) {
    post_raw_with(addr, path, content_type, total, chunked, "").await
}

/// [`post_raw`] with `extra` header lines (each ending in CRLF).
async fn post_raw_with(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    total: usize,
    chunked: bool,
    extra: &str,
) -> (Option<u16>, usize) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let length = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {total}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n{extra}{length}\r\n\r\n"
    );
    write.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![b'a'; 16 * 1024];
        let mut sent = 0;
        while sent < total {
            let result = if chunked {
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                write.write_all(&framed).await
            } else {
                write.write_all(&chunk).await
            };
            if result.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(30), read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break None,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if let Some(line) = answer
                    .split(|b| *b == b'\n')
                    .next()
                    .filter(|_| answer.contains(&b'\n'))
                {
                    let line = String::from_utf8_lossy(line);
                    break line.split(' ').nth(1).and_then(|code| code.parse().ok());
                }
            }
        }
    };
    drop(read);
    let sent = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .map(|r| r.unwrap_or(0))
        .unwrap_or(total);
    (status, sent)
}

/// The process's resident memory, in KiB (Linux).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn oversized_bodies_are_refused_before_they_are_read(db: TestDb) {
    let app = TestApp::spawn(db).await;
    const MB: usize = 1024 * 1024;
    let form = "application/x-www-form-urlencoded";
    // With the credentials their heads need (a CSRF cookie, a bearer), so that only the size
    // decides.
    let cookie = "Cookie: authx_csrf=0123456789abcdef0123456789abcdef0123456789a\r\n";
    let bearer = "Authorization: Bearer axk_whatever\r\n";
    for (path, content_type, size, extra) in [
        ("/login/password", form, 64 * MB, cookie),
        ("/oauth2/token", form, 8 * MB, ""),
        ("/api/v1/me", "application/json", 16 * MB, bearer),
    ] {
        // Declared: refused on the headers, long before the body could have been sent.
        let (status, sent) = post_raw(app.addr, path, content_type, size, false).await;
        assert_eq!(status, Some(413), "{path}");
        assert!(
            sent < size,
            "{path}: the whole body was taken ({sent} bytes)"
        );
        // Chunked: refused once the limit is passed.
        let (status, sent) = post_raw_with(app.addr, path, content_type, size, true, extra).await;
        assert_eq!(status, Some(413), "{path} (chunked)");
        assert!(sent < size, "{path} (chunked): the whole body was taken");
    }
    // Without them, a body is not even read: a page form without the CSRF cookie (403), an
    // admin API write without a bearer (401).
    for (path, content_type, expected) in [
        ("/login/password", form, 403),
        ("/account/profile", form, 403),
        ("/api/v1/me", "application/json", 401),
    ] {
        let (status, sent) = post_raw(app.addr, path, content_type, 8 * MB, true).await;
        assert_eq!(status, Some(expected), "{path}");
        assert!(sent < 8 * MB, "{path}: the body was taken");
    }
    // Each adapter answers in its own language.
    let big = "a".repeat(2 * MB);
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .header("content-type", form)
        .body(format!(
            "grant_type=client_credentials&x={}",
            &big[..100 * 1024]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    let r = app
        .client
        .patch(app.url("/api/v1/me"))
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // Eight concurrent 64 MB bodies, chunked: memory stays bounded.
    let before = rss_kib();
    let addr = app.addr;
    let attacks: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(post_raw_with(
                addr,
                "/login/password",
                form,
                64 * MB,
                true,
                cookie,
            ))
        })
        .collect();
    for attack in attacks {
        assert_eq!(attack.await.unwrap().0, Some(413));
    }
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    eprintln!("figure: RSS grew by {grown_mib} MiB over 8 concurrent 64 MiB bodies");
    assert!(grown_mib < 64, "RSS grew by {grown_mib} MiB");
    app.stop().await.unwrap();
}
on_both_backends!(oversized_bodies_are_refused_before_they_are_read);
