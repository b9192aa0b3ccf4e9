//! Sending mail: SMTP through lettre, or — for development only — a directory of `.eml` files or
//! the log.
//!
//! [`MailerConfig`] is a table meant to be embedded in the server's TOML configuration, tagged by
//! `transport`:
//!
//! ```toml
//! [mail]
//! transport = "smtp"          # or "file" / "log" (the default)
//! from = "authx <no-reply@example.com>"
//! host = "smtp.example.com"
//! tls = "starttls"            # "none" | "starttls" (default) | "tls"
//! port = 587                  # default: 25 / 587 / 465 by `tls`
//! username = "authx"
//! password = "…"
//! timeout_secs = 30
//! ```
//!
//! `tls = "none"` sends in clear text and is meant for a relay on loopback (development, tests).
//! Every message is `multipart/alternative` with a plain-text and an HTML part. Bodies that are
//! plain ASCII are sent as 7bit, so links stay readable in the raw message; anything else is
//! quoted-printable.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::message::Message;

/// The sender used when the configuration names none.
pub const DEFAULT_FROM: &str = "authx <no-reply@localhost>";
/// SMTP timeout used when the configuration names none.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

fn default_from() -> String {
    DEFAULT_FROM.to_owned()
}

fn default_timeout_secs() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

/// How mail leaves authx. Defaults to [`MailerConfig::Log`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "lowercase", deny_unknown_fields)]
pub enum MailerConfig {
    /// Send through an SMTP server.
    Smtp(SmtpConfig),
    /// Write each message as an `.eml` file into a directory (development).
    File(FileConfig),
    /// Log each message, link included, with `tracing::info!` (development only: anyone who can
    /// read the logs can use the links).
    Log(LogConfig),
}

impl Default for MailerConfig {
    fn default() -> Self {
        MailerConfig::Log(LogConfig::default())
    }
}

impl MailerConfig {
    /// The configured sender address.
    pub fn from_address(&self) -> &str {
        match self {
            MailerConfig::Smtp(c) => &c.from,
            MailerConfig::File(c) => &c.from,
            MailerConfig::Log(c) => &c.from,
        }
    }

    /// The transport name: `smtp`, `file` or `log`.
    pub fn transport(&self) -> &'static str {
        match self {
            MailerConfig::Smtp(_) => "smtp",
            MailerConfig::File(_) => "file",
            MailerConfig::Log(_) => "log",
        }
    }
}

/// Transport security for SMTP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Clear text, no TLS at all (port 25 by default). For a relay on loopback only.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (port 587 by default).
    #[default]
    Starttls,
    /// TLS from the first byte, "SMTPS" (port 465 by default).
    Tls,
}

impl SmtpTls {
    /// The usual port for this mode: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// SMTP settings. `Debug` masks the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The sender, e.g. `authx <no-reply@example.com>`.
    #[serde(default = "default_from")]
    pub from: String,
    /// The SMTP server's host name (also the name its TLS certificate must carry).
    pub host: String,
    /// The port; by default 25, 587 or 465 according to `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Transport security (default `starttls`).
    #[serde(default)]
    pub tls: SmtpTls,
    /// User name for SMTP AUTH; no authentication when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for SMTP AUTH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Connection and command timeout in seconds (default 30).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl SmtpConfig {
    /// Settings for `host` with every default: STARTTLS on 587, no credentials.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            from: default_from(),
            host: host.into(),
            port: None,
            tls: SmtpTls::default(),
            username: None,
            password: None,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
        }
    }

    /// The port in effect: `port`, else the default for `tls`.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.tls.default_port())
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("from", &self.from)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// File transport settings (development).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The sender.
    #[serde(default = "default_from")]
    pub from: String,
    /// The directory the `.eml` files are written to; created when missing.
    pub dir: PathBuf,
}

/// Log transport settings (development only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The sender.
    #[serde(default = "default_from")]
    pub from: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            from: default_from(),
        }
    }
}

