//! The `authx` binary: configuration errors and exit codes, the no-configuration start, migrate and
//! bootstrap-admin idempotence, the OpenAPI document.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use authx::domain::Page;
use authx::store::{ConnectOptions, connect};

use crate::support::binary::{authx, run, text};
use crate::support::db::TestDb;

#[test]
fn unknown_key_in_file_is_named_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("authx.toml"),
        "[database]\nurll = \"sqlite://x.db\"\n",
    )
    .unwrap();
    let out = run(authx(dir.path()).arg("check-config"));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`database.urll`"), "{err}");
}

#[test]
fn unknown_environment_variable_is_named_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(authx(dir.path())
        .arg("serve")
        .env("AUTHX_LISTENN", "127.0.0.1:0"));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("AUTHX_LISTENN"), "{err}");
}

#[test]
fn unreadable_config_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(authx(dir.path()).args(["--config", "missing.toml", "check-config"]));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn bad_database_url_exits_2_without_echoing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(authx(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AUTHX_DATABASE_URL", "mysql://root:hunter2@db/authx"));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unsupported scheme 'mysql'"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn unreachable_database_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(authx(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args([
            "--database-url",
            "postgres://authx:hunter2@127.0.0.1:1/authx",
        ])
        .env(
            "AUTHX_SECRETS__KEY",
            crate::support::db::secrets_key_base64(),
        )
        .env("AUTHX_DATABASE__ACQUIRE_TIMEOUT_SECS", "2"));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("database"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// A server on PostgreSQL needs the key every node shares: without one it does not start, and
/// says which setting to give.
#[tokio::test]
async fn postgres_without_a_secrets_key_exits_2() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = run(authx(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--database-url", &db.url]));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("secrets.key_file"), "{err}");
}

/// `authx secrets reseal` after a key rotation: the old key as a previous one, the new one
/// current; everything stored moves to the new key, and the old key is no longer needed.
#[test]
fn secrets_reseal_moves_every_secret_to_the_new_key() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let encode = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    std::fs::write(dir.path().join("old.key"), encode(1)).unwrap();
    std::fs::write(dir.path().join("new.key"), encode(2)).unwrap();
    let config = |current: &str, previous: &[&str]| {
        let path = dir.path().join(format!("{current}.toml"));
        let previous: Vec<String> = previous.iter().map(|p| format!("\"{p}\"")).collect();
        std::fs::write(
            &path,
            format!(
                "[database]\nurl = \"sqlite://authx.db\"\n[secrets]\nkey_file = \"{current}\"\n\
                 previous_key_files = [{}]\n",
                previous.join(", ")
            ),
        )
        .unwrap();
        path
    };
    let old = config("old.key", &[]);
    let out = run(authx(dir.path())
        .arg("--config")
        .arg(&old)
        .args(["keys", "rotate"]));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let both = config("new.key", &["old.key"]);
    let out = run(authx(dir.path())
        .arg("--config")
        .arg(&both)
        .args(["secrets", "reseal"]));
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(stdout.contains("resealed "), "{stdout}");
    assert!(!stdout.contains("resealed 0 "), "{stdout}");
    // Again: nothing left to move.
    let out = run(authx(dir.path())
        .arg("--config")
        .arg(&both)
        .args(["secrets", "reseal"]));
    assert!(
        text(&out).0.contains("resealed 0 secret(s)"),
        "{:?}",
        text(&out)
    );
    // The new key alone opens everything; the old key alone opens nothing.
    let new = config("new.key", &[]);
    let out = run(authx(dir.path())
        .arg("--config")
        .arg(&new)
        .args(["secrets", "reseal"]));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let out = run(authx(dir.path())
        .arg("--config")
        .arg(&old)
        .args(["secrets", "reseal"]));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("which this node does not hold"), "{err}");
}

#[test]
fn port_in_use_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(authx(dir.path()).args(["serve", "--listen", &addr]));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot listen on"), "{err}");
}

