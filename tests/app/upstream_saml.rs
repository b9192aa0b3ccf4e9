//! Signing in through a SAML 2.0 identity provider (reference §3 saml, §6), end to end: a real IdP
//! (pysaml2 on loopback, `support::saml_idp`), authorities created through the admin API, and a
//! browser without JavaScript (a cookie jar, redirects followed by hand) that clicks the login
//! page's button, goes through the IdP and posts its form to authx's ACS.
//!
//! Covered: a new user from the assertion's attributes, the credential reused on the next sign-in
//! (also from a browser that sends no cookie with the cross-site POST), the SP metadata (pysaml2
//! configured from it), IdP-initiated logins when allowed, linking from the account page,
//! metadata by URL (checked when saved, refreshed with the certificate check repeated), and the
//! refusals — each with a generic page, a `login.failure` audit event with its reason, and no
//! user or session created. Crafted responses come from the IdP's `POST /mint` (pysaml2-built,
//! xmlsec1-signed, with the defect asked for); the verifier is authx's own code.

use authx::domain::Page;
use authx::domain::audit::{AuditFilter, Outcome};
use authx::domain::user::UserFilter;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::principals::{Caller, caller};
use crate::support::saml_idp::{AutoPost, Idp, MetadataServer, sso, without_certificates};
use crate::support::upstream::{
    api, assert_refused_page, failures, location, set_cookie, user_count,
};
use crate::web_password::{Browser, person};

const AUTHORITY: &str = "corp";
const SP_ENTITY_ID: &str = "https://authx.test/saml/corp";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const NAME_ID: &str = "ada-1001";
/// The one message of every refused response.
const GENERIC: &str = "The sign-in response from the identity provider could not be accepted.";
const NO_PENDING: &str = "This sign-in attempt has expired or was already used.";
const UNAVAILABLE: &str = "This way of signing in is not available right now.";

/// The person the IdP logs in, with OneLogin-style attribute names.
fn idp_user() -> Value {
    json!({
        "name_id": NAME_ID,
        "name_id_format": PERSISTENT,
        "attributes": {
            "User.email": ["Ada@Example.COM"],
            "User.FirstName": ["Ada"],
            "User.LastName": ["Lovelace"],
        },
    })
}

/// The authority's details with `metadata` (`{"idp_metadata_xml": …}` or `…_url`) and `extra`.
fn details(metadata: Value, extra: Value) -> Value {
    let mut all = json!({
        "sp_entity_id": SP_ENTITY_ID,
        "email_attribute": "User.email",
        "given_name_attribute": "User.FirstName",
        "family_name_attribute": "User.LastName",
    });
    for (k, v) in metadata
        .as_object()
        .unwrap()
        .iter()
        .chain(extra.as_object().unwrap())
    {
        all[k] = v.clone();
    }
    all
}

fn acs(app: &TestApp, authority: &str) -> String {
    app.url(&format!("/login/{authority}/acs"))
}

/// A running authx, the IdP (knowing authx's `corp` SP by entity id and ACS URL), and an admin
/// that created `corp` through the API with the IdP's metadata XML and `extra` details. `None`
/// when the IdP can't run here (the test is skipped).
async fn setup(db: TestDb, extra: Value) -> Option<(TestApp, Idp, Caller)> {
    let app = TestApp::spawn(db).await;
    let idp = Idp::start(json!({
        "sp_entity_id": SP_ENTITY_ID,
        "acs_url": acs(&app, AUTHORITY),
        "user": idp_user(),
    }))
    .await;
    let Some(idp) = idp else {
        app.stop().await.unwrap();
        return None;
    };
    let admin = caller(&app, &["AuthX:authority:create", "AuthX:authority.*:*"]).await;
    let all = details(json!({"idp_metadata_xml": idp.metadata_xml}), extra);
    let (s, a) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/authorities",
        Some(json!({"id": AUTHORITY, "strategy": "saml", "name": "Corp SSO", "details": all})),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["details"]["allowed_clock_skew_secs"], 120);
    Some((app, idp, admin))
}

/// PATCHes `corp`'s details with `patch` as `admin`; the change must be accepted.
async fn patch_corp(app: &TestApp, admin: &Caller, patch: Value) {
    let (s, a) = api(
        app,
        admin,
        Method::PATCH,
        "/api/v1/authorities/corp",
        Some(json!({ "details": patch })),
    )
    .await;
    assert_eq!(s, 200, "{a}");
}

/// Points `corp` at `idp` (its metadata pasted, users created), as `admin`.
async fn switch_idp(app: &TestApp, admin: &Caller, idp: &Idp) {
    patch_corp(
        app,
        admin,
        details(
            json!({"idp_metadata_xml": idp.metadata_xml}),
            json!({"creates_users": true}),
        ),
    )
    .await;
}

async fn start(idp: &Idp, b: &Browser, start: &str) -> String {
    let r = b.get(start).await;
    assert_eq!(r.status(), 303, "GET {start}: {}", r.text().await.unwrap());
    let cookie = set_cookie(&r, "authx_upstream=").expect("the pending-login cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/login/"), "{cookie}");
    let url = location(&r);
    let sso_prefix = format!("{}/sso/redirect?SAMLRequest=", idp.base_url);
    assert!(url.starts_with(&sso_prefix), "{url}");
    assert!(url.contains("&RelayState=axrs_"), "{url}");
    url
}

