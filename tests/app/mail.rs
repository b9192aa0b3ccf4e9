//! Mail delivery through the email strategy's `Mailer`: SMTP to a real listener on loopback
//! (aiosmtpd, see `support::smtp`) and the file transport used in development.

use std::time::Duration;

use authx_strategy_email::mailer::FileConfig;
use authx_strategy_email::{
    Mailer, MailerConfig, Purpose, SmtpConfig, SmtpTls, hash_token, new_token, render,
};

use crate::support::smtp::{SmtpSink, decode_quoted_printable, extract_link};

const PREFIX: &str = "http://127.0.0.1:8080/login/email/callback?token=";

fn smtp_mailer(sink: &SmtpSink) -> Mailer {
    let mut smtp = SmtpConfig::new("127.0.0.1");
    smtp.tls = SmtpTls::None;
    smtp.port = Some(sink.port());
    smtp.timeout_secs = 10;
    smtp.from = "authx test <no-reply@authx.test>".into();
    Mailer::from_config(&MailerConfig::Smtp(smtp)).unwrap()
}

#[tokio::test]
async fn login_mail_arrives_over_smtp_with_both_parts_and_the_link() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mailer = smtp_mailer(&sink);
    let token = new_token();
    let link = format!("{PREFIX}{}", token.token);
    mailer
        .send(
            "Ada@Example.com",
            &render(Purpose::Login, &link, 15, "authx"),
        )
        .await
        .unwrap();

    let raw = sink
        .wait_for_message("ada@example.com", Duration::from_secs(10))
        .await;
    assert!(raw.contains("Subject: Log in to authx"), "{raw}");
    assert!(
        raw.contains("From: \"authx test\" <no-reply@authx.test>"),
        "{raw}"
    );
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(
        raw.contains("Content-Type: text/plain; charset=utf-8"),
        "{raw}"
    );
    assert!(
        raw.contains("Content-Type: text/html; charset=utf-8"),
        "{raw}"
    );
    assert!(raw.contains("expires in 15 minutes"), "{raw}");
    // Sent 7bit, so the link is intact in the raw message, in both parts.
    assert!(raw.matches(&link).count() >= 2, "{raw}");
    let found = extract_link(&raw, PREFIX).unwrap();
    assert_eq!(found, link);
    let presented = found.strip_prefix(PREFIX).unwrap();
    assert_eq!(hash_token(presented), token.hash);
}

#[tokio::test]
async fn messages_are_told_apart_by_recipient_and_order() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mailer = smtp_mailer(&sink);
    for (to, purpose) in [
        ("a@example.com", Purpose::Verify),
        ("b@example.com", Purpose::Reset),
        ("a@example.com", Purpose::Reset),
    ] {
        let link = format!("{PREFIX}{}", new_token().token);
        mailer
            .send(to, &render(purpose, &link, 15, "authx"))
            .await
            .unwrap();
    }
    let wait = Duration::from_secs(10);
    let b = sink.wait_for_message("b@example.com", wait).await;
    assert!(b.contains("Subject: Reset your password for authx"));
    let a1 = sink.wait_for_message("A@example.com", wait).await;
    assert!(a1.contains("Subject: Verify your email address for authx"));
    let a2 = sink.wait_for_message("a@example.com", wait).await;
    assert!(a2.contains("Subject: Reset your password for authx"));
    assert_ne!(extract_link(&a1, PREFIX), extract_link(&a2, PREFIX));
    assert_eq!(sink.messages().len(), 3);
}

#[tokio::test]
async fn non_ascii_mail_is_quoted_printable_and_the_link_still_extracts() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let mailer = smtp_mailer(&sink);
    let link = format!("{PREFIX}{}&next=%2Faccount", new_token().token);
    mailer
        .send(
            "zoe@example.com",
            &render(Purpose::Login, &link, 15, "Ünïcødé ID"),
        )
        .await
        .unwrap();
    let raw = sink
        .wait_for_message("zoe@example.com", Duration::from_secs(10))
        .await;
    assert!(raw.contains("quoted-printable"), "{raw}");
    assert!(decode_quoted_printable(&raw).contains("Ünïcødé ID"));
    assert_eq!(extract_link(&raw, PREFIX).as_deref(), Some(link.as_str()));
}

#[tokio::test]
async fn smtp_failure_is_an_error() {
    // Nothing listens on a port we just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut smtp = SmtpConfig::new("127.0.0.1");
    smtp.tls = SmtpTls::None;
    smtp.port = Some(port);
    smtp.timeout_secs = 5;
    let mailer = Mailer::from_config(&MailerConfig::Smtp(smtp)).unwrap();
    let result = mailer
        .send(
            "a@example.com",
            &render(Purpose::Login, "http://x/", 15, "authx"),
        )
        .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn file_transport_writes_one_eml_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = Mailer::from_config(&MailerConfig::File(FileConfig {
        from: "authx <no-reply@localhost>".into(),
        dir: dir.path().join("outbox"),
    }))
    .unwrap();
    let link = format!("{PREFIX}{}", new_token().token);
    mailer
        .send(
            "ada@example.com",
            &render(Purpose::Verify, &link, 30, "authx"),
        )
        .await
        .unwrap();
    mailer
        .send(
            "bob@example.com",
            &render(Purpose::Login, &link, 30, "authx"),
        )
        .await
        .unwrap();
    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f.extension().unwrap() == "eml"));
    let raws: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let ada = raws
        .iter()
        .find(|r| r.contains("To: ada@example.com"))
        .unwrap();
    assert!(ada.contains("Subject: Verify your email address for authx"));
    assert!(ada.contains("expires in 30 minutes"));
    assert_eq!(extract_link(ada, PREFIX).as_deref(), Some(link.as_str()));
}

#[test]
fn extract_link_handles_quoted_printable() {
    let qp = "Content-Transfer-Encoding: quoted-printable\r\n\r\n\
              Log in:\r\nhttp://127.0.0.1:8080/login/email/callback?token=3Daxe_abc=\r\n\
              def_-GH&amp;x=3D1\r\n";
    assert_eq!(
        extract_link(qp, PREFIX).as_deref(),
        Some("http://127.0.0.1:8080/login/email/callback?token=axe_abcdef_-GH&x=1")
    );
    let plain = "see <a href=\"http://127.0.0.1:8080/login/email/callback?token=axe_1\">x</a>";
    assert_eq!(
        extract_link(plain, PREFIX).as_deref(),
        Some("http://127.0.0.1:8080/login/email/callback?token=axe_1")
    );
    assert_eq!(extract_link("nothing here", PREFIX), None);
    assert_eq!(decode_quoted_printable("a=3Db=\r\nc=+1=4"), "a=bc=+1=4");
}

#[tokio::test]
async fn starttls_is_required_never_downgraded() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    // The sink offers no STARTTLS: a mailer configured for it must refuse to send in clear text.
    let mut smtp = SmtpConfig::new("127.0.0.1");
    smtp.tls = SmtpTls::Starttls;
    smtp.port = Some(sink.port());
    smtp.timeout_secs = 5;
    let mailer = Mailer::from_config(&MailerConfig::Smtp(smtp)).unwrap();
    let result = mailer
        .send(
            "a@example.com",
            &render(Purpose::Login, "http://x/", 15, "authx"),
        )
        .await;
    assert!(result.is_err(), "{result:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sink.messages().is_empty());
}
