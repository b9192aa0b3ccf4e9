//! The pages' shell and what widens their policy: the styled 404 page and the favicon; the
//! logout page naming the application; "Forgot your password?" beside the password form; and the
//! `form-action` of the pages whose form ends at an application (consent, signing in during an
//! authorization, the mailed link's "Log in", logout with a return address), which must name the
//! validated redirect URI's origin and nothing an attacker chose.

use authx::domain::email_token::{EmailTokenPurpose, NewEmailToken};
use authx::domain::now;
use authx_strategy_email::new_token;

use crate::support::app::TestApp;
use crate::support::db::TestDb;
use crate::support::oauth::{ClientOptions, authorize_path, client, grant_role, urlencode};
use crate::web_password::{Browser, person};

const CALLBACK: &str = "http://localhost:47011/cb";
const BYE: &str = "https://shop.example/bye";

fn csp(r: &reqwest::Response) -> String {
    r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn form_action(policy: &str) -> String {
    policy
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("form-action"))
        .unwrap_or_default()
        .to_owned()
}

async fn not_found_page_and_favicon(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(form_action(&csp(&r)), "form-action 'self'");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<title>Page not found · authx</title>"),
        "{html}"
    );
    assert!(html.contains("href=\"/favicon.svg\""), "{html}");
    // The admin API keeps its problem documents.
    let r = app.get("/api/v1/nothing").await;
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );
    for path in ["/favicon.svg", "/favicon.ico"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "image/svg+xml");
        assert!(r.text().await.unwrap().starts_with("<svg"));
    }
    app.stop().await.unwrap();
}
on_both_backends!(not_found_page_and_favicon);

async fn forgot_password_sits_with_the_password_form(db: TestDb) {
    let app = TestApp::spawn(db).await;
    person(&app, "ada").await;
    let html = app.get("/login").await.text().await.unwrap();
    let password_form = html.find("action=\"/login/password\"").unwrap();
    let email_section = html.find("email-heading").unwrap();
    let forgot = html.find("Forgot your password?").unwrap();
    assert!(
        password_form < forgot && forgot < email_section,
        "the link follows the password form: {html}"
    );
    app.stop().await.unwrap();
}
on_both_backends!(forgot_password_sits_with_the_password_form);

async fn pages_whose_forms_end_at_an_application_allow_exactly_its_origin(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let ada = person(&app, "ada").await;
    grant_role(&app, "shopper", &ada.user_id, &["Shop:orders:read"]).await;
    client(
        &app,
        "shop",
        ClientOptions {
            scopes: &["Shop:**:*"],
            redirect_uris: &[CALLBACK],
            post_logout_redirect_uris: &[BYE],
            ..Default::default()
        },
    )
    .await;
    let authorize = authorize_path(&[
        ("response_type", "code"),
        ("client_id", "shop"),
        ("redirect_uri", CALLBACK),
        ("scope", "Shop:orders:read"),
    ]);

    // Signed out: the login page that resumes the request may post on to the application.
    let r = app
        .get(&format!("/login?return_to={}", urlencode(&authorize)))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        form_action(&csp(&r)),
        "form-action 'self' http://localhost:47011"
    );
    // The same for an address the client did not register: nothing is added.
    let forged = authorize_path(&[
        ("response_type", "code"),
        ("client_id", "shop"),
        ("redirect_uri", "https://evil.example/cb"),
    ]);
    let r = app
        .get(&format!("/login?return_to={}", urlencode(&forged)))
        .await;
    assert_eq!(form_action(&csp(&r)), "form-action 'self'");
    let r = app.get("/login?return_to=/account").await;
    assert_eq!(form_action(&csp(&r)), "form-action 'self'");

    // The consent page.
    let browser = Browser::new(&app);
    assert_eq!(
        browser.login(&ada.username, &ada.password).await.status(),
        303
    );
    let r = browser.get(&authorize).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        form_action(&csp(&r)),
        "form-action 'self' http://localhost:47011"
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("wants to access your account")
    );

    // The mailed link's page, for a login that resumes the authorization.
    let token = new_token();
    app.state
        .store
        .create_email_token(NewEmailToken {
            token_hash: token.hash.clone(),
            purpose: EmailTokenPurpose::Login,
            email: ada.email.clone(),
            user_id: Some(ada.user_id.clone()),
            authority_id: "email".to_owned(),
            expires_at: now() + 600,
            return_to: Some(authorize.clone()),
        })
        .await
        .unwrap();
    let r = app
        .get(&format!("/login/email/verify?token={}", token.token))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        form_action(&csp(&r)),
        "form-action 'self' http://localhost:47011"
    );

    // The logout confirmation names the application and may return to its registered address.
    let r = browser
        .get(&format!(
            "/oauth2/logout?client_id=shop&post_logout_redirect_uri={}",
            urlencode(BYE)
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        form_action(&csp(&r)),
        "form-action 'self' https://shop.example"
    );
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<strong>App shop</strong> asks to sign you out"),
        "{html}"
    );
    // Without a return address the policy stays the base one.
    let r = browser.get("/oauth2/logout?client_id=shop").await;
    assert_eq!(form_action(&csp(&r)), "form-action 'self'");
    app.stop().await.unwrap();
}
on_both_backends!(pages_whose_forms_end_at_an_application_allow_exactly_its_origin);