/// From authx's `start` path through the IdP: the IdP's form (not posted yet).
async fn to_form(idp: &Idp, b: &Browser, path: &str) -> AutoPost {
    let url = start(idp, b, path).await;
    sso(&b.client, &url).await
}

/// POSTs `fields` to `action` with `client`, as the IdP's page makes the browser do, and follows
/// authx's continuation (the step after a verified response to an attempt) in the same client,
/// as the browser's redirect does.
async fn post_form(
    client: &reqwest::Client,
    action: &str,
    fields: &[(&str, String)],
) -> reqwest::Response {
    let r = post_only(client, action, fields).await;
    match continuation(&r) {
        Some(url) => client.get(url).send().await.unwrap(),
        None => r,
    }
}

/// POSTs `fields` to `action` with `client` and returns the ACS's own answer.
async fn post_only(
    client: &reqwest::Client,
    action: &str,
    fields: &[(&str, String)],
) -> reqwest::Response {
    client.post(action).form(fields).send().await.unwrap()
}

/// Where the ACS's answer `r` continues the login, if it is a continuation: no session yet, a
/// one-time token in the query.
fn continuation(r: &reqwest::Response) -> Option<reqwest::Url> {
    if r.status() != 303 {
        return None;
    }
    let to = location(r);
    let path = to.split('?').next().unwrap_or_default();
    if !path.ends_with("/acs/continue") {
        return None;
    }
    assert!(to.contains("?continuation=axct_"), "{to}");
    assert!(
        set_cookie(r, "authx_session=").is_none(),
        "a session before the continuation"
    );
    assert!(
        set_cookie(r, "authx_upstream=").is_none(),
        "the continuation needs the pending cookie"
    );
    Some(r.url().join(&to).unwrap())
}

/// An ACS continuation for an unused client: a browser without cookies.
fn cookieless() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The whole round trip in `b`; returns authx's answer to the ACS POST.
async fn sign_in(app: &TestApp, idp: &Idp, b: &Browser, path: &str) -> reqwest::Response {
    let form = to_form(idp, b, path).await;
    assert_eq!(form.action, acs(app, AUTHORITY));
    post_form(&b.client, &form.action, &form.fields()).await
}

/// A pending attempt of `b` at `corp` and the AuthnRequest id the IdP received, with the
/// RelayState it would echo. (The IdP's own answer is discarded.)
async fn pending(idp: &Idp, b: &Browser) -> (String, String) {
    let form = to_form(idp, b, "/login/corp").await;
    (idp.last_request_id().await, form.relay_state.unwrap())
}

fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// Every session of every user.
async fn session_count(app: &TestApp) -> usize {
    let store = &app.state.store;
    let mut n = 0;
    for user in store
        .list_users(&UserFilter::default(), &Page::first(100))
        .await
        .unwrap()
    {
        n += store.list_user_sessions(&user.id).await.unwrap().len();
    }
    n
}

async fn last_reason(app: &TestApp, authority: &str) -> String {
    failures(app, authority).await.pop().expect("a failure").0
}

/// Asserts a refusal page: `status`, `message`, a way back, no session cookie, the pending cookie
/// removed, and nothing of the verifier's detail on the page.
async fn assert_refused(r: reqwest::Response, status: u16, message: &str, back: &str) {
    let html = assert_refused_page(r, status, message, back).await;
    for detail in [
        "samael",
        "xmlsec",
        "bergshamra",
        "audience",
        "InResponseTo",
        "ada-1001",
    ] {
        assert!(!html.contains(detail), "{detail} shown: {html}");
    }
}

/// Checks that a refusal created no user and no session, and was audited with `reason`.
struct Ledger {
    users: usize,
    sessions: usize,
}

impl Ledger {
    async fn now(app: &TestApp) -> Self {
        Self {
            users: user_count(app).await,
            sessions: session_count(app).await,
        }
    }

    async fn unchanged(&self, app: &TestApp, authority: &str, reason: &str) {
        assert_eq!(user_count(app).await, self.users, "a user was created");
        assert_eq!(
            session_count(app).await,
            self.sessions,
            "a session was started"
        );
        assert_eq!(last_reason(app, authority).await, reason);
    }
}

// ---------------------------------------------------------------------------------------------

