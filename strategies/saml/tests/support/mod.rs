//! The pysaml2 identity provider (`tests/peers/saml_idp.py`) as a test fixture.
//!
//! The Python is taken from `AUTHX_TEST_PYTHON` (one with pysaml2; the Debian `xmlsec1` binary
//! must be installed). When it is unset the tests are skipped with a note on stderr, except under
//! `CI=true`, where that is a failure. One IdP process serves every test of the binary: it reads
//! its config from the first line of its stdin and exits when stdin closes, which happens at the
//! latest when the test process exits, so it never outlives the tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authx_strategy_saml::{IdentityProvider, SamlDetails, SpConfig, sp_metadata_xml};
use base64::Engine as _;
use serde_json::{Value, json};

pub const AUTHORITY: &str = "corp-saml";
pub const SP_ENTITY_ID: &str = "https://authx.test/saml/corp";
pub const ACS_URL: &str = "https://authx.test/login/corp-saml/acs";
pub const SKEW: u64 = 120;
pub const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

/// The running IdP and what we learnt from it.
pub struct Idp {
    pub base_url: String,
    pub metadata_xml: String,
    pub provider: IdentityProvider,
    // Held so the process lives as long as the test binary; closing stdin stops it.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

/// The shared IdP, or `None` (after a note on stderr) when no Python is configured outside CI.
pub fn idp() -> Option<&'static Idp> {
    static IDP: OnceLock<Option<Idp>> = OnceLock::new();
    IDP.get_or_init(start).as_ref()
}

fn start() -> Option<Idp> {
    let Some(python) = std::env::var_os("AUTHX_TEST_PYTHON") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "AUTHX_TEST_PYTHON must name a Python with pysaml2 in CI"
        );
        eprintln!("skipped: AUTHX_TEST_PYTHON (a Python with pysaml2) is not set");
        return None;
    };
    let script: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "tests",
        "peers",
        "saml_idp.py",
    ]
    .iter()
    .collect();
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the pysaml2 IdP");
    let mut stdin = child.stdin.take().unwrap();
    let config = json!({
        "sp_metadata": sp_metadata_xml(&sp()).unwrap(),
        "user": {
            "name_id": "ada-1001",
            "name_id_format": PERSISTENT,
            "attributes": {
                "User.email": ["Ada@Example.COM"],
                "User.FirstName": ["Ada"],
                "User.LastName": ["Lovelace"],
            },
        },
    });
    writeln!(stdin, "{config}").unwrap();
    stdin.flush().unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let base_url = first_line.trim().to_owned();
    assert!(
        base_url.starts_with("http://127.0.0.1:"),
        "the IdP did not start: {first_line:?}"
    );
    let (status, metadata_xml) = http("GET", &format!("{base_url}/metadata"), None);
    assert_eq!(status, 200, "{metadata_xml}");
    let provider = IdentityProvider::from_metadata_xml(&metadata_xml).unwrap();
    Some(Idp {
        base_url,
        metadata_xml,
        provider,
        _stdin: Mutex::new(stdin),
        _child: Mutex::new(child),
    })
}

/// Our SP for these tests; the email and name attributes are OneLogin-style names, and the IdP
/// is trusted to vouch for its addresses.
pub fn sp() -> SpConfig {
    let details = SamlDetails::from_details(&json!({
        "idp_metadata_url": "https://idp.example/metadata",
        "sp_entity_id": SP_ENTITY_ID,
        "email_attribute": "User.email",
        "given_name_attribute": "User.FirstName",
        "family_name_attribute": "User.LastName",
        "trust_email": true,
    }))
    .unwrap();
    SpConfig::new(AUTHORITY, &details, ACS_URL, None)
}

impl Idp {
    /// A response minted by the IdP with `options` (see `saml_idp.py`): (base64, XML).
    pub fn mint(&self, options: Value) -> (String, String) {
        let (status, body) = http(
            "POST",
            &format!("{}/mint", self.base_url),
            Some(&options.to_string()),
        );
        assert_eq!(status, 200, "mint failed: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        (
            body["saml_response"].as_str().unwrap().to_owned(),
            body["xml"].as_str().unwrap().to_owned(),
        )
    }

