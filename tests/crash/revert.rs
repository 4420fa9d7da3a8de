//! revert-to-tag killed at random moments.
