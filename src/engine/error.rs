//! Why an engine command refused or failed, in terms every adapter can render: the admin API as
//! problem documents, the pages as error pages. Messages are for the caller to read and never
//! carry driver text (the store's errors do not either).

use crate::store::StoreError;

/// The outcome of a command that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The input is invalid; `field` names it when one field is at fault (`scopes/2`, `email`).
    #[error("{}", match field { Some(f) => format!("{f}: {message}"), None => message.clone() })]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// The actor's access does not allow this; the scopes it lacks (none named when naming them
    /// would reveal something).
    #[error("forbidden")]
    Forbidden(Vec<String>),
    /// The actor may act, but not this way; the reason says what to do instead (e.g. "an email
    /// address of your own is added by following the link sent to it").
    #[error("{0}")]
    Refused(String),
    /// No such resource (or the actor may not learn whether it exists).
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with existing data: what clashed, and the input field it is about
    /// when one is (`id`, `username`).
    #[error("{message}")]
    Conflict {
        field: Option<&'static str>,
        message: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
    /// Something else failed inside authx (hashing, say); the cause is for the log only.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl CommandError {
    /// An invalid `field`.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// Invalid input not tied to one field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            field: None,
            message: message.into(),
        }
    }

    /// A clash with existing data that is not about one field (the last administrator, the last
    /// credential).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            field: None,
            message: message.into(),
        }
    }

    /// Not found, saying what.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound("no such resource".to_owned()),
            // The store's messages name the clashing or missing thing and never carry driver text.
            StoreError::Conflict(clash) => Self::Conflict {
                field: clash.key.field(),
                message: clash.message,
            },
            StoreError::Reference(what) => Self::invalid(what),
            StoreError::InvalidValue(why) => Self::invalid(why),
            other => Self::Store(other),
        }
    }
}