async fn sign_in_creates_then_reuses_the_user(db: TestDb) {
    // The IdP is trusted to vouch for its addresses, so the new user gets a verified email.
    let Some((app, idp, admin)) =
        setup(db, json!({"creates_users": true, "trust_email": true})).await
    else {
        return;
    };
    let store = &app.state.store;
    let before = user_count(&app).await;

    // The SP metadata to give the IdP: our entity id and the ACS with the HTTP-POST binding.
    let r = app.get("/login/corp/metadata").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/samlmetadata+xml"
    );
    let sp_metadata = r.text().await.unwrap();
    assert!(
        sp_metadata.contains(&format!("entityID=\"{SP_ENTITY_ID}\"")),
        "{sp_metadata}"
    );
    assert!(
        sp_metadata.contains(&format!("Location=\"{}\"", acs(&app, AUTHORITY))),
        "{sp_metadata}"
    );
    assert!(sp_metadata.contains("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"));
    assert!(sp_metadata.contains("WantAssertionsSigned=\"true\""));
    assert_eq!(app.get("/login/nope/metadata").await.status(), 404);

    // The login page shows the button, which keeps return_to.
    let b = Browser::new(&app);
    let html = b.page("/login?return_to=/account").await;
    assert!(html.contains("Sign in with Corp SSO"), "{html}");
    assert!(
        html.contains("href=\"/login/corp?return_to=/account\""),
        "{html}"
    );

    // SP-initiated: the AuthnRequest reached the IdP with our entity id, ACS and an opaque
    // RelayState, and the IdP's form posts to our ACS.
    let form = to_form(&idp, &b, "/login/corp?return_to=/account").await;
    let requests = idp.requests().await;
    let request = requests.last().unwrap();
    assert_eq!(request["issuer"], SP_ENTITY_ID);
    assert_eq!(request["acs_url"], acs(&app, AUTHORITY));
    assert_eq!(
        request["protocol_binding"],
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    );
    let relay_state = form.relay_state.clone().unwrap();
    assert_eq!(request["relay_state"], relay_state.as_str());
    assert!(!relay_state.contains('/'), "{relay_state}");
    assert_eq!(form.action, acs(&app, AUTHORITY));
    let r = post_form(&b.client, &form.action, &form.fields()).await;
    assert_eq!(
        r.status(),
        303,
        "{}\n{}",
        r.text().await.unwrap(),
        idp.stderr()
    );
    assert_eq!(location(&r), "/account");
    assert!(set_cookie(&r, "authx_session=").is_some());
    assert!(b.page("/account").await.contains("Ada Lovelace"));

    // A new user with the assertion's attributes and the credential (authority, NameID).
    assert_eq!(user_count(&app).await, before + 1);
    let credential = store
        .find_credential(AUTHORITY, NAME_ID)
        .await
        .unwrap()
        .unwrap();
    let user = store.get_user(&credential.user_id).await.unwrap().unwrap();
    assert_eq!(user.email.as_deref(), Some("ada@example.com"));
    let name = user.profile.name.clone().unwrap();
    assert_eq!(name.given_name.as_deref(), Some("Ada"));
    assert_eq!(name.family_name.as_deref(), Some("Lovelace"));
    let events = store
        .list_audit(
            &AuditFilter {
                actor_id: Some(user.id.clone()),
                ..Default::default()
            },
            &Page::first(100),
        )
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["login.success", "user.create"]);
    assert_eq!(events[0].details["strategy"], "saml");
    let sessions = session_count(&app).await;

    // The same form posted again: its attempt is spent.
    let r = post_form(&b.client, &form.action, &form.fields()).await;
    assert_refused(r, 400, NO_PENDING, "/login").await;
    assert_eq!(session_count(&app).await, sessions);

    // The next sign-in reuses the credential. The ACS is posted without cookies, as a browser
    // does with a cross-site POST (SameSite=Lax): the request id finds the attempt, and the
    // same-site redirect that follows brings the browser's cookie back to finish it.
    let b2 = Browser::new(&app);
    let form = to_form(
        &idp,
        &b2,
        "/login/corp?return_to=/account%3Fnotice%3Dprofile",
    )
    .await;
    let r = post_only(&cookieless(), &form.action, &form.fields()).await;
    let next = continuation(&r).expect("a continuation");
    assert_eq!(next.path(), "/login/corp/acs/continue");
    let r = b2.client.get(next).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/account?notice=profile");
    assert!(set_cookie(&r, "authx_session=").is_some());
    assert_eq!(user_count(&app).await, before + 1);
    let again = store
        .find_credential(AUTHORITY, NAME_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, credential.id);
    assert!(again.last_used_at.is_some());

    // An IdP configured from our served metadata (pysaml2 reads it, takes the ACS from it), its
    // metadata pasted by the admin: sign-in works through it too, into the same account.
    let idp2 = Idp::start(json!({"sp_metadata": sp_metadata, "user": idp_user()}))
        .await
        .unwrap();
    switch_idp(&app, &admin, &idp2).await;
    let b3 = Browser::new(&app);
    let r = sign_in(&app, &idp2, &b3, "/login/corp").await;
    assert_eq!(r.status(), 303, "{}", idp2.stderr());
    assert!(b3.page("/account").await.contains("Ada Lovelace"));
    assert_eq!(user_count(&app).await, before + 1);
    // The first IdP's responses are no longer trusted.
    let b4 = Browser::new(&app);
    let (request_id, _) = pending(&idp2, &b4).await;
    let (forged, _) = idp.mint(json!({"in_response_to": request_id})).await;
    let r = post_form(
        &b4.client,
        &acs(&app, AUTHORITY),
        &[("SAMLResponse", forged)],
    )
    .await;
    assert_refused(r, 400, GENERIC, "/login?return_to=/account").await;

    assert_eq!(
        failures(&app, AUTHORITY).await,
        [
            ("no_pending_login".to_owned(), Outcome::Failure),
            ("signature_invalid".to_owned(), Outcome::Failure),
        ]
    );
    app.stop().await.unwrap();
}
on_both_backends!(sign_in_creates_then_reuses_the_user);

