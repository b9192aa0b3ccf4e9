//! Redirect URIs of the authorization endpoint: matching a presented URI against a client's
//! registered ones, and building the redirect that carries the answer back.
//!
//! Matching is exact string comparison (RFC 9700 §4.1.3: no patterns, no prefix matching), with one
//! exception from RFC 8252 §7.3: for a loopback IP literal (`http://127.0.0.1` or `http://[::1]`)
//! the port is ignored, because native apps bind an ephemeral port at run time. `localhost` gets no
//! such treatment (RFC 8252 §8.3: it may resolve elsewhere).
//!
//! The answer's parameters are appended to the URI's existing query (RFC 6749 §3.1.2: the query
//! component of a registered URI must be kept) and always include `iss` (RFC 9207), so a client
//! talking to several servers can tell which one answered (mix-up defence, RFC 9700 §4.4).

use http::Uri;

/// Whether `presented` matches one of `registered`; returns the registered form it matched.
pub fn find_registered<'a>(registered: &'a [String], presented: &str) -> Option<&'a str> {
    registered
        .iter()
        .map(String::as_str)
        .find(|r| *r == presented || loopback_port_free_match(r, presented))
}

/// RFC 8252 §7.3: `http://127.0.0.1:<any port>/path` (or `[::1]`) matches when everything but the
/// port is identical.
fn loopback_port_free_match(registered: &str, presented: &str) -> bool {
    let (Ok(r), Ok(p)) = (registered.parse::<Uri>(), presented.parse::<Uri>()) else {
        return false;
    };
    let loopback_ip = |u: &Uri| matches!(u.host(), Some("127.0.0.1" | "[::1]" | "::1"));
    r.scheme_str() == Some("http")
        && p.scheme_str() == Some("http")
        && loopback_ip(&r)
        && r.host() == p.host()
        && r.path_and_query().map(|x| x.as_str()) == p.path_and_query().map(|x| x.as_str())
        // Userinfo never appears in a registered URI (the admin API refuses it).
        && !presented.contains('@')
}

/// `uri` with `params` appended to its query, form-encoded.
pub fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = uri.to_owned();
    let mut separator = if uri.contains('?') {
        if uri.ends_with('?') || uri.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    for (name, value) in params {
        out.push_str(separator);
        out.push_str(&form_encode(name));
        out.push('=');
        out.push_str(&form_encode(value));
        separator = "&";
    }
    out
}

/// `application/x-www-form-urlencoded` encoding of one component (unreserved characters kept,
/// everything else percent-encoded, space as `%20` so the value reads the same as a URI query).
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// A redirect URI must be absolute, `https` (or `http` on a loopback host), without a fragment,
/// userinfo, whitespace or non-ASCII characters.
pub fn check_registrable(uri: &str) -> Result<(), &'static str> {
    if uri.len() > 2000 {
        return Err("must be at most 2000 characters");
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must not contain whitespace, control or non-ASCII characters");
    }
    if uri.contains('#') {
        return Err("must not contain a fragment");
    }
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or("must be an absolute URL (https://…)")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err("must name a host");
    }
    if authority.contains('@') {
        return Err("must not contain user information");
    }
    let host = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => return Err("has an invalid host"),
        }
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    let port = &authority[host.len()..];
    if !(port.is_empty()
        || (port.len() > 1
            && port.starts_with(':')
            && port[1..].bytes().all(|b| b.is_ascii_digit())))
    {
        return Err("has an invalid port");
    }
    if host.is_empty() {
        return Err("must name a host");
    }
    match scheme {
        "https" => {}
        "http" => {
            let loopback =
                matches!(host, "127.0.0.1" | "[::1]") || host.eq_ignore_ascii_case("localhost");
            if !loopback {
                return Err("must use https (http only for 127.0.0.1, [::1] or localhost)");
            }
        }
        _ => return Err("must use https (http only for 127.0.0.1, [::1] or localhost)"),
    }
    if uri.parse::<Uri>().is_err() {
        return Err("is not a valid URL");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exact_match_only() {
        let r = list(&["https://app.example/cb", "https://app.example/cb?x=1"]);
        assert_eq!(
            find_registered(&r, "https://app.example/cb"),
            Some("https://app.example/cb")
        );
        assert!(find_registered(&r, "https://app.example/cb?x=1").is_some());
        for bad in [
            "https://app.example/cb/",
            "https://app.example/cb?x=2",
            "https://app.example/CB",
            "https://app.example:443/cb",
            "https://app.example.evil/cb",
            "https://app.example/cb#x",
            "http://app.example/cb",
            "",
        ] {
            assert!(find_registered(&r, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn loopback_ip_ignores_the_port() {
        let r = list(&[
            "http://127.0.0.1/callback",
            "http://[::1]:8000/cb",
            "http://localhost/cb",
        ]);
        assert!(find_registered(&r, "http://127.0.0.1:51234/callback").is_some());
        assert!(find_registered(&r, "http://127.0.0.1/callback").is_some());
        assert!(find_registered(&r, "http://[::1]:9/cb").is_some());
        // Path, host and scheme still have to match; localhost keeps its exact port.
        assert!(find_registered(&r, "http://127.0.0.1:5/other").is_none());
        assert!(find_registered(&r, "http://127.0.0.2:5/callback").is_none());
        assert!(find_registered(&r, "https://127.0.0.1:5/callback").is_none());
        assert!(find_registered(&r, "http://localhost:5/cb").is_none());
        assert!(find_registered(&r, "http://user@127.0.0.1:5/callback").is_none());
    }

    #[test]
    fn params_are_appended_and_encoded() {
        assert_eq!(
            with_params(
                "https://a.example/cb",
                &[("code", "x y"), ("state", "a&b=c")]
            ),
            "https://a.example/cb?code=x%20y&state=a%26b%3Dc"
        );
        assert_eq!(
            with_params("https://a.example/cb?keep=1", &[("code", "c")]),
            "https://a.example/cb?keep=1&code=c"
        );
        assert_eq!(
            with_params("https://a.example/cb?", &[("code", "c")]),
            "https://a.example/cb?code=c"
        );
    }

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://app.example/cb",
            "https://app.example:8443/cb?x=1",
            "http://127.0.0.1:9000/cb",
            "http://[::1]/cb",
            "http://localhost:3000/callback",
            "https://[2001:db8::1]/cb",
        ] {
            assert!(check_registrable(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "/relative",
            "app.example/cb",
            "https://",
            "https://user@app.example/cb",
            "javascript://x",
            "https://app.example/ cb",
            "http://localhost.evil.example/cb",
            "https://app.example:/cb",
            "https://app.example:x/cb",
        ] {
            assert!(check_registrable(bad).is_err(), "{bad}");
        }
    }
}
