//! Where the key-encryption key comes from (`[secrets]` in the configuration):
//!
//! 1. `secrets.key_file`: a file holding 32 random bytes, base64-encoded (`openssl rand -base64
//!    32 > authx.key`). Every node of an installation must be given the same file;
//! 2. `secrets.key` (`AUTHX_SECRETS__KEY`): the same, inline, for platforms that hand secrets out
//!    as environment variables;
//! 3. neither, on SQLite: a key file beside the database (`authx.db` → `authx.db.key`), generated
//!    on first start (readable by its owner only) with a warning, so a single-node installation
//!    needs no setup. Back it up with the database: without it, the secrets in the database are
//!    lost. An in-memory database gets a key that lives as long as it does;
//! 4. neither, on PostgreSQL: no key, and `serve` refuses to start. Several nodes share a
//!    PostgreSQL, and a key each node generated for itself would lock the others out.
//!
//! `secrets.previous_key_files` lists keys sealed values may still be under after a rotation,
//! until `authx secrets reseal` has moved them all to the current key.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{KEY_LEN, SealError, Sealer};
use crate::config::SecretsConfig;

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeySourceError {
    /// No key is configured where one is needed (a server on PostgreSQL).
    #[error(
        "no secrets key: set secrets.key_file (AUTHX_SECRETS__KEY_FILE) to a file holding 32 \
         random bytes, base64-encoded (`openssl rand -base64 32`); on PostgreSQL every node must \
         be given the same one"
    )]
    Missing,
    /// Both `secrets.key` and `secrets.key_file` are set.
    #[error("set secrets.key_file or secrets.key, not both")]
    Both,
    /// A key file could not be read or written.
    #[error("{setting} ({path}): {source}")]
    Io {
        /// The setting that names it.
        setting: &'static str,
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A key is not 32 bytes of base64.
    #[error(
        "{0} must hold 32 random bytes, base64-encoded (for example `openssl rand -base64 32`)"
    )]
    Malformed(&'static str),
    /// The cipher refused the key.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// The sealer for `config` on the database at `database_url` (see the module documentation).
pub fn load(config: &SecretsConfig, database_url: &str) -> Result<Sealer, KeySourceError> {
    let current = match (&config.key, &config.key_file) {
        (Some(_), Some(_)) => return Err(KeySourceError::Both),
        (Some(inline), None) => Some(parse(inline, "secrets.key")?),
        (None, Some(path)) => Some(read(path, "secrets.key_file")?),
        (None, None) => default_key(database_url)?,
    };
    let previous = config
        .previous_key_files
        .iter()
        .map(|path| read(path, "secrets.previous_key_files"))
        .collect::<Result<Vec<_>, _>>()?;
    match current {
        Some(key) => Ok(Sealer::new(&key, &previous)?),
        None => Ok(Sealer::unconfigured()),
    }
}

/// The key when none is configured: generated beside a SQLite file, random for an in-memory
/// database, none for PostgreSQL.
fn default_key(database_url: &str) -> Result<Option<[u8; KEY_LEN]>, KeySourceError> {
    if !database_url.starts_with("sqlite:") {
        return Ok(None);
    }
    let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
    let file = sqlx::sqlite::SqliteConnectOptions::from_str(database_url)
        .ok()
        .map(|options| options.get_filename().to_path_buf())
        .filter(|path| !in_memory && !path.as_os_str().is_empty());
    let Some(database) = file else {
        return Ok(Some(random_key()?));
    };
    let path = beside(&database);
    if path.exists() {
        return read(&path, "the generated secrets key").map(Some);
    }
    let key = random_key()?;
    write_new(&path, &key)?;
    tracing::warn!(
        path = %path.display(),
        "generated a secrets key beside the SQLite database: back it up with the database, and \
         set secrets.key_file to keep it elsewhere"
    );
    Ok(Some(key))
}

/// `authx.db` → `authx.db.key`.
fn beside(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

fn random_key() -> Result<[u8; KEY_LEN], KeySourceError> {
    let mut key = [0u8; KEY_LEN];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| SealError::Seal)?;
    Ok(key)
}

/// Writes a new key file, readable by its owner only; never overwrites one.
fn write_new(path: &Path, key: &[u8; KEY_LEN]) -> Result<(), KeySourceError> {
    let io = |source| KeySourceError::Io {
        setting: "the generated secrets key",
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    writeln!(file, "{}", STANDARD.encode(key)).map_err(io)?;
    file.sync_all().map_err(io)
}

fn read(path: &Path, setting: &'static str) -> Result<[u8; KEY_LEN], KeySourceError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeySourceError::Io {
        setting,
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, setting)
}

fn parse(text: &str, setting: &'static str) -> Result<[u8; KEY_LEN], KeySourceError> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; KEY_LEN]>::try_from(bytes).ok())
        .ok_or(KeySourceError::Malformed(setting))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SecretsConfig {
        SecretsConfig::default()
    }

    #[test]
    fn generated_beside_sqlite_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("authx.db");
        let url = format!("sqlite://{}", db.display());
        let first = load(&config(), &url).unwrap();
        let file = dir.path().join("authx.db.key");
        assert!(file.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = load(&config(), &url).unwrap();
        assert_eq!(first.current_key_id(), again.current_key_id());
        assert!(
            load(&config(), "sqlite::memory:")
                .unwrap()
                .current_key_id()
                .is_some()
        );
        assert!(
            load(&config(), "postgres://u@h/d")
                .unwrap()
                .current_key_id()
                .is_none()
        );
    }

    #[test]
    fn configured_keys() {
        let dir = tempfile::tempdir().unwrap();
        let key = STANDARD.encode([5u8; KEY_LEN]);
        let path = dir.path().join("k");
        std::fs::write(&path, format!("{key}\n")).unwrap();
        let from_file = load(
            &SecretsConfig {
                key_file: Some(path.clone()),
                ..config()
            },
            "postgres://u@h/d",
        )
        .unwrap();
        let inline = load(
            &SecretsConfig {
                key: Some(key.clone()),
                previous_key_files: vec![path.clone()],
                ..config()
            },
            "postgres://u@h/d",
        )
        .unwrap();
        assert_eq!(from_file.current_key_id(), inline.current_key_id());
        assert!(matches!(
            load(
                &SecretsConfig {
                    key: Some(key),
                    key_file: Some(path),
                    ..config()
                },
                "x"
            ),
            Err(KeySourceError::Both)
        ));
        let short = SecretsConfig {
            key: Some(STANDARD.encode([1u8; 16])),
            ..config()
        };
        let error = load(&short, "x").unwrap_err();
        assert!(error.to_string().contains("32 random bytes"), "{error}");
    }
}