/// Our SP metadata for `corp`, as an IdP's administrator downloads it.
async fn sp_metadata(app: &TestApp) -> String {
    let r = reqwest::get(app.url("/login/corp/metadata")).await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The signing certificate in SP metadata `xml`.
fn sp_certificate(xml: &str) -> String {
    let start = xml.find("<ds:X509Certificate>").expect("a certificate") + 20;
    let end = start + xml[start..].find('<').unwrap();
    xml[start..end].to_owned()
}

/// An IdP whose metadata says WantAuthnRequestsSigned: authx signs its requests with the
/// authority's own key, whose certificate is in the SP metadata, and pysaml2 verifies them. The
/// key is the server's alone: never shown, never accepted as input, replaced on request.
async fn an_idp_that_wants_signed_requests_gets_them(db: TestDb) {
    let Some((app, idp, admin)) = setup(db, json!({"creates_users": true})).await else {
        return;
    };
    let (s, a) = api(&app, &admin, Method::GET, "/api/v1/authorities/corp", None).await;
    assert_eq!(s, 200, "{a}");
    assert!(a["details"].get("sp_signing_key").is_none(), "{a}");
    assert_eq!(a["details"]["sign_requests"], false);
    let (_, listed) = api(&app, &admin, Method::GET, "/api/v1/authorities", None).await;
    assert!(!listed.to_string().contains("sp_signing_key"), "{listed}");
    let stored = app
        .state
        .store
        .get_authority("corp")
        .await
        .unwrap()
        .unwrap();
    let key = stored.details["sp_signing_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!key.is_empty());
    let metadata = sp_metadata(&app).await;
    assert!(
        metadata.contains("AuthnRequestsSigned=\"false\""),
        "{metadata}"
    );
    let certificate = sp_certificate(&metadata);

    // Nobody sets the key: not on creation, not by a change, not even to the stored value.
    let another = authx_strategy_saml::SpKey::generate().unwrap();
    for submitted in [another.as_base64(), key.as_str()] {
        let (s, p) = api(
            &app,
            &admin,
            Method::PATCH,
            "/api/v1/authorities/corp",
            Some(json!({"details": {"sp_signing_key": submitted}})),
        )
        .await;
        assert_eq!(s, 400, "{p}");
        assert_eq!(p["errors"][0]["field"], "details.sp_signing_key", "{p}");
    }
    let (s, p) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/authorities",
        Some(
            json!({"id": "corp2", "strategy": "saml", "name": "Corp 2", "enabled": false,
               "details": details(json!({"idp_metadata_xml": idp.metadata_xml}),
                                  json!({"sp_signing_key": another.as_base64()}))}),
        ),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["errors"][0]["field"], "details.sp_signing_key", "{p}");
    let kept = app
        .state
        .store
        .get_authority("corp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.details["sp_signing_key"], key.as_str());
    assert!(
        app.state
            .store
            .get_authority("corp2")
            .await
            .unwrap()
            .is_none()
    );

    // The IdP that wants signed requests, configured from our metadata (so from our certificate).
    let strict = Idp::start(json!({
        "sp_metadata": metadata, "user": idp_user(), "want_authn_requests_signed": true,
    }))
    .await
    .unwrap();
    assert!(
        strict
            .metadata_xml
            .contains("WantAuthnRequestsSigned=\"true\""),
        "{}",
        strict.metadata_xml
    );
    switch_idp(&app, &admin, &strict).await;
    // A change keeps the key, and so the certificate the IdP holds.
    assert_eq!(sp_certificate(&sp_metadata(&app).await), certificate);
    let b = Browser::new(&app);
    let r = sign_in(&app, &strict, &b, "/login/corp").await;
    assert_eq!(r.status(), 303, "{}", strict.stderr());
    assert!(b.page("/account").await.contains("Ada Lovelace"));
    assert_eq!(strict.requests().await.last().unwrap()["signed"], true);

    // The IdP does check: a request altered on the way, or stripped of its signature, is refused
    // there; the untouched one still goes through.
    let b2 = Browser::new(&app);
    let url = start(&strict, &b2, "/login/corp").await;
    assert!(
        url.contains(
            "&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature="
        ),
        "{url}"
    );
    let altered = url.replace("&RelayState=axrs_", "&RelayState=axrs_x");
    let unsigned = url[..url.find("&SigAlg=").unwrap()].to_owned();
    for refused in [altered, unsigned] {
        let r = b2.client.get(&refused).send().await.unwrap();
        assert_eq!(r.status(), 403, "{refused}: {}", r.text().await.unwrap());
    }
    assert_eq!(b2.client.get(&url).send().await.unwrap().status(), 200);

    // `sign_requests` says so in the metadata; an IdP that did not ask still gets a signature.
    patch_corp(
        &app,
        &admin,
        json!({"sign_requests": true,
                                "idp_metadata_xml": idp.metadata_xml}),
    )
    .await;
    assert!(
        sp_metadata(&app)
            .await
            .contains("AuthnRequestsSigned=\"true\"")
    );
    let b3 = Browser::new(&app);
    let url = start(&idp, &b3, "/login/corp").await;
    assert!(url.contains("&Signature="), "{url}");

    // Replacing the key (null): a new certificate, and the IdP still holding the old one
    // refuses what the new key signs until it is given the new metadata.
    patch_corp(
        &app,
        &admin,
        json!({"sp_signing_key": null,
                                "idp_metadata_xml": strict.metadata_xml}),
    )
    .await;
    let replaced = app
        .state
        .store
        .get_authority("corp")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(replaced.details["sp_signing_key"], key.as_str());
    assert_ne!(sp_certificate(&sp_metadata(&app).await), certificate);
    let b4 = Browser::new(&app);
    let url = start(&strict, &b4, "/login/corp").await;
    let r = b4.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    app.stop().await.unwrap();
}
on_both_backends!(an_idp_that_wants_signed_requests_gets_them);

async fn refusals_create_nothing(db: TestDb) {
    let Some((app, idp, admin)) = setup(db, json!({"creates_users": true})).await else {
        return;
    };
    let acs_url = acs(&app, AUTHORITY);
    let back = "/login?return_to=/account";

    // Each SP-initiated case: a fresh attempt, a response minted for it with one defect.
    let cases: &[(&str, Value, u16, &str)] = &[
        (
            "unsigned",
            json!({"sign_assertion": false, "sign_response": false}),
            400,
            "unsigned",
        ),
        (
            "signed by another key",
            json!({"key": "other", "sign_response": true}),
            400,
            "signature_invalid",
        ),
        (
            "wrong audience",
            json!({"audiences": [["https://other.example/sp"]]}),
            400,
            "audience_mismatch",
        ),
        (
            "no audience",
            json!({"audiences": []}),
            400,
            "audience_missing",
        ),
        (
            "wrong recipient",
            json!({"recipient": "https://evil.example/login/corp/acs"}),
            400,
            "recipient_mismatch",
        ),
        ("expired", json!({"not_on_or_after": -180}), 400, "expired"),
        (
            "issued in the future",
            json!({"issue_instant": 180}),
            400,
            "issued_in_future",
        ),
        (
            "status not Success",
            json!({"status": "urn:oasis:names:tc:SAML:2.0:status:Requester"}),
            403,
            "status_not_success",
        ),
    ];
    for (what, defect, status, reason) in cases {
        let ledger = Ledger::now(&app).await;
        let b = Browser::new(&app);
        let (request_id, relay_state) = pending(&idp, &b).await;
        let mut options = defect.clone();
        options["in_response_to"] = json!(request_id);
        let (response, _) = idp.mint(options).await;
        let fields = [("SAMLResponse", response), ("RelayState", relay_state)];
        let r = post_form(&b.client, &acs_url, &fields).await;
        assert_eq!(r.status(), *status, "{what}");
        // The pre-check refuses before the attempt is looked up, so the way back is the plain
        // sign-in page; later refusals lead back to where the attempt started.
        let back = if matches!(*reason, "unsigned" | "status_not_success") {
            "/login"
        } else {
            back
        };
        assert_refused(r, *status, GENERIC, back).await;
        ledger.unchanged(&app, AUTHORITY, reason).await;
    }

    // Modified after signing: the NameID of a correctly signed assertion changed.
    let ledger = Ledger::now(&app).await;
    let b = Browser::new(&app);
    let (request_id, _) = pending(&idp, &b).await;
    let (_, xml) = idp.mint(json!({"in_response_to": request_id})).await;
    assert!(xml.contains(NAME_ID));
    let tampered = b64(&xml.replace(NAME_ID, "eve-666"));
    let r = post_form(&b.client, &acs_url, &[("SAMLResponse", tampered)]).await;
    assert_refused(r, 400, GENERIC, back).await;
    ledger.unchanged(&app, AUTHORITY, "signature_invalid").await;
    assert!(
        app.state
            .store
            .find_credential(AUTHORITY, "eve-666")
            .await
            .unwrap()
            .is_none()
    );

    // A response minted for another attempt, relabelled (in the unsigned envelope) as the
    // answer to this one: the signed confirmation still names the other request.
    let ledger = Ledger::now(&app).await;
    let other = Browser::new(&app);
    let (other_request, _) = pending(&idp, &other).await;
    let b = Browser::new(&app);
    let (request_id, _) = pending(&idp, &b).await;
    let (_, xml) = idp.mint(json!({"in_response_to": other_request})).await;
    let relabelled = xml.replacen(
        &format!("InResponseTo=\"{other_request}\""),
        &format!("InResponseTo=\"{request_id}\""),
        1,
    );
    assert_ne!(relabelled, xml);
    let r = post_form(&b.client, &acs_url, &[("SAMLResponse", b64(&relabelled))]).await;
    assert_refused(r, 400, GENERIC, back).await;
    ledger
        .unchanged(&app, AUTHORITY, "in_response_to_mismatch")
        .await;

    // A response to a request authx never issued.
    let ledger = Ledger::now(&app).await;
    let (response, _) = idp
        .mint(json!({"in_response_to": "_00112233445566778899aabbccddeeff"}))
        .await;
    let b = Browser::new(&app);
    let r = post_form(&b.client, &acs_url, &[("SAMLResponse", response)]).await;
    assert_refused(r, 400, NO_PENDING, "/login").await;
    ledger.unchanged(&app, AUTHORITY, "no_pending_login").await;

    // A RelayState that is not the attempt's.
    let ledger = Ledger::now(&app).await;
    let b = Browser::new(&app);
    let (request_id, _) = pending(&idp, &b).await;
    let (response, _) = idp.mint(json!({"in_response_to": request_id})).await;
    let fields = [
        ("SAMLResponse", response),
        ("RelayState", "/account".to_owned()),
    ];
    let r = post_form(&b.client, &acs_url, &fields).await;
    assert_refused(r, 400, GENERIC, back).await;
    ledger
        .unchanged(&app, AUTHORITY, "relay_state_mismatch")
        .await;

    // A body over the bound, and a form without a SAMLResponse.
    let ledger = Ledger::now(&app).await;
    let b = Browser::new(&app);
    let huge = "A".repeat(400 * 1024);
    let r = post_form(&b.client, &acs_url, &[("SAMLResponse", huge)]).await;
    assert_refused(r, 413, GENERIC, "/login").await;
    ledger.unchanged(&app, AUTHORITY, "too_large").await;
    let r = post_form(&b.client, &acs_url, &[("RelayState", "x".to_owned())]).await;
    assert_refused(r, 400, GENERIC, "/login").await;
    ledger.unchanged(&app, AUTHORITY, "bad_form").await;

    // Unsolicited while IdP-initiated logins are off.
    let ledger = Ledger::now(&app).await;
    let (unsolicited, _) = idp.mint(json!({})).await;
    let b = Browser::new(&app);
    let r = post_form(
        &b.client,
        &acs_url,
        &[("SAMLResponse", unsolicited.clone())],
    )
    .await;
    assert_refused(r, 403, GENERIC, "/login").await;
    ledger
        .unchanged(&app, AUTHORITY, "unsolicited_not_allowed")
        .await;

    // With them on: an unsolicited response signs in once (to the account page, whatever the
    // IdP's RelayState says); the same assertion again is a replay.
    patch_corp(
        &app,
        &admin,
        details(
            json!({"idp_metadata_xml": idp.metadata_xml}),
            json!({"creates_users": true, "allow_idp_initiated": true}),
        ),
    )
    .await;
    let users = user_count(&app).await;
    let (unsolicited, _) = idp.mint(json!({})).await;
    let b = Browser::new(&app);
    let fields = [
        ("SAMLResponse", unsolicited.clone()),
        ("RelayState", "https://evil.example/".to_owned()),
    ];
    let r = post_form(&b.client, &acs_url, &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/account");
    assert!(b.page("/account").await.contains("Ada Lovelace"));
    assert_eq!(user_count(&app).await, users + 1);
    let ledger = Ledger::now(&app).await;
    let replay = Browser::new(&app);
    let r = post_form(&replay.client, &acs_url, &[("SAMLResponse", unsolicited)]).await;
    assert_refused(r, 400, GENERIC, "/login").await;
    ledger.unchanged(&app, AUTHORITY, "assertion_replay").await;

    // Still with them on: a response naming a request authx did not issue is not unsolicited.
    let (stolen, _) = idp
        .mint(json!({"in_response_to": "_ffeeddccbbaa99887766554433221100"}))
        .await;
    let b = Browser::new(&app);
    let r = post_form(&b.client, &acs_url, &[("SAMLResponse", stolen)]).await;
    assert_refused(r, 400, GENERIC, "/login").await;
    ledger
        .unchanged(&app, AUTHORITY, "unsolicited_with_in_response_to")
        .await;

    // Another authority (same IdP, same entity id, IdP-initiated on) does not take responses
    // meant for corp's ACS, unsolicited or answering corp's attempt — which stays usable.
    let (s, a) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/authorities",
        Some(
            json!({"id": "other", "strategy": "saml", "name": "Other SSO",
            "details": details(
                json!({"idp_metadata_xml": idp.metadata_xml}),
                json!({"creates_users": true, "allow_idp_initiated": true}),
            )}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    let (for_corp, _) = idp.mint(json!({})).await;
    let b = Browser::new(&app);
    let r = post_form(
        &b.client,
        &acs(&app, "other"),
        &[("SAMLResponse", for_corp)],
    )
    .await;
    assert_refused(r, 400, GENERIC, "/login").await;
    ledger.unchanged(&app, "other", "recipient_mismatch").await;
    let b = Browser::new(&app);
    let form = to_form(&idp, &b, "/login/corp").await;
    // (Posted cross-site, so the refusal's cookie removal does not reach this browser.)
    let r = post_form(&cookieless(), &acs(&app, "other"), &form.fields()).await;
    assert_refused(r, 400, GENERIC, "/login").await;
    ledger
        .unchanged(&app, "other", "unsolicited_with_in_response_to")
        .await;
    let r = post_form(&b.client, &form.action, &form.fields()).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());

    // A disabled authority takes nothing.
    let (s, _) = api(
        &app,
        &admin,
        Method::PATCH,
        "/api/v1/authorities/corp",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(s, 200);
    let ledger = Ledger::now(&app).await;
    let (response, _) = idp.mint(json!({})).await;
    let b = Browser::new(&app);
    let r = post_form(&b.client, &acs_url, &[("SAMLResponse", response)]).await;
    assert_refused(r, 403, "This way of signing in is not available.", "/login").await;
    ledger
        .unchanged(&app, AUTHORITY, "authority_disabled")
        .await;
    assert!(!b.page("/login").await.contains("Corp SSO"));

    // Metadata without a signing certificate is refused by the admin API, pasted or by URL;
    // so is an unreachable URL. Nothing is created.
    let bare = without_certificates(&idp.metadata_xml);
    let (s, p) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/authorities",
        Some(json!({"id": "bare", "strategy": "saml", "name": "Bare",
            "details": details(json!({"idp_metadata_xml": bare}), json!({}))})),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["errors"][0]["field"], "details.idp_metadata_xml");
    let server = MetadataServer::start(&bare).await;
    let (s, p) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/authorities",
        Some(json!({"id": "bare", "strategy": "saml", "name": "Bare",
            "details": details(json!({"idp_metadata_url": server.url}), json!({}))})),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["errors"][0]["field"], "details.idp_metadata_url");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no signing certificate"),
        "{p}"
    );
    let (s, _) = api(&app, &admin, Method::GET, "/api/v1/authorities/bare", None).await;
    assert_eq!(s, 404);

    app.stop().await.unwrap();
}
on_both_backends!(refusals_create_nothing);

async fn metadata_by_url_is_checked_and_refreshed(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let Some(idp) = Idp::start(json!({
        "sp_entity_id": SP_ENTITY_ID,
        "acs_url": acs(&app, AUTHORITY),
        "user": idp_user(),
    }))
    .await
    else {
        app.stop().await.unwrap();
        return;
    };
    let admin = caller(&app, &["AuthX:authority:create", "AuthX:authority.*:*"]).await;
    let server = MetadataServer::start(&idp.metadata_xml).await;
    let by_url = details(
        json!({"idp_metadata_url": server.url}),
        json!({"creates_users": true}),
    );

    // An unreachable metadata URL is refused when the authority is saved enabled.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/metadata", closed.local_addr().unwrap());
    drop(closed);
    let (s, p) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/authorities",
        Some(
            json!({"id": AUTHORITY, "strategy": "saml", "name": "Corp SSO",
            "details": details(json!({"idp_metadata_url": dead}), json!({}))}),
        ),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["errors"][0]["field"], "details.idp_metadata_url");

    // A reachable one with a signing certificate is accepted, and logins use it.
    let (s, a) = api(
        &app,
        &admin,
        Method::POST,
        "/api/v1/authorities",
        Some(json!({"id": AUTHORITY, "strategy": "saml", "name": "Corp SSO", "details": by_url})),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    let b = Browser::new(&app);
    let r = sign_in(&app, &idp, &b, "/login/corp").await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());

    // The IdP now publishes metadata without a signing certificate. The cached copy is used
    // until it is refreshed (an hour; forgetting the entry stands in for that here); the refresh
    // is refused, and with it every login — nothing falls back on the old certificate.
    server.set(&without_certificates(&idp.metadata_xml));
    let started = Browser::new(&app);
    let form = to_form(&idp, &started, "/login/corp").await;
    app.state.saml_metadata.forget(AUTHORITY);
    let ledger = Ledger::now(&app).await;
    let r = post_form(&started.client, &form.action, &form.fields()).await;
    assert_refused(r, 503, UNAVAILABLE, "/login?return_to=/account").await;
    ledger
        .unchanged(&app, AUTHORITY, "idp_metadata_no_signing_certificate")
        .await;
    let b = Browser::new(&app);
    let r = b.get("/login/corp").await;
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains(UNAVAILABLE));
    ledger
        .unchanged(&app, AUTHORITY, "idp_metadata_no_signing_certificate")
        .await;
    // Saving the authority again is refused for the same reason.
    let (s, p) = api(
        &app,
        &admin,
        Method::PATCH,
        "/api/v1/authorities/corp",
        Some(json!({"details": by_url})),
    )
    .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["errors"][0]["field"], "details.idp_metadata_url");

    // Once the IdP publishes a certificate again, the next refresh takes it.
    server.set(&idp.metadata_xml);
    app.state.saml_metadata.forget(AUTHORITY);
    let b = Browser::new(&app);
    let r = sign_in(&app, &idp, &b, "/login/corp").await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert!(b.page("/account").await.contains("Ada Lovelace"));
    app.stop().await.unwrap();
}
on_both_backends!(metadata_by_url_is_checked_and_refreshed);

