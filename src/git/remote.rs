//! Talking to a remote: one libgit2 network operation at a time on a worker thread
//! bounded by `push_timeout` (`wire`), with credentials that fail instead of asking (`creds`).

mod creds;
pub mod wire;