#[test]
fn check_config_masks_database_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(authx(dir.path())
        .arg("check-config")
        .env("AUTHX_DATABASE_URL", "postgres://authx:hunter2@db/authx"));
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(stdout.contains("postgres://authx:***@db/authx"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

/// No configuration at all: SQLite `authx.db` in the working directory (WAL), realm AuthX, serving
/// /healthz; SIGTERM stops it with exit code 0.
#[test]
fn serve_with_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    // The default port may be taken on a shared machine; everything else is the default.
    let mut child = authx(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("server logs its address").unwrap();
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let body = crate::support::binary::http_get(&addr, "/healthz");
    assert!(body.contains("\"ok\""), "{body}");
    assert!(dir.path().join("authx.db").exists());
    assert!(dir.path().join("authx.db-wal").exists(), "WAL mode");
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `authx migrate` twice: the second run applies nothing.
#[tokio::test]
async fn migrate_is_idempotent() {
    for db in [Some(TestDb::sqlite().await), TestDb::postgres().await]
        .into_iter()
        .flatten()
    {
        let dir = tempfile::tempdir().unwrap();
        let out = run(authx(dir.path()).args(["--database-url", &db.url, "migrate"]));
        let (stdout, err) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(stdout.contains("applied"), "{stdout}");
        assert!(!stdout.contains("up to date"), "{stdout}");
        let out = run(authx(dir.path()).args(["--database-url", &db.url, "migrate"]));
        let (stdout, err) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(stdout.contains("up to date"), "{stdout}");
    }
}

/// `authx bootstrap-admin` twice: the second run keeps everything and only replaces the password.
#[tokio::test]
async fn bootstrap_admin_is_idempotent() {
    for db in [Some(TestDb::sqlite().await), TestDb::postgres().await]
        .into_iter()
        .flatten()
    {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "correct horse battery\n").unwrap();
        let bootstrap = || {
            let mut cmd = authx(dir.path());
            cmd.args([
                "--database-url",
                &db.url,
                "bootstrap-admin",
                "--email",
                "Admin@Example.com",
            ])
            .arg("--password-file")
            .arg(&pw)
            .env("AUTHX_PASSWORD__BCRYPT_COST", "4");
            run(&mut cmd)
        };
        let first = bootstrap();
        let (stdout, err) = text(&first);
        assert_eq!(first.status.code(), Some(0), "{stdout}{err}");
        assert!(stdout.contains("created role 'root'"), "{stdout}");
        assert!(stdout.contains("created role 'default'"), "{stdout}");
        assert!(stdout.contains("created authority 'email'"), "{stdout}");
        assert!(stdout.contains("created authority 'password'"), "{stdout}");
        assert!(stdout.contains("created user"), "{stdout}");
        assert!(stdout.contains("created a password credential"), "{stdout}");
        let second = bootstrap();
        let (stdout, err) = text(&second);
        assert_eq!(second.status.code(), Some(0), "{stdout}{err}");
        assert!(!stdout.contains("created"), "{stdout}");
        assert!(stdout.contains("kept existing user"), "{stdout}");

        let store = connect(
            &ConnectOptions::new(db.url.clone()),
            crate::support::db::sealer(),
        )
        .await
        .unwrap();
        let users = store
            .list_users(&Default::default(), &Page::first(100))
            .await
            .unwrap();
        assert_eq!(users.len(), 1);
        let admin = &users[0];
        assert_eq!(admin.email.as_deref(), Some("admin@example.com"));
        let access = store.access_of_user(&admin.id).await.unwrap().unwrap();
        assert_eq!(
            access.scopes,
            vec![
                "**:**:**",
                "AuthX:apikey.me:*",
                "AuthX:credential.*.me:*",
                "AuthX:grant.*.me:*",
                "AuthX:me:*"
            ]
        );
        let credentials = store.list_credentials_of_user(&admin.id).await.unwrap();
        assert_eq!(credentials.len(), 2);
        let password = credentials
            .iter()
            .find(|c| c.authority_id == "password")
            .unwrap();
        let hash = password.details["hash"].as_str().unwrap().to_owned();
        assert!(authx::password::verify("correct horse battery".into(), hash).await);
        store.close().await;
    }
}

#[test]
fn bootstrap_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "short\n").unwrap();
    let out = run(authx(dir.path())
        .args([
            "bootstrap-admin",
            "--email",
            "admin@example.com",
            "--password-file",
        ])
        .arg(&pw));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("at least 8 characters"), "{err}");
    let out = run(authx(dir.path()).args(["bootstrap-admin", "--email", "not-an-address"]));
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not a valid email address"), "{err}");
}

#[test]
fn openapi_prints_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(authx(dir.path()).arg("openapi"));
    let (stdout, err) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/healthz"].is_object());
    assert!(doc["paths"]["/readyz"].is_object());
}

#[test]
fn help_explains_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(authx(dir.path()).arg("--help"));
    let (stdout, _) = text(&out);
    for word in [
        "serve",
        "migrate",
        "check-config",
        "bootstrap-admin",
        "openapi",
        "authx.toml",
    ] {
        assert!(stdout.contains(word), "{word}: {stdout}");
    }
}