async fn linking_from_the_account_page(db: TestDb) {
    let Some((app, idp, _admin)) = setup(db, json!({})).await else {
        return;
    };
    let carol = person(&app, "carol").await;
    let store = &app.state.store;

    // Without creates_users, an unknown identity is refused.
    let ledger = Ledger::now(&app).await;
    let b = Browser::new(&app);
    let r = sign_in(&app, &idp, &b, "/login/corp").await;
    assert_refused(
        r,
        403,
        "This sign-in is not linked to an account.",
        "/login?return_to=/account",
    )
    .await;
    ledger.unchanged(&app, AUTHORITY, "not_linked").await;

    // Carol links it from her account page.
    let b = Browser::new(&app);
    let r = b.login(&carol.username, &carol.password).await;
    assert_eq!(r.status(), 303);
    let html = b.page("/account").await;
    assert!(html.contains("href=\"/account/link/corp\""), "{html}");
    assert!(html.contains("Link Corp SSO"), "{html}");
    let r = sign_in(&app, &idp, &b, "/account/link/corp").await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/account?notice=linked");
    let credential = store
        .find_credential(AUTHORITY, NAME_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credential.user_id, carol.user_id);
    assert!(!b.page("/account").await.contains("Link Corp SSO"));

    // From now on the IdP signs Carol in.
    let b2 = Browser::new(&app);
    let r = sign_in(&app, &idp, &b2, "/login/corp").await;
    assert_eq!(r.status(), 303);
    assert!(b2.page("/account").await.contains(&carol.display_name));
    app.stop().await.unwrap();
}
on_both_backends!(linking_from_the_account_page);

