//! A throwaway engine on `sqlite::memory:` with a bootstrapped administrator.

use std::sync::Arc;

use crate::config::Config;
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::audit::Context;
use crate::engine::bootstrap::{BootstrapRequest, bootstrap_admin};
use crate::sealing::Sealer;
use crate::store::{ConnectOptions, connect};

/// A fixed point in time (2027-01-15T08:00:00Z): the tests pass it, and times derived from it,
/// to the engine instead of reading the clock.
pub const T0: i64 = 1_800_000_000;

/// The engine, and its administrator (all of `root`) acting through a session.
pub struct Fixture {
    pub engine: Engine,
    pub admin: Actor,
}

pub async fn fixture() -> Fixture {
    let config = Config {
        issuer: Some("http://127.0.0.1:9".to_owned()),
        ..Config::default()
    };
    let sealer = Arc::new(Sealer::new(&[7u8; 32], &[]).unwrap());
    let store = connect(&ConnectOptions::new("sqlite::memory:"), sealer)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let report = bootstrap_admin(
        store.as_ref(),
        &config,
        BootstrapRequest {
            email: "admin@example.com".to_owned(),
            password: None,
            restore_root: false,
        },
    )
    .await
    .unwrap();
    let mailer = Arc::new(authx_strategy_email::Mailer::from_config(&config.email).unwrap());
    let oidc = Arc::new(
        authx_strategy_google::OidcClient::new(authx_strategy_google::OidcOptions {
            outbound: config.outbound.clone(),
            ..authx_strategy_google::OidcOptions::default()
        })
        .unwrap(),
    );
    let saml_metadata =
        Arc::new(crate::engine::saml_metadata::MetadataCache::new(&config.outbound).unwrap());
    let engine = Engine::new(config, store, mailer, oidc, saml_metadata);
    let admin = actor(&engine, &report.user_id).await;
    Fixture { engine, admin }
}

/// `user_id` acting through a session, with their access now.
pub async fn actor(engine: &Engine, user_id: &str) -> Actor {
    Actor::for_session(engine, user_id, &Context::default())
        .await
        .unwrap()
}

/// The claims of a JWT, read without checking anything (the tests check the values).
pub fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
