//! Clients that hold the server without asking anything of it (issue: hostile traffic): request
//! heads and bodies trickled in, connections opened by the hundred from one address, connections
//! left half-sent at shutdown, and accept failures when file descriptors run out. Each test
//! asserts what the attacker is left holding: a closed connection, within a bound.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::app::TestApp;
use crate::support::db::TestDb;

/// A blocking connection to `app` that gives up reading after `patience`.
fn connect(app: &TestApp, patience: Duration) -> TcpStream {
    let stream = TcpStream::connect(app.addr).unwrap();
    stream.set_read_timeout(Some(patience)).unwrap();
    stream
}

/// Reads until the server closes the connection (or `patience` runs out: `None`); returns what
/// arrived.
fn until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&got).into_owned());
            }
            Err(_) => return None,
        }
    }
}

/// A connection that sends its head a byte at a time, one that sends nothing, and one that
/// stops in the middle of the protocol preface are all closed once the head deadline passes.
async fn slow_heads_are_cut_off(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.server.header_read_timeout_secs = 1, Vec::new()).await;
    let addr = app.addr;
    let outcome = tokio::task::spawn_blocking(move || {
        let app_addr = addr;
        let open = |patience| {
            let s = TcpStream::connect(app_addr).unwrap();
            s.set_read_timeout(Some(patience)).unwrap();
            s
        };
        let started = Instant::now();
        let mut silent = open(Duration::from_secs(5));
        let mut sniffing = open(Duration::from_secs(5));
        sniffing.write_all(b"GE").unwrap();
        let mut trickle = open(Duration::from_millis(200));
        let head =
            format!("GET /healthz HTTP/1.1\r\nHost: {app_addr}\r\nX-Pad: aaaaaaaaaaaaaaaa\r\n\r\n");
        let mut trickle_closed = None;
        for byte in head.bytes() {
            if trickle.write_all(&[byte]).is_err() {
                trickle_closed = Some(started.elapsed());
                break;
            }
            if let Ok(0) = trickle.read(&mut [0u8; 1]) {
                trickle_closed = Some(started.elapsed());
                break;
            }
        }
        let silent_closed = until_closed(&mut silent).map(|_| started.elapsed());
        let sniffing_closed = until_closed(&mut sniffing).map(|_| started.elapsed());
        (trickle_closed, silent_closed, sniffing_closed)
    })
    .await
    .unwrap();
    let (trickle, silent, sniffing) = outcome;
    eprintln!(
        "head deadline 1 s: closed trickle {trickle:?}, silent {silent:?}, sniffing {sniffing:?}"
    );
    for (what, closed) in [
        ("trickle", trickle),
        ("silent", silent),
        ("sniffing", sniffing),
    ] {
        let closed = closed.unwrap_or_else(|| panic!("the {what} connection is still open"));
        assert!(
            closed >= Duration::from_millis(900) && closed < Duration::from_secs(4),
            "the {what} connection closed after {closed:?}"
        );
    }
    // A prompt client is served as before.
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await.unwrap();
}
on_both_backends!(slow_heads_are_cut_off);

/// A body trickled in past the body deadline is answered 408, in the adapter's language, and
/// the connection closed.
async fn slow_bodies_get_408(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.server.body_read_timeout_secs = 1, Vec::new()).await;
    // Each with what its head needs (a bearer, a CSRF cookie), so the body is read.
    for (path, content_type, expect, extra) in [
        (
            "/oauth2/token",
            "application/x-www-form-urlencoded",
            "\"error\":\"invalid_request\"",
            "",
        ),
        (
            "/api/v1/me",
            "application/json",
            "request-timeout",
            "Authorization: Bearer axk_whatever\r\n",
        ),
        (
            "/login/password",
            "application/x-www-form-urlencoded",
            "took too long",
            "Cookie: authx_csrf=0123456789abcdef0123456789abcdef0123456789a\r\n",
        ),
    ] {
        let mut stream = connect(&app, Duration::from_secs(5));
        let started = Instant::now();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\n{extra}Content-Length: 100\r\n\r\ngrant",
            app.addr
        )
        .unwrap();
        let answer = tokio::task::spawn_blocking(move || until_closed(&mut stream))
            .await
            .unwrap()
            .expect("the server answers and closes");
        let took = started.elapsed();
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains(expect), "{path}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{path}: {answer}"
        );
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "{path}: answered after {took:?}"
        );
    }
    app.stop().await.unwrap();
}
on_both_backends!(slow_bodies_get_408);

