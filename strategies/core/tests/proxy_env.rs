//! A proxy named in the environment must not carry outbound requests past the policy: the
//! policy checks the addresses authx connects to, and through a proxy it would only ever see the
//! proxy's, while the proxy connects wherever the URL says. The request runs in a child process
//! (this test binary again) whose environment names a proxy listening here.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use authx_strategy_core::outbound::OutboundPolicy;

/// Set in the child's environment: make the request instead of watching for it.
const CHILD: &str = "AUTHX_TEST_PROXY_ENV_CHILD";
const TEST: &str = "proxy_variables_are_ignored";

#[tokio::test]
async fn proxy_variables_are_ignored() {
    if std::env::var_os(CHILD).is_some() {
        let client = OutboundPolicy::default()
            .client_builder()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        // A name that cannot resolve: without a proxy the request fails on its own; through the
        // proxy it would reach the parent's listener.
        let answer = client
            .get("http://metadata.authx-test.invalid/latest/meta-data/")
            .send()
            .await;
        assert!(answer.is_err(), "{answer:?}");
        return;
    }
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let address = format!("http://{}", proxy.local_addr().unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([TEST, "--exact", "--test-threads=1"])
        .env(CHILD, "1");
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
    ] {
        child.env(name, &address);
    }
    child.env_remove("NO_PROXY").env_remove("no_proxy");
    // Nothing else runs on this test's runtime, so waiting for the child here blocks nobody.
    let status = child.status().unwrap();
    assert!(status.success(), "the child's request failed its checks");
    assert!(
        proxy.accept().is_err(),
        "the request went to the proxy named in the environment"
    );
}
