//! The parameters of an `application/x-www-form-urlencoded` OAuth 2.0 request (a body or a query
//! string), with RFC 6749 §3.1's rules: a parameter sent without a value is treated as omitted,
//! and none may be sent more than once.

use std::collections::BTreeMap;

use super::error::OAuth2Error;

/// The parameters of an `application/x-www-form-urlencoded` request. RFC 6749 §3.1: a parameter
/// sent without a value is treated as omitted, and none may be sent more than once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Parses a form-encoded string (a body or a query string).
    pub fn parse(input: &str) -> Result<Self, OAuth2Error> {
        let mut values = BTreeMap::new();
        for pair in input.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decode(name)
                .ok_or_else(|| OAuth2Error::invalid_request("malformed form encoding"))?;
            let value = form_decode(value)
                .ok_or_else(|| OAuth2Error::invalid_request("malformed form encoding"))?;
            if value.is_empty() {
                continue;
            }
            // No parameter of ours may hold a NUL character, and PostgreSQL cannot store one:
            // refuse it here, naming the parameter, rather than fail later with a server error.
            if name.contains('\0') || value.contains('\0') {
                return Err(OAuth2Error::invalid_request(format!(
                    "parameter '{}' contains a NUL character",
                    printable(&name)
                )));
            }
            if values.insert(name.clone(), value).is_some() {
                return Err(OAuth2Error::invalid_request(format!(
                    "parameter '{}' is repeated",
                    printable(&name)
                )));
            }
        }
        Ok(Self { values })
    }

    /// The value of `name`, if sent (and not empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every parameter, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The parameters form-encoded again (name order), leaving out `skip`.
    pub fn to_query(&self, skip: &[&str]) -> String {
        self.iter()
            .filter(|(k, _)| !skip.contains(k))
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::engine::oauth2::redirect::form_encode(k),
                    crate::engine::oauth2::redirect::form_encode(v)
                )
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Sets `name` to `value` (replacing it).
    pub fn set(&mut self, name: &str, value: String) {
        self.values.insert(name.to_owned(), value);
    }

    /// The value of `name`, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuth2Error> {
        self.get(name)
            .ok_or_else(|| OAuth2Error::invalid_request(format!("{name} is required")))
    }
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte; the
/// result must be UTF-8. `None` for a malformed escape or invalid UTF-8.
pub fn form_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A parameter name shown in an error: short and without control characters.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_nul_character_is_refused_naming_the_parameter() {
        let error = Params::parse("grant_type=client_credentials&client_id=a%00b").unwrap_err();
        assert!(error.to_string().contains("client_id"), "{error}");
        assert!(Params::parse("x%00=1").is_err());
    }

    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(form_decode("a+b%2Bc%3A").as_deref(), Some("a b+c:"));
        assert_eq!(form_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%FF"), None);
    }

    #[test]
    fn params() {
        let p = Params::parse("token=abc&token_type_hint=&x=1%202").unwrap();
        assert_eq!(p.get("token"), Some("abc"));
        assert_eq!(p.get("token_type_hint"), None);
        assert_eq!(p.get("x"), Some("1 2"));
        assert!(p.require("nope").is_err());
        assert!(Params::parse("token=a&token=b").is_err());
        assert!(Params::parse("").unwrap().get("token").is_none());
    }
}
