//! The HTTP server loop: accepts connections, serves the poem application on each with hyper, and
//! shuts down gracefully. Ours rather than `poem::Server`, because a server that faces the
//! internet must bound what a slow or greedy client can hold, and poem's loop cannot be told to:
//!
//! - **Request heads arrive in time.** A connection must send a complete request head within
//!   `server.header_read_timeout_secs` (10 s) of opening, and of finishing its previous request
//!   (hyper's HTTP/1 header timer, plus our own deadline over the protocol sniffing that comes
//!   before it); otherwise it is closed. Idle keep-alive connections are closed as well. Bodies
//!   have their own deadline where they are read (`intake`).
//! - **Connections per client address are capped** (`server.max_connections_per_ip`, IPv6 by
//!   /64): one over the cap is reset at once. The peer of a trusted proxy is exempt, since it
//!   carries many clients; limits behind it are per request (rate limits).
//! - **Accept errors back off.** Out of file descriptors, `accept` fails at once and keeps failing:
//!   retrying in a loop would spin a core and starve the connections being served. The loop waits
//!   100 ms, doubling to 1 s, and logs a warning.
//! - **Shutdown drains only complete requests.** On the signal the listener closes; connections
//!   that are idle or still sending a request head close at once; those serving a request finish
//!   it (HTTP/1 without keep-alive, HTTP/2 with GOAWAY) within `server.shutdown_timeout_secs`, and
//!   are cut off after it.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use poem::endpoint::{DynEndpoint, ToDynEndpoint};
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, Response};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::proxies::TrustedProxies;

/// What the loop allows each connection, and how long shutdown waits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request head must be complete this long after the connection opened or its previous
    /// request finished.
    pub header_read: Duration,
    /// Open connections per client address (0: no cap).
    pub per_ip: usize,
    /// Peers exempt from `per_ip`.
    pub trusted_proxies: TrustedProxies,
    /// How long requests in progress may take to finish after the shutdown signal.
    pub shutdown: Duration,
}

type Application = Arc<dyn DynEndpoint<Output = Response>>;

