//! gc --apply killed at random moments.
