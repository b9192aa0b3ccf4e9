//! A real SAML 2.0 identity provider on loopback for the SAML sign-in tests: pysaml2, run by
//! `tests/peers/saml_idp.py` (see its header), signing with the Debian `xmlsec1` binary; and a
//! browser-less driver for its auto-posting form. Plus [`MetadataServer`], a tiny HTTP server
//! whose answer a test can change, for metadata served by URL.
//!
//! The Python comes from `AUTHX_TEST_PYTHON` (one with pysaml2). Without it [`Idp::start`]
//! returns `None` and the test is skipped with a note on stderr — except under `CI=true`, where
//! that is a failure. The script serves until its stdin closes: the [`Idp`] holds that pipe and
//! kills the process when dropped, so no run leaves it behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, Command};

/// A running `saml_idp.py`.
pub struct Idp {
    /// Its base URL (`http://127.0.0.1:<port>`).
    pub base_url: String,
    /// Its metadata, as `GET /metadata` serves it.
    pub metadata_xml: String,
    http: reqwest::Client,
    stderr: Arc<Mutex<String>>,
    _stdin: ChildStdin,
    _child: Child,
}

/// Skips (outside CI) or fails (CI=true) when the IdP can't run here.
fn unavailable(why: &str) -> Option<Idp> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but the pysaml2 IdP cannot run: {why}");
    }
    eprintln!("note: skipping a SAML test: {why}");
    None
}

impl Idp {
    /// Starts the IdP with `config` (see the script's header: `sp_entity_id` and `acs_url`, or
    /// `sp_metadata`; `user`; …).
    pub async fn start(config: Value) -> Option<Self> {
        let Some(python) = std::env::var_os("AUTHX_TEST_PYTHON") else {
            return unavailable("AUTHX_TEST_PYTHON (a Python with pysaml2) is not set");
        };
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/saml_idp.py");
        let spawned = Command::new(&python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return unavailable(&format!("cannot run {python:?}: {e}")),
        };
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        // The config is the first line of stdin; the pipe then stays open while the IdP is needed.
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{config}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
        let base_url = match first {
            Ok(Ok(Some(line))) if line.starts_with("http://127.0.0.1:") => line,
            other => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "the IdP did not print its URL ({other:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let metadata = http
            .get(format!("{base_url}/metadata"))
            .send()
            .await
            .unwrap();
        assert_eq!(metadata.status(), 200);
        let metadata_xml = metadata.text().await.unwrap();
        Some(Self {
            base_url,
            metadata_xml,
            http,
            stderr,
            _stdin: stdin,
            _child: child,
        })
    }

    /// A response minted with `options` (see `POST /mint` in the script): its base64 and XML.
    pub async fn mint(&self, options: Value) -> (String, String) {
        let r = self
            .http
            .post(format!("{}/mint", self.base_url))
            .json(&options)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "mint failed: {body}\n{}", self.stderr());
        let body: Value = serde_json::from_str(&body).unwrap();
        (
            body["saml_response"].as_str().unwrap().to_owned(),
            body["xml"].as_str().unwrap().to_owned(),
        )
    }

    /// The AuthnRequests the IdP has parsed so far, oldest first.
    pub async fn requests(&self) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/requests", self.base_url))
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    /// The id of the last AuthnRequest the IdP parsed.
    pub async fn last_request_id(&self) -> String {
        let requests = self.requests().await;
        requests.last().unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// What the IdP wrote to stderr so far (for failure messages).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// The IdP's auto-posting form, as a browser without JavaScript sees it.
#[derive(Debug, Clone)]
pub struct AutoPost {
    /// The form's `action` (authx's ACS URL).
    pub action: String,
    /// The `SAMLResponse` field.
    pub saml_response: String,
    /// The `RelayState` field, if any.
    pub relay_state: Option<String>,
}

impl AutoPost {
    /// The form's fields, to post as they are.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![("SAMLResponse", self.saml_response.clone())];
        if let Some(relay_state) = &self.relay_state {
            fields.push(("RelayState", relay_state.clone()));
        }
        fields
    }
}

/// GETs `sso_url` (the IdP's single sign-on URL with the AuthnRequest) with `browser` and reads
/// the form the IdP answers with.
pub async fn sso(browser: &reqwest::Client, sso_url: &str) -> AutoPost {
    let r = browser.get(sso_url).send().await.unwrap();
    let status = r.status();
    let page = r.text().await.unwrap();
    assert_eq!(status, 200, "the IdP's SSO answered: {page}");
    AutoPost {
        action: attribute(&page, "action=\"").expect("a form action"),
        saml_response: attribute(&page, "name=\"SAMLResponse\" value=\"").expect("SAMLResponse"),
        relay_state: attribute(&page, "name=\"RelayState\" value=\""),
    }
}

/// The (HTML-unescaped) value following `prefix` up to the closing quote.
fn attribute(page: &str, prefix: &str) -> Option<String> {
    let start = page.find(prefix)? + prefix.len();
    let end = start + page[start..].find('"')?;
    Some(
        page[start..end]
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The metadata `xml` without its `KeyDescriptor` elements: an IdP that publishes no signing
/// certificate.
pub fn without_certificates(xml: &str) -> String {
    let mut out = xml.to_owned();
    while let Some(open) = out.find(":KeyDescriptor") {
        let start = out[..open].rfind('<').unwrap();
        let prefix = &out[start + 1..open];
        let close = format!("</{prefix}:KeyDescriptor>");
        let end = open + out[open..].find(&close).unwrap() + close.len();
        out.replace_range(start..end, "");
    }
    assert!(!out.contains("X509Certificate"), "{out}");
    out
}

/// An HTTP server on loopback answering every request with the body a test sets (as
/// `application/samlmetadata+xml`), until dropped.
pub struct MetadataServer {
    /// Where it serves (`http://127.0.0.1:<port>/metadata`).
    pub url: String,
    body: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl MetadataServer {
    /// Serves `body`.
    pub async fn start(body: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metadata", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(body.to_owned()));
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = serving.lock().unwrap().clone();
                tokio::spawn(async move {
                    // Read the request head (a GET has no body), then answer and close.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/samlmetadata+xml\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self {
            url,
            body: shared,
            task,
        }
    }

    /// Serves `body` from now on.
    pub fn set(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_owned();
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
