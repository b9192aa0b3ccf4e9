//! The server's registry of strategies: which implementation serves each kind of authority.
//!
//! Strategy crates (`strategies/*`) know nothing of the server; this is where the server finds the
//! one for an authority's `strategy`, to validate and redact its `details` and to run its flows.
//! `saml` has no crate wired in yet (it arrives with the SAML work), so it is absent here and its
//! details are still checked by the admin API.

use authx_strategy_core::Strategy as StrategyImpl;
use authx_strategy_email::EmailStrategy;
use authx_strategy_google::GoogleStrategy;
use authx_strategy_password::PasswordStrategy;

use crate::domain::authority::Strategy;

static PASSWORD: PasswordStrategy = PasswordStrategy;
static EMAIL: EmailStrategy = EmailStrategy;
static GOOGLE: GoogleStrategy = GoogleStrategy;

/// The implementation of `strategy`, if authx has one.
pub fn strategy(strategy: Strategy) -> Option<&'static dyn StrategyImpl> {
    match strategy {
        Strategy::Password => Some(&PASSWORD),
        Strategy::Email => Some(&EMAIL),
        Strategy::Google => Some(&GOOGLE),
        Strategy::Saml => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_match() {
        for s in [Strategy::Password, Strategy::Email, Strategy::Google] {
            assert_eq!(strategy(s).map(|i| i.strategy()), Some(s.as_str()));
        }
        assert!(strategy(Strategy::Saml).is_none());
    }
}
