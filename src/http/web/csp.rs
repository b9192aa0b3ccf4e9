//! The Content-Security-Policy of the pages, and the one way a page may widen its `form-action`.
//!
//! Every page gets [`BASE`]: nothing from elsewhere, no scripts, forms only to this server, never
//! framed. Browsers apply `form-action` not only to a form's own target but to every redirect that
//! follows its submission (Chromium does), so a form whose answer ends at an application — the
//! consent page's Allow and Deny, signing in during an authorization, logging out with a
//! `post_logout_redirect_uri` — would leave the person stranded on our page. Such a page names the
//! one destination it leads to, already validated against the client's registration, with
//! [`allow_form_target`]; no other origin is ever added.

use poem::Response;
use poem::http::header::CONTENT_SECURITY_POLICY;
use poem::http::{HeaderValue, Uri};

/// The policy of every page.
pub const BASE: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/// The policy with `form-action` also allowing the origin of each of `targets`.
pub fn policy(targets: &[&str]) -> String {
    let mut sources = vec!["'self'".to_owned()];
    for target in targets {
        if let Some(source) = source_of(target)
            && !sources.contains(&source)
        {
            sources.push(source);
        }
    }
    format!(
        "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action {}; frame-ancestors 'none'",
        sources.join(" ")
    )
}

/// Sets the policy of `response` so that its forms may lead to `target` (a redirect URI the
/// caller has validated). The page wrapper keeps a policy a handler set.
pub fn allow_form_target(response: &mut Response, target: &str) {
    if let Ok(value) = HeaderValue::from_str(&policy(&[target])) {
        response
            .headers_mut()
            .insert(CONTENT_SECURITY_POLICY, value);
    }
}

/// The CSP source expression for the origin of `uri`: `scheme://host[:port]` for http(s) URIs
/// whose host a CSP host-source can spell (a DNS name or an IPv4 address), else the scheme alone
/// (`com.example.app:` for a native app's private-use scheme, `http:` for an IPv6 literal, which
/// the host-source grammar cannot express). `None` for anything unparsable.
pub fn source_of(uri: &str) -> Option<String> {
    let (scheme, _) = uri.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    let well_formed = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !well_formed {
        return None;
    }
    if !matches!(scheme.as_str(), "http" | "https") {
        return Some(format!("{scheme}:"));
    }
    let parsed: Uri = uri.parse().ok()?;
    let host = parsed.host().unwrap_or_default();
    let spellable = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
    if !spellable {
        return Some(format!("{scheme}:"));
    }
    let host = host.to_ascii_lowercase();
    Some(match parsed.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(
            source_of("https://App.example/cb?x=1").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            source_of("http://localhost:8123/cb").as_deref(),
            Some("http://localhost:8123")
        );
        assert_eq!(
            source_of("http://127.0.0.1:5/cb").as_deref(),
            Some("http://127.0.0.1:5")
        );
        assert_eq!(source_of("http://[::1]:5/cb").as_deref(), Some("http:"));
        assert_eq!(
            source_of("com.example.app:/oauth").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(source_of("not a uri"), None);
    }

    #[test]
    fn policy_adds_only_the_targets() {
        assert_eq!(policy(&[]), BASE);
        let p = policy(&["https://a.example/cb", "https://a.example/other"]);
        assert!(p.contains("form-action 'self' https://a.example;"), "{p}");
        assert!(p.contains("frame-ancestors 'none'"), "{p}");
    }
}