/// Why mail could not be set up or sent. Messages are for logs and operators; the server shows
/// people a generic answer (it must not reveal whether an address is known anyway).
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// The configuration is unusable (bad sender address, TLS setup).
    #[error("invalid mail configuration: {0}")]
    Config(String),
    /// The recipient is not a valid email address.
    #[error("invalid recipient address")]
    InvalidRecipient,
    /// The message could not be assembled.
    #[error("cannot build the message: {0}")]
    Build(String),
    /// The transport failed (SMTP error, connection refused, timeout, I/O).
    #[error("sending mail failed: {0}")]
    Send(String),
}

/// Sends [`Message`]s with the configured transport. Build it once and share it (`Arc`): the SMTP
/// transport keeps a pool of connections.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

enum Transport {
    Smtp(Box<Smtp>),
    File(PathBuf),
    Log,
}

/// lettre's pooled transport spawns Tokio tasks when built and when dropped, so it is built on
/// first use (always inside the runtime) and leaked rather than dropped outside a runtime.
struct Smtp {
    builder: lettre::transport::smtp::AsyncSmtpTransportBuilder,
    transport: tokio::sync::OnceCell<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err()
            && let Some(transport) = self.transport.take()
        {
            std::mem::forget(transport);
        }
    }
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transport = match &self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::File(_) => "file",
            Transport::Log => "log",
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &transport)
            .finish()
    }
}

impl Mailer {
    /// Checks `config` and prepares the transport. No connection is made here: the SMTP
    /// connection is opened on the first [`Mailer::send`]. Safe to call outside a Tokio runtime.
    pub fn from_config(config: &MailerConfig) -> Result<Mailer, MailerError> {
        let from: Mailbox = config.from_address().parse().map_err(|e| {
            MailerError::Config(format!(
                "`from` is not a valid address ({:?}): {e}",
                config.from_address()
            ))
        })?;
        let transport = match config {
            MailerConfig::Smtp(smtp) => Transport::Smtp(Box::new(Smtp {
                builder: smtp_builder(smtp)?,
                transport: tokio::sync::OnceCell::new(),
            })),
            MailerConfig::File(file) => Transport::File(file.dir.clone()),
            MailerConfig::Log(_) => Transport::Log,
        };
        Ok(Mailer { from, transport })
    }

    /// The sender address.
    pub fn from_address(&self) -> &Mailbox {
        &self.from
    }

    /// Sends `message` to the single address `to`.
    pub async fn send(&self, to: &str, message: &Message) -> Result<(), MailerError> {
        let recipient: Mailbox = to.parse().map_err(|_| MailerError::InvalidRecipient)?;
        match &self.transport {
            Transport::Log => {
                tracing::info!(
                    to = %recipient,
                    subject = %message.subject,
                    body = %message.text,
                    "mail not sent (log transport, for development only)"
                );
                Ok(())
            }
            Transport::File(dir) => {
                let email = self.build(recipient, message)?;
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    MailerError::Send(format!("cannot create {}: {e}", dir.display()))
                })?;
                let path = dir.join(eml_file_name());
                tokio::fs::write(&path, email.formatted())
                    .await
                    .map_err(|e| {
                        MailerError::Send(format!("cannot write {}: {e}", path.display()))
                    })?;
                tracing::debug!(path = %path.display(), "mail written (file transport)");
                Ok(())
            }
            Transport::Smtp(smtp) => {
                let email = self.build(recipient, message)?;
                let transport = smtp
                    .transport
                    .get_or_init(|| async { smtp.builder.clone().build() })
                    .await;
                transport
                    .send(email)
                    .await
                    .map(|_| ())
                    .map_err(|e| MailerError::Send(e.to_string()))
            }
        }
    }

    fn build(&self, to: Mailbox, message: &Message) -> Result<lettre::Message, MailerError> {
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(body(&message.text));
        let html = SinglePart::builder()
            .header(ContentType::TEXT_HTML)
            .body(body(&message.html));
        lettre::Message::builder()
            .message_id(Some(format!(
                "<{}@{}>",
                random_hex::<16>(),
                self.from.email.domain()
            )))
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone())
            .multipart(MultiPart::alternative().singlepart(text).singlepart(html))
            .map_err(|e| MailerError::Build(e.to_string()))
    }
}

