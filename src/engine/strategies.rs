//! The server's registry of strategies: which implementation serves each kind of authority.
//!
//! Strategy crates (`strategies/*`) know nothing of the server; this is where the server finds the
//! one for an authority's `strategy`, to validate and redact its `details` and to run its flows.
//! Every strategy has its crate, so the admin API validates no `details` of its own.

use authx_strategy_core::DetailsRules;
use authx_strategy_email::EmailStrategy;
use authx_strategy_google::GoogleStrategy;
use authx_strategy_password::PasswordStrategy;
use authx_strategy_saml::SamlStrategy;

use crate::domain::authority::Strategy;

static PASSWORD: PasswordStrategy = PasswordStrategy;
static EMAIL: EmailStrategy = EmailStrategy;
static GOOGLE: GoogleStrategy = GoogleStrategy;
static SAML: SamlStrategy = SamlStrategy;

/// The implementation of `strategy`.
pub fn strategy(strategy: Strategy) -> &'static dyn DetailsRules {
    match strategy {
        Strategy::Password => &PASSWORD,
        Strategy::Email => &EMAIL,
        Strategy::Google => &GOOGLE,
        Strategy::Saml => &SAML,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_match() {
        for s in [
            Strategy::Password,
            Strategy::Email,
            Strategy::Google,
            Strategy::Saml,
        ] {
            assert_eq!(strategy(s).strategy(), s.as_str());
        }
    }
}
