//! The git hooks around a store: what `pre-receive` allows, and installing the scripts.
//!
//! The scripts in `hooks/` are thin: each execs `artifact-store hook <name>`. `pre-commit`
//! is the staged-content scan ([`crate::staged`]); `pre-receive` is
//! [`Store::check_receive`]: store refs may not be deleted or rewritten except by the
//! retention identity, no pushed blob may hold a secret, and the bot identity may be
//! limited to store refs.

mod install;
mod receive;

pub use crate::config::hooks::HooksConfig;
pub use install::{HookInstall, InstallOutcome};
pub use receive::{parse_updates, ReceiveReport, RefUpdate, Rejection};

/// The `pre-commit` script, as installed.
pub const PRE_COMMIT: &str = include_str!("../hooks/pre-commit");
/// The `pre-receive` script, as installed.
pub const PRE_RECEIVE: &str = include_str!("../hooks/pre-receive");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_receive_input_lines_parse_and_garbage_is_refused() {
        let zero = "0".repeat(40);
        let one = "1".repeat(40);
        let text =
            format!("{zero} {one} refs/heads/ai/generated/wf/t\n\n{one} {zero} refs/tags/corr_x\n");
        let updates = parse_updates(&text).unwrap();
        assert_eq!(updates.len(), 2);
        assert!(updates[0].old.is_zero() && updates[1].new.is_zero());
        assert_eq!(updates[1].refname, "refs/tags/corr_x");
        assert!(parse_updates("abc refs/heads/x\n").is_err());
        assert!(parse_updates(&format!("{zero} nothex refs/heads/x\n")).is_err());
    }
}
