//! `authx bootstrap-admin` as a newcomer and an operator meet it: `root` bestows every realm, so
//! the first administrator can create application roles and clients through the API; the
//! documented, audited recovery (`--restore-root`) of an installation whose administrators locked
//! themselves out; the password prompt on a terminal (no echo); and the closing hint that knows
//! whether a server already runs.

use authx::domain::Page;
use authx::domain::role::RolePatch;
use authx::domain::user::{UserPatch, UserStatus};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::binary::{authx, run, text};
use crate::support::db::TestDb;

const ADMIN: &str = "admin@example.com";

fn bootstrap(dir: &std::path::Path, db: &TestDb, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = authx(dir);
    cmd.args([
        "--database-url",
        &db.url,
        "bootstrap-admin",
        "--email",
        ADMIN,
    ])
    .args(extra)
    // Nothing listens on port 9 of loopback: "start the server" is the right hint.
    .env("AUTHX_LISTEN", "127.0.0.1:9");
    let out = run(&mut cmd);
    let (stdout, stderr) = text(&out);
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn printed_key(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("axk_"))
        .unwrap_or_else(|| panic!("no key printed: {stdout}"))
        .to_owned()
}

async fn call(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn first_admin_manages_application_realms(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = bootstrap(dir.path(), &db, &["--issue-api-key"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("created role 'root' (**:**:**)"),
        "{stdout}"
    );
    assert!(stdout.contains("Next: start the server"), "{stdout}");
    let key = printed_key(&stdout);
    let app = TestApp::spawn(db).await;
    let (s, me) = call(&app, &key, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["scopes"], json!(["**:**:**"]));
    // The README's example: a role and a client with application scopes, no store shortcuts.
    let (s, role) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"id": "shop-staff", "name": "Shop staff", "scopes": ["Shop:orders:read"]})),
    )
    .await;
    assert_eq!(s, 201, "{role}");
    let (s, client) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/clients",
        Some(json!({"id": "shop", "name": "Shop", "type": "confidential",
            "redirect_uris": ["https://shop.example/cb"], "scopes": ["Shop:**:*"]})),
    )
    .await;
    assert_eq!(s, 201, "{client}");
    app.stop().await.unwrap();
}
on_both_backends!(first_admin_manages_application_realms);

