//! Where to send the browser after login: only ever a path on this server (no open redirect,
//! RFC 9700 §4.11 / OWASP "unvalidated redirects").
//!
//! Accepted: a path starting with a single `/`, at most 2000 bytes, free of control characters,
//! whitespace and backslashes. Refused (the default `/account` is used instead): absolute and
//! scheme-relative URLs (`https://evil.com`, `//evil.com`), `/\evil.com` (browsers read `\` as `/`),
//! anything with a tab or newline (browsers strip them, turning `/\t/evil.com` into
//! `//evil.com`), and `javascript:` or any other scheme.
//!
//! Percent-encoding: `/%2F%2Fevil.com` would stay a path for a browser (it never decodes the path
//! into a host), but a later hop that decodes it once (a proxy, another redirect) would see
//! `//evil.com`. So the path is also checked after one round of percent-decoding, and refused when
//! the decoded form starts with `//` or `/\` or contains a backslash or control character. Legitimate
//! return paths never need those.

/// Where to go when there is no usable `return_to`.
pub const DEFAULT_RETURN_TO: &str = "/account";

/// The longest return path accepted.
pub const MAX_RETURN_TO_LEN: usize = 2000;

/// `value` if it is a safe local path, else [`DEFAULT_RETURN_TO`].
pub fn safe_return_to(value: Option<&str>) -> String {
    match value {
        Some(path) if is_safe_local_path(path) => path.to_owned(),
        _ => DEFAULT_RETURN_TO.to_owned(),
    }
}

fn is_safe_local_path(path: &str) -> bool {
    if path.len() > MAX_RETURN_TO_LEN || !path_shape_ok(path) {
        return false;
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return false;
    }
    // The path part (before the query or fragment), decoded once, must still be a local path.
    let path_part = path.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode(path_part);
    path_shape_ok(&decoded) && !decoded.chars().any(|c| c.is_control() || c == '\\')
}

/// Starts with exactly one `/` (not `//` nor `/\`).
fn path_shape_ok(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/') && !matches!(bytes.get(1), Some(b'/' | b'\\'))
}

/// One round of `%XX` decoding; malformed escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_pass() {
        for ok in [
            "/",
            "/account",
            "/oauth2/authorize?client_id=a&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=x",
            "/a/b#frag",
            "/account?next=%2Fx",
            "/caf%C3%A9",
        ] {
            assert_eq!(safe_return_to(Some(ok)), ok, "{ok}");
        }
    }

    #[test]
    fn open_redirect_payloads_fall_back() {
        let long = format!("/{}", "a".repeat(MAX_RETURN_TO_LEN));
        for bad in [
            "",
            "//evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "https://evil.com",
            "http:evil.com",
            "javascript:alert(1)",
            "\t//evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            " /account",
            "/%2F%2Fevil.com",
            "/%2fevil.com",
            "/%5Cevil.com",
            "/%09/evil.com",
            "evil.com",
            "account",
            "/a\\b",
            long.as_str(),
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/account", "{bad:?}");
        }
        assert_eq!(safe_return_to(None), "/account");
    }
}