/// One address may hold at most `server.max_connections_per_ip` connections: the next is reset
/// at once, and a slot that comes free can be used again.
async fn connections_per_address_are_capped(db: TestDb) {
    let app = TestApp::spawn_with(
        db,
        |c| {
            c.server.max_connections_per_ip = 3;
            c.server.header_read_timeout_secs = 30;
        },
        Vec::new(),
    )
    .await;
    let addr = app.addr;
    let (held_alive, over_cap, after_free) = tokio::task::spawn_blocking(move || {
        let open = || {
            let s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            s
        };
        let mut held: Vec<TcpStream> = (0..3).map(|_| open()).collect();
        // Give the server a moment to count them.
        std::thread::sleep(Duration::from_millis(200));
        let mut fourth = open();
        let started = Instant::now();
        let over_cap = until_closed(&mut fourth).map(|_| started.elapsed());
        // The held ones still work.
        let get = |s: &mut TcpStream| {
            write!(
                s,
                "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            until_closed(s).unwrap_or_default()
        };
        let held_alive = get(&mut held[0]);
        drop(held.remove(0));
        std::thread::sleep(Duration::from_millis(200));
        let after_free = get(&mut open());
        (held_alive, over_cap, after_free)
    })
    .await
    .unwrap();
    let over_cap = over_cap.expect("the connection over the cap is closed");
    assert!(
        over_cap < Duration::from_secs(1),
        "closed after {over_cap:?}"
    );
    assert!(held_alive.starts_with("HTTP/1.1 200"), "{held_alive}");
    assert!(after_free.starts_with("HTTP/1.1 200"), "{after_free}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("authx_connections_refused_total") && l.contains("per_ip")),
        "{metrics}"
    );
    app.stop().await.unwrap();
}
on_both_backends!(connections_per_address_are_capped);

/// Shutdown with connections that are idle or still sending a head does not wait for them: the
/// server stops at once, not after `server.shutdown_timeout_secs`.
async fn shutdown_does_not_wait_for_half_sent_requests(db: TestDb) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(db, |c| c.server.shutdown_timeout_secs = 20, Vec::new()).await;
    let mut half_sent = Vec::new();
    for i in 0..3 {
        let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        s.write_all(
            format!("POST /login/password HTTP/1.1\r\nHost: x{i}\r\nContent-Le").as_bytes(),
        )
        .await
        .unwrap();
        half_sent.push(s);
    }
    // And one idle keep-alive connection that has been served once.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    app.stop().await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    for s in &mut half_sent {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a half-sent connection was left open");
    }
}
on_both_backends!(shutdown_does_not_wait_for_half_sent_requests);

/// Out of file descriptors, the accept loop backs off and says so instead of spinning a core,
/// and the server serves again as soon as descriptors come free.
#[test]
fn out_of_file_descriptors_the_accept_loop_backs_off() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let mut child = crate::support::binary::authx_with_fd_limit(dir.path(), 64)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AUTHX_SERVER__HEADER_READ_TIMEOUT_SECS", "3")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    {
        let lines = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("addr=").nth(1) {
                    let _ = addr_tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
                lines.lock().unwrap().push(line);
            }
        });
    }
    let addr = addr_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(crate::support::binary::http_get(&addr, "/healthz").contains("ok"));
    // More idle connections than the server has descriptors for.
    let held: Vec<TcpStream> = (0..120)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let cpu = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        // utime and stime, fields 14 and 15 of proc(5): 12 and 13 after the command name.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu(child.id());
    std::thread::sleep(Duration::from_millis(1500));
    let spent = cpu(child.id()) - before;
    let warned = lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("cannot accept connections; backing off"));
    drop(held);
    let started = Instant::now();
    let recovered = loop {
        let answer = TcpStream::connect(&addr).ok().and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            write!(
                s,
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .ok()?;
            until_closed(&mut s)
        });
        if answer.is_some_and(|a| a.starts_with("HTTP/1.1 200")) {
            break Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(15) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let log = lines.lock().unwrap().join("\n");
    eprintln!(
        "out of descriptors: {spent} CPU ticks (10 ms) in 1.5 s; serving again {recovered:?} after the connections closed"
    );
    // 1.5 s of spinning would be ~150 ticks (100 Hz); backing off costs a few.
    assert!(
        spent < 30,
        "{spent} ticks of CPU in 1.5 s while out of descriptors\n{log}"
    );
    assert!(warned, "no warning logged\n{log}");
    assert!(recovered.is_some(), "the server did not recover\n{log}");
}