/// Delivers the IdP's `form` from `b`, a browser that did not start its attempt, through the
/// continuation, which refuses it there; returns the continuation's address.
async fn continued_elsewhere(b: &Browser, form: &AutoPost) -> reqwest::Url {
    let r = post_only(&b.client, &form.action, &form.fields()).await;
    let next = continuation(&r).expect("a continuation");
    let r = b.client.get(next.clone()).send().await.unwrap();
    assert_refused(r, 400, NO_PENDING, "/login").await;
    next
}

/// The user holding the IdP user's credential at corp, if anyone does.
async fn holder_of_the_name_id(app: &TestApp) -> Option<String> {
    let store = &app.state.store;
    let credential = store.find_credential(AUTHORITY, NAME_ID).await.unwrap();
    credential.map(|c| c.user_id)
}

/// A verified response finishes only in the browser that started its attempt. An attacker who
/// posts the response to their own attempt into a victim's browser (login CSRF) does not sign the
/// victim in as themselves; an attacker who hands their linking attempt's AuthnRequest to the
/// victim, who signs in at the IdP, does not get the victim's identity linked to their account.
async fn a_response_finishes_only_in_the_browser_that_started_it(db: TestDb) {
    let Some((app, idp, _admin)) = setup(db, json!({"creates_users": true})).await else {
        return;
    };
    let store = &app.state.store;
    let mallory = person(&app, "mallory").await;

    // Login CSRF: Mallory's attempt, the IdP's answer for it, auto-posted from the victim's
    // browser. The victim's browser gets as far as the continuation, which it cannot finish.
    let attacker = Browser::new(&app);
    let form = to_form(&idp, &attacker, "/login/corp").await;
    let victim = Browser::new(&app);
    let ledger = Ledger::now(&app).await;
    let next = continued_elsewhere(&victim, &form).await;
    ledger.unchanged(&app, AUTHORITY, "no_pending_login").await;
    assert_eq!(
        victim.get("/account").await.status(),
        303,
        "victim signed in"
    );
    assert_eq!(holder_of_the_name_id(&app).await, None);
    // Nor does the attacker's own browser finish it: the victim's visit spent the token, and
    // without one the continuation answers nothing.
    let r = attacker.client.get(next).send().await.unwrap();
    assert_refused(r, 400, NO_PENDING, "/login").await;
    let r = attacker.get("/login/corp/acs/continue").await;
    assert_refused(r, 400, NO_PENDING, "/login").await;
    ledger.unchanged(&app, AUTHORITY, "no_pending_login").await;

    // Linking: Mallory, signed in, starts linking Corp SSO and hands the AuthnRequest to the
    // victim, who signs in at the IdP as themselves; the IdP's page posts from their browser.
    let attacker = Browser::new(&app);
    assert_eq!(
        attacker
            .login(&mallory.username, &mallory.password)
            .await
            .status(),
        303
    );
    let url = start(&idp, &attacker, "/account/link/corp").await;
    let victim = Browser::new(&app);
    let form = sso(&victim.client, &url).await;
    let next = continued_elsewhere(&victim, &form).await;
    // The link the victim's browser was sent to, opened in Mallory's (say it leaked): the
    // attempt there is the one she started, but the victim's answer to it is spent.
    let r = attacker.client.get(next).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(holder_of_the_name_id(&app).await, None);
    let held = store
        .list_credentials_of_user(&mallory.user_id)
        .await
        .unwrap();
    assert!(held.iter().all(|c| c.authority_id != AUTHORITY), "{held:?}");
    assert_eq!(user_count(&app).await, ledger.users);

    // The same steps in one browser go through: the victim signs in as themselves.
    let own = Browser::new(&app);
    let r = sign_in(&app, &idp, &own, "/login/corp").await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/account");
    assert!(own.page("/account").await.contains("Ada Lovelace"));
    app.stop().await.unwrap();
}
on_both_backends!(a_response_finishes_only_in_the_browser_that_started_it);

