//! `contrib/authx.example.toml` is the reference operators copy to `/etc/authx/authx.toml`: it must
//! load with the loader `authx serve` uses and change nothing, and it must name exactly the keys
//! the configuration types know — set when they have a default, commented out (`# key = value`)
//! when they are unset by default. The key list comes from the types themselves (the configuration
//! serialises), so a key added to or dropped from `authx::config` fails here until the example
//! follows.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use authx::config::{Config, Overrides};
use authx_strategy_email::mailer::FileConfig;
use authx_strategy_email::{MailerConfig, SmtpConfig, SmtpTls};
use figment::providers::{Format, Toml};
use serde_json::Value;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/authx.example.toml")
}

/// Every leaf of `value` as a dotted key with its value. Lists are leaves (a list is one setting);
/// `null` ones are the options unset by default, which serialise too, so none is missed.
fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                leaves(&key, inner, out);
            }
        }
        leaf => out.push((prefix.to_owned(), leaf.clone())),
    }
}

/// Every key the loader accepts, each with whether it is unset by default (and so belongs
/// commented out in the example).
///
/// `[email]` is a different set of keys per `transport`, and one configuration holds only one, so
/// it is taken apart: the keys of every transport, each built with a full struct literal (a new
/// field fails to compile here rather than go unlisted) and every option set (unset ones are
/// skipped when serialised). Only the default `log` transport's keys are set in the example.
fn known_keys() -> Vec<(String, bool)> {
    let mut defaults = serde_json::to_value(Config::default()).unwrap();
    let default_email = defaults
        .as_object_mut()
        .and_then(|config| config.remove("email"))
        .expect("the configuration serialises an `email` section");
    let mut keys = Vec::new();
    leaves("", &defaults, &mut keys);
    let mut keys: Vec<(String, bool)> = keys
        .into_iter()
        .map(|(key, value)| (key, value.is_null()))
        .collect();

    let mut set_by_default = Vec::new();
    leaves("email", &default_email, &mut set_by_default);
    let set_by_default: BTreeSet<String> = set_by_default.into_iter().map(|(k, _)| k).collect();
    let transports = [
        MailerConfig::Log(Default::default()),
        MailerConfig::File(FileConfig {
            from: "authx <no-reply@example.com>".to_owned(),
            dir: PathBuf::from("mail"),
        }),
        MailerConfig::Smtp(SmtpConfig {
            from: "authx <no-reply@example.com>".to_owned(),
            host: "smtp.example.com".to_owned(),
            port: Some(587),
            tls: SmtpTls::Starttls,
            username: Some("authx".to_owned()),
            password: Some("secret".to_owned()),
            timeout_secs: 30,
        }),
    ];
    let mut email = Vec::new();
    for transport in &transports {
        leaves(
            "email",
            &serde_json::to_value(transport).unwrap(),
            &mut email,
        );
    }
    // Read by the loader itself (`deserialize_email` in src/config/layers.rs), not a field of
    // any transport.
    email.push(("email.password_file".to_owned(), Value::Null));
    let email: BTreeSet<String> = email.into_iter().map(|(k, _)| k).collect();
    keys.extend(email.into_iter().map(|key| {
        let unset = !set_by_default.contains(&key);
        (key, unset)
    }));
    keys
}

/// `key` if `line` reads `key = value` with a bare lower-case key, as every setting in the example
/// is written; prose never starts that way.
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once(" = ")?;
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    bare.then_some(key)
}

/// The keys the example names as dotted keys, each with whether it is commented out. A
/// commented-out line must be valid TOML itself, so that uncommenting it gives a well-formed file.
fn example_keys(text: &str) -> Vec<(String, bool)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{}.", name.trim());
            continue;
        }
        let (setting, commented) = match line.strip_prefix('#') {
            Some(rest) => (rest.strip_prefix(' ').unwrap_or(rest), true),
            None => (line, false),
        };
        let Some(key) = key_of(setting) else {
            continue;
        };
        if commented && let Err(error) = Toml::from_str::<Value>(setting) {
            panic!("commented-out `{setting}` is not valid TOML: {error}");
        }
        keys.push((format!("{section}{key}"), commented));
    }
    keys
}

#[test]
fn the_example_config_loads_and_sets_only_defaults() {
    let path = example_path();
    // An explicit, empty environment: the AUTHX_* variables of whoever runs the tests (CI exports
    // some) must not take part. `load_from` is what `Config::load` — `authx serve` — runs, the
    // checks of `validate` included.
    let loaded = Config::load_from(Some(path.as_path()), Vec::new(), &Overrides::default())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    // Config has no PartialEq; its serialised form holds every field.
    assert_eq!(
        serde_json::to_value(&loaded).unwrap(),
        serde_json::to_value(Config::default()).unwrap(),
        "{} must set every key to its built-in default",
        path.display()
    );
}

#[test]
fn the_example_config_names_every_key_and_only_known_ones() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let named = example_keys(&text);

    // The line-by-line reading must see the keys a TOML parser sees, or what follows proves
    // nothing (a setting written `key=value` or across lines would slip past it).
    let parsed: Value = Toml::from_str(&text).unwrap();
    let mut parsed_keys = Vec::new();
    leaves("", &parsed, &mut parsed_keys);
    let parsed_keys: BTreeSet<String> = parsed_keys.into_iter().map(|(k, _)| k).collect();
    let set: BTreeSet<String> = named
        .iter()
        .filter(|(_, commented)| !commented)
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(
        set, parsed_keys,
        "keys read line by line vs. parsed as TOML"
    );

    let mut seen = BTreeSet::new();
    let repeated: Vec<&String> = named
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !seen.insert(k.as_str()))
        .collect();
    assert!(repeated.is_empty(), "named more than once: {repeated:?}");

    let known = known_keys();
    let known_names: BTreeSet<&str> = known.iter().map(|(k, _)| k.as_str()).collect();
    let named_names: BTreeSet<&str> = named.iter().map(|(k, _)| k.as_str()).collect();
    let missing: Vec<&&str> = known_names.difference(&named_names).collect();
    assert!(
        missing.is_empty(),
        "keys authx accepts that contrib/authx.example.toml does not name: {missing:?}"
    );
    // Set keys are also proven by the loader (unknown keys are errors); this covers the
    // commented-out ones too.
    let unknown: Vec<&&str> = named_names.difference(&known_names).collect();
    assert!(
        unknown.is_empty(),
        "keys in contrib/authx.example.toml that authx does not know: {unknown:?}"
    );

    let known_unset: BTreeSet<&str> = known
        .iter()
        .filter(|(_, unset)| *unset)
        .map(|(k, _)| k.as_str())
        .collect();
    let commented: BTreeSet<&str> = named
        .iter()
        .filter(|(_, commented)| *commented)
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        commented, known_unset,
        "exactly the keys without a default value (or of another mail transport) are commented out"
    );
}