fn smtp_builder(
    config: &SmtpConfig,
) -> Result<lettre::transport::smtp::AsyncSmtpTransportBuilder, MailerError> {
    let host = config.host.trim();
    if host.is_empty() {
        return Err(MailerError::Config("`host` must not be empty".to_owned()));
    }
    let builder = match config.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|e| MailerError::Config(format!("STARTTLS setup for {host}: {e}")))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
            .map_err(|e| MailerError::Config(format!("TLS setup for {host}: {e}")))?,
    };
    let mut builder = builder
        .port(config.effective_port())
        .timeout(Some(Duration::from_secs(config.timeout_secs.max(1))));
    match (&config.username, &config.password) {
        (Some(user), password) => {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.clone().unwrap_or_default(),
            ));
        }
        (None, Some(_)) => {
            return Err(MailerError::Config(
                "`password` is set but `username` is not".to_owned(),
            ));
        }
        (None, None) => {}
    }
    Ok(builder)
}

/// A body that stays readable in the raw message when possible: printable ASCII with lines within
/// SMTP's 998-byte limit goes out as 7bit (lettre itself would pick quoted-printable for any line
/// over 76 characters, which splits long links); anything else is left to lettre's choice.
fn body(content: &str) -> Body {
    let crlf = content.replace("\r\n", "\n").replace('\n', "\r\n");
    let seven_bit = crlf
        .bytes()
        .all(|b| b == b'\r' || b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b))
        && crlf.split("\r\n").all(|line| line.len() <= 998)
        && !crlf.split("\r\n").any(|line| line.contains('\r'));
    if seven_bit {
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(content.to_owned())
    }
}

fn eml_file_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos}-{}.eml", random_hex::<8>())
}

