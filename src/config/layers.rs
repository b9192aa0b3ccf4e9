//! How the layers are read: the `AUTHX_*` environment (with its flat aliases), secret files,
//! the `[email]` section, and errors that name the key and where it came from.

use std::path::{Path, PathBuf};

use authx_strategy_email::MailerConfig;
use figment::providers::Serialized;
use serde::{Deserialize, Deserializer};

use super::{ConfigError, TEST_VARIABLE_PREFIX};

/// The `[email]` section: a [`MailerConfig`] (tagged by `transport`) plus `password_file`, which
/// reads the SMTP password from a file (trailing newline dropped), like `database.url_file`.
pub(super) fn deserialize_email<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<MailerConfig, D::Error> {
    use serde::de::Error;
    let mut table = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
    let password_file = match table.remove("password_file") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(path)) => Some(PathBuf::from(path)),
        Some(other) => {
            return Err(D::Error::custom(format!(
                "`email.password_file` must be a file path, not {other}"
            )));
        }
    };
    let mut config: MailerConfig =
        serde_json::from_value(serde_json::Value::Object(table)).map_err(D::Error::custom)?;
    if let Some(path) = password_file {
        let MailerConfig::Smtp(smtp) = &mut config else {
            return Err(D::Error::custom(
                "`email.password_file` needs `transport = \"smtp\"`",
            ));
        };
        let password = read_secret_file(&path, "email.password_file")
            .map_err(|e| D::Error::custom(e.to_string()))?;
        smtp.password = Some(password);
    }
    Ok(config)
}

pub(super) fn read_secret_file(path: &Path, key: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
        key: key.to_owned(),
        origin: path.display().to_string(),
        message: format!("cannot read secret file: {e}"),
    })?;
    // Files written by `echo` or editors end in a newline that is not part of the secret.
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// The `AUTHX_*` variables that are configuration, lower-cased and without the prefix, mapped to
/// dotted keys: `AUTHX_DATABASE__MAX_CONNECTIONS` → `database.max_connections`, plus the flat
/// aliases a newcomer reaches for first (`AUTHX_DATABASE_URL`).
pub(super) fn environment_pairs(
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String, String)> {
    let mut pairs = Vec::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("AUTHX_") else {
            continue;
        };
        let lower = rest.to_ascii_lowercase();
        if lower == "config" || lower.starts_with(TEST_VARIABLE_PREFIX) {
            continue;
        }
        let key = match lower.as_str() {
            "database_url" => "database.url".to_owned(),
            "database_url_file" => "database.url_file".to_owned(),
            _ => lower.replace("__", "."),
        };
        pairs.push((key, value, name));
    }
    pairs
}

pub(super) fn env_provider(pairs: &[(String, String, String)]) -> Serialized<figment::value::Dict> {
    let mut root = figment::value::Dict::new();
    for (key, value, _) in pairs {
        insert_dotted(&mut root, key, parse_env_value(value));
    }
    Serialized::defaults(root)
}

fn insert_dotted(dict: &mut figment::value::Dict, key: &str, value: figment::value::Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((head, tail)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if let figment::value::Value::Dict(_, inner) = entry {
                insert_dotted(inner, tail, value);
            } else {
                let mut inner = figment::value::Dict::new();
                insert_dotted(&mut inner, tail, value);
                *entry = figment::value::Value::from(inner);
            }
        }
    }
}

/// Environment values are strings; numbers and booleans are recognised so `AUTHX_DATABASE__MAX_CONNECTIONS=16`
/// works, everything else stays a string (a URL must never be mangled).
fn parse_env_value(value: &str) -> figment::value::Value {
    if let Ok(n) = value.parse::<i64>() {
        return figment::value::Value::from(n);
    }
    match value {
        "true" => figment::value::Value::from(true),
        "false" => figment::value::Value::from(false),
        _ => figment::value::Value::from(value.to_owned()),
    }
}

/// Turns figment's error into one that names the key and where it came from: the environment
/// variable that set it, else the file, else the built-in default.
pub(super) fn convert_error(
    error: figment::Error,
    file: &Option<PathBuf>,
    env_pairs: &[(String, String, String)],
) -> ConfigError {
    let origin_of = |key: &str| -> String {
        let from_env = env_pairs
            .iter()
            .find(|(k, _, _)| k == key || k.starts_with(&format!("{key}.")));
        match (from_env, file) {
            (Some((_, _, name)), _) => format!("from environment variable {name}"),
            (None, Some(path)) => format!("in {}", path.display()),
            (None, None) => "built-in default".to_owned(),
        }
    };
    let Some(e) = error.into_iter().next() else {
        return ConfigError::Invalid {
            key: String::new(),
            origin: String::new(),
            message: "unknown configuration error".to_owned(),
        };
    };
    match &e.kind {
        figment::error::Kind::UnknownField(field, expected) => {
            let mut path = e.path.clone();
            // Figment's path usually ends with the unknown field already; older versions don't.
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            let key = path.join(".");
            ConfigError::UnknownKey {
                origin: origin_of(&key),
                key,
                expected: expected.join(", "),
            }
        }
        kind => {
            let key = e.path.join(".");
            ConfigError::Invalid {
                origin: origin_of(&key),
                key,
                message: kind.to_string(),
            }
        }
    }
}

/// Replaces the password of a URL like `postgres://user:secret@host/db` with `***`.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
