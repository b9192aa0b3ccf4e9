//! Email address syntax and normal form.
//!
//! authx never decides that an address *exists* from its syntax — only a delivered link proves
//! that — so the check is deliberately modest: one `@`, a non-empty local part, a domain with a dot
//! or `localhost`, no whitespace or control characters, at most 254 bytes (RFC 5321). The normal
//! form ([`fold`]) is trimmed and ASCII-lower-cased: addresses compare case-insensitively in
//! practice, but only in ASCII, because Unicode folding merges distinct addresses (reference §3).

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid email address")]
pub struct InvalidAddress(pub String);

/// Validates `address` and returns its normal form (trimmed, lower-cased).
pub fn normalize(address: &str) -> Result<String, InvalidAddress> {
    let trimmed = address.trim();
    let bad = || InvalidAddress(address.to_owned());
    if trimmed.is_empty() || trimmed.len() > 254 {
        return Err(bad());
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = trimmed.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(bad());
    }
    let domain_ok = domain == "localhost"
        || (domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            }));
    if !domain_ok {
        return Err(bad());
    }
    Ok(fold(trimmed))
}

/// The form in which addresses are stored and compared: trimmed, ASCII letters lower-cased, every
/// other character kept as it is. The one rule for every comparison of addresses.
pub fn fold(address: &str) -> String {
    authx_strategy_core::normalize_email(address)
}

#[cfg(test)]
mod tests {
    use super::{fold, normalize};

    #[test]
    fn folding_never_merges_distinct_addresses() {
        assert_eq!(fold("  Kim@Corp.Example "), "kim@corp.example");
        // U+212A KELVIN SIGN lower-cases to `k` under Unicode rules; it must stay itself.
        assert_ne!(fold("\u{212A}im@corp.example"), fold("kim@corp.example"));
        assert_eq!(
            normalize("\u{212A}im@corp.example").unwrap(),
            "\u{212A}im@corp.example"
        );
        // Non-ASCII letters compare exactly, case included.
        assert_ne!(fold("ÉLODIE@corp.example"), fold("élodie@corp.example"));
    }

    #[test]
    fn addresses() {
        assert_eq!(
            normalize(" Admin@Example.COM ").unwrap(),
            "admin@example.com"
        );
        assert_eq!(normalize("a@localhost").unwrap(), "a@localhost");
        for bad in [
            "", "a", "@b.c", "a@", "a@b", "a b@c.d", "a@b..c", "a@-b.c", "a@b@c.d", "a\n@b.c",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
    }
}
