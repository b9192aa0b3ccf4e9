//! The configuration's layers, defaults and checks.

use super::*;
use crate::domain::signing_key::SigningAlg;

fn load(toml: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let file = toml.map(|t| {
        let p = dir.path().join("authx.toml");
        std::fs::write(&p, t).unwrap();
        p
    });
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::load_from(
        Some(
            file.as_deref()
                .unwrap_or(Path::new("/nonexistent/none.toml")),
        ),
        env,
        &Overrides::default(),
    )
    .or_else(|e| match (&e, toml) {
        (ConfigError::Unreadable { .. }, None) => {
            Config::load_from(None, Vec::new(), &Overrides::default())
        }
        _ => Err(e),
    })
}

#[test]
fn defaults() {
    let c = Config::load_from(None, Vec::new(), &Overrides::default()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.issuer_url(), "http://127.0.0.1:8080");
    assert_eq!(c.realm, "AuthX");
    assert_eq!(c.database.url, "sqlite://authx.db");
}

#[test]
fn layers_override_in_order() {
    let c = load(
        Some("listen = \"127.0.0.1:9000\"\n[database]\nmax_connections = 3\nurl = \"sqlite://a.db\"\n"),
        &[("AUTHX_DATABASE__MAX_CONNECTIONS", "5"), ("AUTHX_ISSUER", "https://id.example.com/")],
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.database.max_connections, 5);
    assert_eq!(c.database.url, "sqlite://a.db");
    assert_eq!(c.issuer_url(), "https://id.example.com");
    let c = Config::load_from(
        None,
        vec![("AUTHX_DATABASE_URL".into(), "postgres://u:p@h/d".into())],
        &Overrides {
            database_url: Some("sqlite://flag.db".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.database.url, "sqlite://flag.db");
}

#[test]
fn flat_database_url_variable() {
    let c = Config::load_from(
        None,
        vec![("AUTHX_DATABASE_URL".into(), "postgres://u:p@h/d".into())],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.database.url, "postgres://u:p@h/d");
}

#[test]
fn unknown_keys_are_named() {
    let e = load(Some("[database]\nurll = \"x\"\n"), &[]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("`database.urll`"), "{msg}");
    assert!(msg.contains("authx.toml"), "{msg}");
    let e = Config::load_from(
        None,
        vec![("AUTHX_LISTN".into(), "x".into())],
        &Overrides::default(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("`listn`") && msg.contains("AUTHX_LISTN"),
        "{msg}"
    );
}

#[test]
fn test_variables_and_config_path_are_not_configuration() {
    Config::load_from(
        None,
        vec![
            ("AUTHX_TEST_POSTGRES_URL".into(), "postgres://x".into()),
            ("AUTHX_CONFIG".into(), "a.toml".into()),
        ],
        &Overrides::default(),
    )
    .unwrap();
}

#[test]
fn bad_values_are_named() {
    let e = Config::load_from(
        None,
        vec![("AUTHX_LISTEN".into(), "nonsense".into())],
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("`listen`"), "{e}");
    let e = load(Some("[log]\nformat = \"xml\"\n"), &[]).unwrap_err();
    assert!(e.to_string().contains("log.format"), "{e}");
}

#[test]
fn secret_from_file_and_masked_debug() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("db_url");
    std::fs::write(&secret, "postgres://authx:hunter2@db/authx\n").unwrap();
    let c = Config::load_from(
        None,
        vec![(
            "AUTHX_DATABASE__URL_FILE".into(),
            secret.display().to_string(),
        )],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.database.url, "postgres://authx:hunter2@db/authx");
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("postgres://authx:***@db/authx"), "{debug}");
}

#[test]
fn api_key_lifetimes() {
    let c = Config::load_from(None, Vec::new(), &Overrides::default()).unwrap();
    assert_eq!(c.api_keys.default_ttl_secs, 86_400);
    assert_eq!(c.api_keys.max_ttl_secs, 2_592_000);
    let e = load(
        Some("[api_keys]\ndefault_ttl_secs = 100\nmax_ttl_secs = 10\n"),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("api_keys.default_ttl_secs"), "{e}");
    let e = Config::load_from(
        None,
        vec![("AUTHX_API_KEYS__MAX_TTL_SECS".into(), "0".into())],
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("api_keys.max_ttl_secs"), "{e}");
}

#[test]
fn session_and_login_settings() {
    let c = Config::load_from(None, Vec::new(), &Overrides::default()).unwrap();
    assert_eq!(c.session.idle_timeout_secs, 1_800);
    assert_eq!(c.session.absolute_timeout_secs, 43_200);
    assert_eq!(c.login.max_failures_per_account, 5);
    assert_eq!(c.login.max_failures_per_ip, 50);
    assert_eq!(c.login.failure_window_secs, 900);
    assert_eq!(c.login.max_emails_per_address, 3);
    assert_eq!(c.login.max_emails_per_ip, 20);
    assert_eq!(c.login.email_window_secs, 900);
    let c = load(
        Some("[session]\nidle_timeout_secs = 600\n[login]\nmax_failures_per_ip = 9\n"),
        &[],
    )
    .unwrap();
    assert_eq!(c.session.idle_timeout_secs, 600);
    assert_eq!(c.login.max_failures_per_ip, 9);
    let e = load(
        Some("[session]\nidle_timeout_secs = 7200\nabsolute_timeout_secs = 3600\n"),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("session.idle_timeout_secs"), "{e}");
    let e = Config::load_from(
        None,
        vec![("AUTHX_LOGIN__MAX_EMAILS_PER_IP".into(), "0".into())],
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("login.max_emails_per_ip"), "{e}");
    let e = load(Some("[login]\nfailure_window = 3\n"), &[]).unwrap_err();
    assert!(e.to_string().contains("login.failure_window"), "{e}");
}

#[test]
fn email_transport_settings() {
    let c = Config::load_from(None, Vec::new(), &Overrides::default()).unwrap();
    assert_eq!(c.email, MailerConfig::default());
    assert_eq!(c.email.transport(), "log");
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("smtp_password");
    std::fs::write(&secret, "hunter2\n").unwrap();
    let c = load(
        Some(&format!(
            "[email]\ntransport = \"smtp\"\nhost = \"smtp.example.com\"\nusername = \"authx\"\npassword_file = {:?}\n",
            secret.display().to_string()
        )),
        &[("AUTHX_EMAIL__PORT", "2525")],
    )
    .unwrap();
    let MailerConfig::Smtp(smtp) = &c.email else {
        panic!("not smtp: {:?}", c.email)
    };
    assert_eq!(smtp.host, "smtp.example.com");
    assert_eq!(smtp.effective_port(), 2525);
    assert_eq!(smtp.password.as_deref(), Some("hunter2"));
    assert!(!format!("{c:?}").contains("hunter2"));
    let e = load(Some("[email]\ntransport = \"smtp\"\nhots = \"x\"\n"), &[]).unwrap_err();
    assert!(e.to_string().contains("hots"), "{e}");
    let e = load(
        Some("[email]\ntransport = \"log\"\npassword_file = \"/x\"\n"),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("email.password_file"), "{e}");
    let e = load(
        Some("[email]\ntransport = \"smtp\"\nhost = \"h\"\npassword_file = \"/nonexistent/pw\"\n"),
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("email.password_file"), "{e}");
}

#[test]
fn token_settings() {
    let c = Config::load_from(None, Vec::new(), &Overrides::default()).unwrap();
    assert_eq!(c.tokens.signing_alg, SigningAlg::Es256);
    assert_eq!(c.tokens.access_token_ttl_secs, 600);
    assert_eq!(c.tokens.id_token_ttl_secs, 600);
    assert_eq!(c.tokens.refresh_token_ttl_secs, 2_592_000);
    assert_eq!(c.tokens.authorization_code_ttl_secs, 60);
    assert_eq!(c.tokens.clock_skew_secs, 60);
    assert_eq!(c.tokens.key_publish_lead_secs, 65);
    assert_eq!(c.tokens.retired_key_publish_secs(), 725);
    assert_eq!(
        c.tokens.published_algs(),
        [SigningAlg::Es256, SigningAlg::Rs256]
    );
    let c = load(
        Some("[tokens]\nsigning_alg = \"EdDSA\"\n"),
        &[("AUTHX_TOKENS__ACCESS_TOKEN_TTL_SECS", "300")],
    )
    .unwrap();
    assert_eq!(c.tokens.signing_alg, SigningAlg::EdDsa);
    assert_eq!(c.tokens.access_token_ttl_secs, 300);
    let c = load(
        Some("[tokens]\nsigning_alg = \"RS256\"\nid_token_signing_algs = [\"EdDSA\", \"RS256\"]\n"),
        &[],
    )
    .unwrap();
    assert_eq!(
        c.tokens.published_algs(),
        [SigningAlg::Rs256, SigningAlg::EdDsa]
    );
    let env = |value: &str| {
        vec![(
            "AUTHX_TOKENS__ID_TOKEN_SIGNING_ALGS".to_owned(),
            value.to_owned(),
        )]
    };
    let c = Config::load_from(None, env("EdDSA, ES256"), &Overrides::default()).unwrap();
    assert_eq!(
        c.tokens.published_algs(),
        [SigningAlg::Es256, SigningAlg::Rs256, SigningAlg::EdDsa]
    );
    let e = Config::load_from(None, env("HS256"), &Overrides::default()).unwrap_err();
    assert!(
        e.to_string().contains("tokens.id_token_signing_algs"),
        "{e}"
    );
    let e = load(Some("[tokens]\nsigning_alg = \"HS256\"\n"), &[]).unwrap_err();
    assert!(e.to_string().contains("tokens.signing_alg"), "{e}");
    let e = load(Some("[tokens]\nauthorization_code_ttl_secs = 61\n"), &[]).unwrap_err();
    assert!(
        e.to_string().contains("tokens.authorization_code_ttl_secs"),
        "{e}"
    );
    let e = load(Some("[tokens]\naccess_ttl = 1\n"), &[]).unwrap_err();
    assert!(e.to_string().contains("tokens.access_ttl"), "{e}");
}

#[test]
fn masking() {
    assert_eq!(
        mask_url_password("postgres://u:p@h:5432/d"),
        "postgres://u:***@h:5432/d"
    );
    assert_eq!(mask_url_password("postgres://u@h/d"), "postgres://u@h/d");
    assert_eq!(mask_url_password("sqlite://authx.db"), "sqlite://authx.db");
    assert_eq!(
        mask_url_password("postgres://u:p@ss@h/d"),
        "postgres://u:***@h/d"
    );
}