/// Serves `app` on `listener` until `shutdown` completes, then shuts down gracefully.
pub async fn serve(
    listener: TcpListener,
    app: impl Endpoint + 'static,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let app: Application = Arc::new(ToDynEndpoint(app.map_to_response()));
    let local = listener.local_addr()?;
    let (stop, stopping) = watch::channel(false);
    let counts = Arc::new(PerIp::new(limits.per_ip, limits.trusted_proxies.clone()));
    let mut connections = JoinSet::new();
    let mut backoff = Backoff::default();
    tokio::pin!(shutdown);
    loop {
        // Finished connections are reaped as we go, so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.reset();
                let Some(slot) = PerIp::admit(&counts, peer.ip()) else {
                    // A reset rather than a close: nothing to linger over.
                    let _ = stream.set_zero_linger();
                    metrics::counter!("authx_connections_refused_total", "reason" => "per_ip")
                        .increment(1);
                    continue;
                };
                connections.spawn(connection(
                    stream,
                    local,
                    peer,
                    slot,
                    app.clone(),
                    limits.header_read,
                    stopping.clone(),
                ));
            }
            // The failure of one connection (it went away before we took it), not of the
            // listener.
            Err(error) if per_connection(&error) => continue,
            Err(error) => {
                let wait = backoff.next_wait();
                tracing::warn!(%error, retry_in_ms = wait.as_millis(), "cannot accept connections; backing off");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "shutdown timeout: cutting off the requests still running"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Whether an `accept` error concerns only the connection being accepted.
fn per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// How long to wait after a failed `accept`: 100 ms, doubling to 1 s, until one succeeds.
#[derive(Debug, Default)]
struct Backoff {
    wait: Option<Duration>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const LONGEST: Duration = Duration::from_secs(1);

    fn next_wait(&mut self) -> Duration {
        let wait = self
            .wait
            .map_or(Self::FIRST, |w| (w * 2).min(Self::LONGEST));
        self.wait = Some(wait);
        wait
    }

    fn reset(&mut self) {
        self.wait = None;
    }
}

/// Serves one connection; see the module documentation for its deadlines and its shutdown.
async fn connection(
    stream: TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    _slot: Slot,
    app: Application,
    header_read: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::default());
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: http::Request<Incoming>| {
            // Counted when hyper hands the parsed head over, uncounted when the response body
            // has been written (or the request abandoned).
            let busy = Busy::enter(&activity);
            let app = app.clone();
            async move {
                let request = (
                    request,
                    LocalAddr(local.into()),
                    RemoteAddr(peer.into()),
                    Scheme::HTTP,
                );
                let response: http::Response<BoxBody<Bytes, io::Error>> =
                    app.get_response(request.into()).await.into();
                Ok::<_, Infallible>(response.map(|body| Tracked { body, _busy: busy }))
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read);
    builder.http2().timer(TokioTimer::new());
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    // hyper's header timer starts once it knows the protocol; this one covers the first head
    // from the first byte, protocol sniffing included.
    let first_head = tokio::time::sleep(header_read);
    tokio::pin!(first_head);
    let mut first_head_pending = true;
    loop {
        tokio::select! {
            _ = &mut connection => return,
            _ = stopping.wait_for(|stop| *stop) => break,
            () = &mut first_head, if first_head_pending => {
                if !activity.dispatched.load(Ordering::Acquire) {
                    tracing::debug!(%peer, "closing a connection that sent no request head in time");
                    return;
                }
                first_head_pending = false;
            }
        }
    }
    if activity.in_flight.load(Ordering::Acquire) == 0 {
        // Idle, or still sending a head: nothing to finish.
        return;
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// What one connection is doing.
#[derive(Debug, Default)]
struct Activity {
    /// Whether any request head has been received.
    dispatched: AtomicBool,
    /// Requests received and not answered in full yet.
    in_flight: AtomicUsize,
}

/// One request in progress on a connection.
struct Busy(Arc<Activity>);

impl Busy {
    fn enter(activity: &Arc<Activity>) -> Self {
        activity.dispatched.store(true, Ordering::Release);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in progress until it is dropped.
struct Tracked {
    body: BoxBody<Bytes, io::Error>,
    _busy: Busy,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Open connections per client address.
#[derive(Debug)]
struct PerIp {
    cap: usize,
    exempt: TrustedProxies,
    open: Mutex<std::collections::HashMap<IpAddr, usize>>,
}

/// A connection counted against its address; uncounted when dropped.
struct Slot {
    counts: Option<(Arc<PerIp>, IpAddr)>,
}

impl PerIp {
    fn new(cap: usize, exempt: TrustedProxies) -> Self {
        Self {
            cap,
            exempt,
            open: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Counts a connection from `ip`, or `None` when its address has `cap` open already.
    fn admit(this: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let ip = ip.to_canonical();
        if this.cap == 0 || this.exempt.trusts(ip) {
            return Some(Slot { counts: None });
        }
        let key = bucket(ip);
        let mut open = this.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= this.cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            counts: Some((this.clone(), key)),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((counts, key)) = self.counts.take() {
            let mut open = counts.open.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = open.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.remove(&key);
                }
            }
        }
    }
}

/// The address connections are counted under: IPv4 as it is, IPv6 by its /64 (one subscriber's
/// network).
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..6).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_wait().as_millis(), 100);
    }

    #[test]
    fn connections_are_capped_per_address_and_uncounted_on_drop() {
        let counts = Arc::new(PerIp::new(2, TrustedProxies::default()));
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let first = PerIp::admit(&counts, a).unwrap();
        let _second = PerIp::admit(&counts, a).unwrap();
        assert!(PerIp::admit(&counts, a).is_none(), "the third is refused");
        assert!(PerIp::admit(&counts, "203.0.113.8".parse().unwrap()).is_some());
        drop(first);
        let _again = PerIp::admit(&counts, a).expect("a slot came free");
        // One IPv6 /64 is one client; an IPv4-mapped address is its IPv4 address.
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        let _x = PerIp::admit(&counts, v6("2001:db8:1:2::1")).unwrap();
        let _y = PerIp::admit(&counts, v6("2001:db8:1:2::ffff")).unwrap();
        assert!(PerIp::admit(&counts, v6("2001:db8:1:2:abcd::9")).is_none());
        assert!(PerIp::admit(&counts, v6("2001:db8:1:3::1")).is_some());
        assert!(PerIp::admit(&counts, v6("::ffff:203.0.113.7")).is_none());
    }

    #[test]
    fn trusted_proxies_and_a_zero_cap_are_not_counted() {
        let proxies: TrustedProxies =
            serde_json::from_value(serde_json::json!(["10.0.0.0/8"])).unwrap();
        let counts = Arc::new(PerIp::new(1, proxies));
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let held: Vec<Slot> = (0..5)
            .map(|_| PerIp::admit(&counts, proxy).unwrap())
            .collect();
        assert_eq!(held.len(), 5);
        let open = Arc::new(PerIp::new(0, TrustedProxies::default()));
        let any: IpAddr = "198.51.100.1".parse().unwrap();
        assert!((0..5).all(|_| PerIp::admit(&open, any).is_some()));
    }
}
