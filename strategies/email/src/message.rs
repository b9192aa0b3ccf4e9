//! The mails the email strategy sends: one per [`Purpose`], each with a plain-text and an HTML
//! body carrying the same link.
//!
//! The HTML is built with maud, which escapes every interpolated value, so neither the link nor
//! the product name can inject markup. Both bodies say how long the link lasts and that the mail
//! can be ignored by whoever did not ask for it.

use maud::{DOCTYPE, PreEscaped, html};

use crate::Purpose;

/// A rendered mail, ready for [`Mailer::send`](crate::Mailer::send).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// The words of one purpose's mail.
struct Wording {
    subject: String,
    intro: String,
    action: &'static str,
    ignore: &'static str,
}

fn wording(purpose: Purpose, product: &str) -> Wording {
    match purpose {
        Purpose::Login => Wording {
            subject: format!("Log in to {product}"),
            intro: format!("Use the link below to log in to {product}."),
            action: "Log in",
            ignore: "If you did not try to log in, you can ignore this email: nobody can log in \
                     without the link.",
        },
        Purpose::Verify => Wording {
            subject: format!("Verify your email address for {product}"),
            intro: format!("Use the link below to verify your email address for {product}."),
            action: "Verify my email address",
            ignore: "If you did not ask for this, you can ignore this email: the address will not \
                     be verified without the link.",
        },
        Purpose::Reset => Wording {
            subject: format!("Reset your password for {product}"),
            intro: format!("Use the link below to choose a new password for {product}."),
            action: "Reset my password",
            ignore: "If you did not ask to reset your password, you can ignore this email: your \
                     password stays as it is.",
        },
    }
}

fn expiry(ttl_minutes: u64) -> String {
    let unit = if ttl_minutes == 1 {
        "minute"
    } else {
        "minutes"
    };
    format!("The link expires in {ttl_minutes} {unit} and works only once.")
}

/// Renders the mail for `purpose` with `link` (the full URL carrying the token), the link's life in
/// minutes, and the product name shown to the person (e.g. "authx"). Control characters in
/// `product` are dropped.
pub fn render(purpose: Purpose, link: &str, ttl_minutes: u64, product: &str) -> Message {
    let product: String = product.chars().filter(|c| !c.is_control()).collect();
    let words = wording(purpose, &product);
    let expiry = expiry(ttl_minutes);

    let text = format!(
        "Hello,\n\n{intro}\n\n{link}\n\n{expiry}\n\n{ignore}\n\n-- \n{product}\n",
        intro = words.intro,
        ignore = words.ignore,
    );

    // Newlines between blocks keep every line of the HTML short (SMTP limits lines to 998 bytes).
    let nl = PreEscaped("\n");
    let html = html! {
        (DOCTYPE) (nl)
        html lang="en" { (nl)
            head { meta charset="utf-8"; title { (words.subject) } } (nl)
            body style="font-family: sans-serif; line-height: 1.5" { (nl)
                p { "Hello," } (nl)
                p { (words.intro) } (nl)
                p { a href=(link) style="font-weight: bold" { (words.action) } } (nl)
                p { "If the button does not work, copy this link into your browser:" br; (nl)
                    a href=(link) { (link) } } (nl)
                p { (expiry) } (nl)
                p style="color: #555" { (words.ignore) } (nl)
                p style="color: #555" { (PreEscaped("&mdash; ")) (product) } (nl)
            } (nl)
        } (nl)
    }
    .into_string();

    Message {
        subject: words.subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "https://id.example.com/login/email/callback?token=axe_abc-DEF_123";

    #[test]
    fn login_mail() {
        let m = render(Purpose::Login, LINK, 15, "authx");
        assert_eq!(m.subject, "Log in to authx");
        assert!(m.text.contains(LINK));
        assert!(m.text.contains("expires in 15 minutes"));
        assert!(m.text.contains("ignore this email"));
        assert!(m.html.contains(&format!("href=\"{LINK}\"")));
        assert!(m.html.contains("expires in 15 minutes"));
        assert!(m.html.contains("ignore this email"));
        assert!(m.html.starts_with("<!DOCTYPE html>"));
        assert!(m.html.lines().all(|l| l.len() < 998));
    }

    #[test]
    fn wording_per_purpose() {
        let v = render(Purpose::Verify, LINK, 1, "authx");
        assert!(v.subject.contains("Verify your email address"));
        assert!(v.text.contains("expires in 1 minute "));
        let r = render(Purpose::Reset, LINK, 60, "authx");
        assert!(r.subject.contains("Reset your password"));
        assert!(r.text.contains(LINK));
    }

    #[test]
    fn html_is_escaped() {
        let link = "https://x.example/cb?a=1&token=\"><script>alert(1)</script>";
        let m = render(Purpose::Login, link, 15, "<b>Evil</b>\r\nBcc: x@y");
        assert!(!m.html.contains("<script>"));
        assert!(!m.html.contains("<b>Evil"));
        assert!(m.html.contains("&lt;script&gt;"));
        assert!(m.html.contains("a=1&amp;token=&quot;&gt;"));
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'));
        // The plain text carries the link verbatim.
        assert!(m.text.contains(link));
    }
}