/// Letting the IdP start logins, or vouch for email addresses, needs the editor to cover the
/// people it can then sign in as: an authority editor tries both while an administrator holds a
/// credential at the authority.
async fn trust_settings_need_the_reach_of_those_they_expose(db: TestDb) {
    let Some((app, idp, editor)) = setup(db, json!({"creates_users": true})).await else {
        return;
    };
    let store = &app.state.store;
    let root = caller(&app, &["**:**:**"]).await;
    store
        .create_credential(authx::domain::credential::NewCredential {
            user_id: root.user_id.clone(),
            authority_id: AUTHORITY.into(),
            authority_user_id: "root-name-id".into(),
            details: json!({}),
        })
        .await
        .unwrap();
    for details in [
        json!({"allow_idp_initiated": true}),
        json!({"trust_email": true}),
        json!({"match_users_by_email": true}),
    ] {
        let (s, p) = api(
            &app,
            &editor,
            Method::PATCH,
            &format!("/api/v1/authorities/{AUTHORITY}"),
            Some(json!({ "details": details })),
        )
        .await;
        assert_eq!(s, 403, "{details}: {p}");
        assert_eq!(p["missing_scopes"], json!(["**:**:**"]), "{details}");
    }
    let corp = store.get_authority(AUTHORITY).await.unwrap().unwrap();
    assert_eq!(corp.details["allow_idp_initiated"], false);
    assert_eq!(corp.details["trust_email"], false);
    // An IdP-initiated response is still refused: nobody is signed in or created.
    let users = user_count(&app).await;
    let (unsolicited, _) = idp.mint(json!({})).await;
    let b = Browser::new(&app);
    let r = post_form(
        &b.client,
        &acs(&app, AUTHORITY),
        &[("SAMLResponse", unsolicited)],
    )
    .await;
    assert_refused(r, 403, GENERIC, "/login").await;
    assert_eq!(user_count(&app).await, users);
    assert_eq!(b.get("/account").await.status(), 303);
    app.stop().await.unwrap();
}
on_both_backends!(trust_settings_need_the_reach_of_those_they_expose);