    /// The XML of a minted response.
    pub fn mint_xml(&self, options: Value) -> String {
        self.mint(options).1
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

pub fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// A minimal HTTP/1.0 client for the loopback IdP (which closes after each answer).
pub fn http(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let body = body.unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// The byte range of the first element `<prefix:local …>…</prefix:local>` (any prefix).
pub fn element_span(xml: &str, local: &str) -> (usize, usize) {
    let needle = format!(":{local}");
    let mut from = 0;
    while let Some(found) = xml[from..].find(&needle) {
        let colon = from + found;
        let after = xml.as_bytes().get(colon + needle.len()).copied();
        let open = xml[..colon].rfind('<').unwrap();
        let prefix = &xml[open + 1..colon];
        if matches!(after, Some(b' ' | b'>' | b'/'))
            && !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            let close = format!("</{prefix}:{local}>");
            let end = colon + xml[colon..].find(&close).unwrap() + close.len();
            return (open, end);
        }
        from = colon + needle.len();
    }
    panic!("no element {local} in {xml}");
}

/// The text of the first element `local`.
pub fn element(xml: &str, local: &str) -> String {
    let (start, end) = element_span(xml, local);
    xml[start..end].to_owned()
}

/// Replaces the first occurrence of `from` (which must be present).
pub fn replace_once(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "{from:?} not in {xml}");
    xml.replacen(from, to, 1)
}

/// The value of attribute `name` on the first element `local`.
pub fn attribute(xml: &str, local: &str, name: &str) -> String {
    let (start, _) = element_span(xml, local);
    let tag_end = start + xml[start..].find('>').unwrap();
    let tag = &xml[start..tag_end];
    let key = format!(" {name}=\"");
    let value_start = tag.find(&key).unwrap() + key.len();
    let value_end = value_start + tag[value_start..].find('"').unwrap();
    tag[value_start..value_end].to_owned()
}

/// What Debian's `xmlsec1 --verify` says about every signature in `xml`, with `provider`'s
/// metadata certificates as the only keys: `true` when each signature verified. xmlsec1 checks
/// one signature per run, so it runs once for the Response's and once for the Assertion's. It
/// is the independent second opinion the SAML tests compare authx's verdict with.
pub fn xmlsec1_verifies(xml: &str, provider: &IdentityProvider) -> bool {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let directory =
        std::env::temp_dir().join(format!("authx-xmlsec1-{}-{run}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let document = directory.join("response.xml");
    std::fs::write(&document, xml).unwrap();
    let mut keys = Vec::new();
    for (i, der) in provider.signing_certificates().iter().enumerate() {
        let path = directory.join(format!("cert{i}.der"));
        std::fs::write(&path, der).unwrap();
        keys.push(path);
    }
    let signatures = [
        (
            "/*[local-name()='Response']/*[local-name()='Signature']",
            "Response",
        ),
        (
            "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']",
            "Assertion",
        ),
    ];
    let mut verified = 0;
    let mut verdict = true;
    for (xpath, parent) in signatures {
        if !signature_under(xml, parent) {
            continue;
        }
        let mut command = Command::new("xmlsec1");
        command
            .arg("--verify")
            .args(["--enabled-reference-uris", "same-doc"])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            ])
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            ])
            .args(["--node-xpath", xpath]);
        for key in &keys {
            command.arg("--pubkey-cert-der").arg(key);
        }
        let output = command.arg(&document).output().expect("running xmlsec1");
        verified += 1;
        verdict &= output.status.success();
    }
    std::fs::remove_dir_all(&directory).unwrap();
    verified > 0 && verdict
}

/// Whether an element `parent` at the top of the Response (the root itself, or a child of it)
/// holds a `Signature` child.
fn signature_under(xml: &str, parent: &str) -> bool {
    let Ok(document) = roxmltree::Document::parse(xml) else {
        return false;
    };
    let root = document.root_element();
    let has_signature =
        |node: roxmltree::Node<'_, '_>| node.children().any(|c| c.tag_name().name() == "Signature");
    if parent == "Response" {
        return has_signature(root);
    }
    root.children()
        .filter(|c| c.tag_name().name() == parent)
        .any(has_signature)
}