fn random_hex<const N: usize>() -> String {
    let random: [u8; N] = rand::random();
    random.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Purpose, render};

    #[test]
    fn config_toml_shapes() {
        let c: MailerConfig = serde_json::from_value(serde_json::json!({
            "transport": "smtp", "host": "mail.example.com", "tls": "tls",
            "username": "u", "password": "hunter2"
        }))
        .unwrap();
        let MailerConfig::Smtp(smtp) = &c else {
            panic!("not smtp: {c:?}")
        };
        assert_eq!(smtp.effective_port(), 465);
        assert_eq!(smtp.from, DEFAULT_FROM);
        assert_eq!(smtp.timeout_secs, 30);
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.transport(), "smtp");

        let c: MailerConfig =
            serde_json::from_value(serde_json::json!({"transport": "smtp", "host": "h"})).unwrap();
        let MailerConfig::Smtp(smtp) = &c else {
            panic!()
        };
        assert_eq!((smtp.tls, smtp.effective_port()), (SmtpTls::Starttls, 587));
        assert_eq!(SmtpTls::None.default_port(), 25);

        let unknown = serde_json::from_value::<MailerConfig>(
            serde_json::json!({"transport": "smtp", "host": "h", "hots": "x"}),
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("hots"), "{unknown}");
        assert!(
            serde_json::from_value::<MailerConfig>(
                serde_json::json!({"transport": "log", "dir": "/tmp"})
            )
            .is_err()
        );
        assert!(
            serde_json::from_value::<MailerConfig>(serde_json::json!({"transport": "carrier"}))
                .is_err()
        );

        let default = MailerConfig::default();
        assert_eq!(default.transport(), "log");
        assert_eq!(default.from_address(), DEFAULT_FROM);
        let json = serde_json::to_value(&default).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"transport": "log", "from": DEFAULT_FROM})
        );
        assert_eq!(
            serde_json::from_value::<MailerConfig>(json).unwrap(),
            default
        );
        let file: MailerConfig =
            serde_json::from_value(serde_json::json!({"transport": "file", "dir": "/tmp/m"}))
                .unwrap();
        assert_eq!(
            serde_json::from_value::<MailerConfig>(serde_json::to_value(&file).unwrap()).unwrap(),
            file
        );
    }

    #[test]
    fn from_config_checks_and_needs_no_runtime() {
        let mut smtp = SmtpConfig::new("127.0.0.1");
        smtp.tls = SmtpTls::None;
        let mailer = Mailer::from_config(&MailerConfig::Smtp(smtp.clone())).unwrap();
        drop(mailer);
        let mut bad = smtp.clone();
        bad.from = "not an address".into();
        assert!(matches!(
            Mailer::from_config(&MailerConfig::Smtp(bad)),
            Err(MailerError::Config(_))
        ));
        let mut bad = smtp;
        bad.password = Some("x".into());
        assert!(matches!(
            Mailer::from_config(&MailerConfig::Smtp(bad)),
            Err(MailerError::Config(_))
        ));
        assert!(
            Mailer::from_config(&MailerConfig::Smtp(SmtpConfig::new("smtp.example.com"))).is_ok()
        );
    }

    #[tokio::test]
    async fn log_transport_and_bad_recipient() {
        let mailer = Mailer::from_config(&MailerConfig::default()).unwrap();
        let m = render(
            Purpose::Login,
            "https://x.example/cb?token=axe_t",
            15,
            "authx",
        );
        mailer.send("ada@example.com", &m).await.unwrap();
        assert!(matches!(
            mailer.send("not an address", &m).await,
            Err(MailerError::InvalidRecipient)
        ));
        assert!(matches!(
            mailer.send("a@example.com\r\nBcc: b@example.com", &m).await,
            Err(MailerError::InvalidRecipient)
        ));
    }

    #[tokio::test]
    async fn file_transport_writes_eml() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mail");
        let mailer = Mailer::from_config(&MailerConfig::File(FileConfig {
            from: DEFAULT_FROM.into(),
            dir: out.clone(),
        }))
        .unwrap();
        let link = format!(
            "https://id.example.com/login/email/callback?token={}",
            crate::new_token().token
        );
        let m = render(Purpose::Reset, &link, 15, "authx");
        mailer.send("ada@example.com", &m).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert_eq!(files.len(), 1);
        let path = files[0].as_ref().unwrap().path();
        assert_eq!(path.extension().unwrap(), "eml");
        let raw = std::fs::read_to_string(path).unwrap();
        assert!(raw.contains("To: ada@example.com"));
        assert!(raw.contains("Subject: Reset your password for authx"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("Content-Type: text/plain; charset=utf-8"));
        assert!(raw.contains("Content-Type: text/html; charset=utf-8"));
        assert!(raw.contains("Content-Transfer-Encoding: 7bit"));
        assert!(
            raw.contains("Message-ID: <") && raw.contains("@localhost>"),
            "{raw}"
        );
        // The link is intact (not folded by quoted-printable) in both parts.
        assert_eq!(raw.matches(&link).count(), 4, "{raw}");
    }

    #[test]
    fn mailer_and_its_future_are_send_and_sync() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let mailer = Mailer::from_config(&MailerConfig::default()).unwrap();
        send_sync(&mailer);
        let m = render(Purpose::Login, "http://x/", 15, "authx");
        let fut = mailer.send("a@example.com", &m);
        send(&fut);
    }

    #[test]
    fn bodies() {
        assert_eq!(body("a\nb").encoding(), ContentTransferEncoding::SevenBit);
        assert_eq!(body("a\nb").into_vec(), b"a\r\nb".to_vec());
        assert_eq!(
            body(&"x".repeat(500)).encoding(),
            ContentTransferEncoding::SevenBit
        );
        assert_ne!(
            body(&"x".repeat(1000)).encoding(),
            ContentTransferEncoding::SevenBit
        );
        assert_ne!(body("café").encoding(), ContentTransferEncoding::SevenBit);
    }
}