async fn restore_root_recovers_a_locked_out_installation(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = bootstrap(dir.path(), &db, &["--issue-api-key"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let key = printed_key(&stdout);
    let store = db.connect().await;
    let admin = store
        .find_credential("email", ADMIN)
        .await
        .unwrap()
        .unwrap()
        .user_id;
    // Everything an installation can do to lock its administrators out, at once: root shrunk
    // and disabled, a deny on the default role covering administration, the admin disabled, and
    // the admin in a role whose deny covers authx itself.
    store
        .update_role(
            "root",
            RolePatch {
                enabled: Some(false),
                scopes: Some(vec!["AuthX:me:read".into()]),
                deny: Some(vec!["AuthX:user:**".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .update_role(
            "default",
            RolePatch {
                deny: Some(vec!["AuthX:role:**".into(), "Games:**:**".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .create_role(authx::domain::role::NewRole {
            id: "quarantine".into(),
            name: "Quarantine".into(),
            description: None,
            is_default: false,
            enabled: true,
            scopes: Vec::new(),
            deny: vec!["AuthX:**:**".into()],
        })
        .await
        .unwrap();
    store.add_role_member("quarantine", &admin).await.unwrap();
    store
        .update_user(
            &admin,
            UserPatch {
                status: Some(UserStatus::Disabled),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    {
        let app = TestApp::spawn_on(&db).await;
        let (s, _) = call(&app, &key, Method::GET, "/api/v1/me", None).await;
        assert_eq!(s, 401, "locked out");
        app.stop().await.unwrap();
    }

    let (code, stdout, stderr) = bootstrap(dir.path(), &db, &["--restore-root"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for line in [
        "restored role 'root': enabled, bestows **:**:**, no deny",
        "re-activated user",
        "removed user",
        "lifted deny AuthX:role:** from default role 'default'",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }

    let app = TestApp::spawn(db).await;
    let (s, me) = call(&app, &key, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["scopes"], json!(["**:**:**"]), "{me}");
    // Administration works again; the unrelated deny stays.
    let (s, role) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/roles",
        Some(json!({"id": "app-readers", "name": "App readers", "scopes": ["App:doc:read"]})),
    )
    .await;
    assert_eq!(s, 201, "{role}");
    let default = app.state.store.get_role("default").await.unwrap().unwrap();
    assert_eq!(default.deny, ["Games:**:**"]);
    let root = app.state.store.get_role("root").await.unwrap().unwrap();
    assert!(root.enabled && root.deny.is_empty());
    assert_eq!(root.scopes, ["**:**:**"]);
    let events = app
        .state
        .store
        .list_audit(
            &authx::domain::audit::AuditFilter {
                action: Some("bootstrap.restore_root".into()),
                ..Default::default()
            },
            &Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_type, "cli");
    assert_eq!(events[0].target_id.as_deref(), Some(admin.as_str()));
    assert!(
        events[0].details["steps"]
            .to_string()
            .contains("lifted deny")
    );
    store.close().await;
    app.stop().await.unwrap();
}
on_both_backends!(restore_root_recovers_a_locked_out_installation);

/// The closing hint: with a server answering at the configured address, no "start the server".
async fn bootstrap_knows_a_server_runs(db: TestDb) {
    let app = TestApp::spawn_on(&db).await;
    let dir = tempfile::tempdir().unwrap();
    // Off the test's runtime thread: the server in this process must answer the probe meanwhile.
    let mut cmd = authx(dir.path());
    cmd.args([
        "--database-url",
        &db.url,
        "bootstrap-admin",
        "--email",
        ADMIN,
    ])
    .env("AUTHX_LISTEN", app.addr.to_string());
    let out = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("is running: sign in at"), "{stdout}");
    assert!(!stdout.contains("Next: start the server"), "{stdout}");
    app.stop().await.unwrap();
}
on_both_backends!(bootstrap_knows_a_server_runs);

/// `--password-stdin` on a terminal prompts twice and does not echo (driven through a real pty by
/// Python's `pty` module).
#[tokio::test]
async fn password_prompt_on_a_terminal_does_not_echo() {
    let python = std::env::var("AUTHX_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    if std::process::Command::new(&python)
        .arg("-V")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no python for the pty test"
        );
        eprintln!("skipping: no python");
        return;
    }
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
import os, pty, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
def read_until(marker):
    global out
    while marker not in out:
        chunk = os.read(fd, 1024)
        if not chunk:
            raise SystemExit('ended before ' + marker.decode() + ': ' + out.decode())
        out += chunk
def type_once_echo_is_off(text):
    # The prompt is printed before echo is switched off: type only after that, like a person.
    deadline = time.time() + 10
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        if time.time() > deadline:
            raise SystemExit('echo never went off: ' + out.decode())
        time.sleep(0.01)
    os.write(fd, text)
read_until(b'Password for the administrator')
type_once_echo_is_off(b'a long passphrase\n')
read_until(b'same password again')
type_once_echo_is_off(b'a long passphrase\n')
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let program = authx(dir.path()).get_program().to_owned();
    let out = std::process::Command::new(&python)
        .current_dir(dir.path())
        .arg("-c")
        .arg(script)
        .arg(&program)
        .args([
            "--database-url",
            &db.url,
            "bootstrap-admin",
            "--email",
            ADMIN,
            "--password-stdin",
        ])
        .env("AUTHX_PASSWORD__BCRYPT_COST", "4")
        .env("AUTHX_LISTEN", "127.0.0.1:9")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Administrator ready"), "{stdout}");
    assert!(!stdout.contains("a long passphrase"), "echoed: {stdout}");
    let store = db.connect().await;
    let admin = store
        .find_credential("email", ADMIN)
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let password = store
        .find_credential("password", &admin)
        .await
        .unwrap()
        .unwrap();
    let hash = password.details["hash"].as_str().unwrap().to_owned();
    assert!(authx::password::verify("a long passphrase".into(), hash).await);
    store.close().await;
}
