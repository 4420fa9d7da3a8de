//! Credentials for `ssh://` and `https://` remotes, built in with the `ssh` and `https`
//! features (the default build speaks only local paths, `file://` and `git://`, which need
//! none, and links no TLS or SSH library).
//!
//! Each method is offered once per operation, in this order, so a wrong credential ends
//! in an error instead of libgit2 asking forever:
//!
//! - SSH: the key in `ARTIFACT_STORE_SSH_KEY` (a deploy key; passphrase in
//!   `ARTIFACT_STORE_SSH_KEY_PASSPHRASE`), then the ssh agent (`SSH_AUTH_SOCK`). The host
//!   key is checked by libgit2 against `~/.ssh/known_hosts`.
//! - HTTPS: git's credential helpers (`credential.helper`), then an askpass program
//!   (`ARTIFACT_STORE_ASKPASS`, else `GIT_ASKPASS`) asked for the username and password
//!   the way git asks it.

use git2::RemoteCallbacks;

/// Installs the credentials callback (a no-op without the `ssh` and `https` features).
#[cfg(not(any(feature = "ssh", feature = "https")))]
pub(super) fn install(_cb: &mut RemoteCallbacks<'_>) {}

/// Installs the credentials callback.
#[cfg(any(feature = "ssh", feature = "https"))]
pub(super) fn install(cb: &mut RemoteCallbacks<'_>) {
    let mut tried = Tried::default();
    cb.credentials(move |url, user, allowed| tried.next(url, user, allowed));
}

#[cfg(any(feature = "ssh", feature = "https"))]
use git2::{Cred, CredentialType};

/// Which methods were already offered in this operation.
#[cfg(any(feature = "ssh", feature = "https"))]
#[derive(Default)]
struct Tried {
    deploy_key: bool,
    agent: bool,
    username: bool,
    helper: bool,
    askpass: bool,
}

#[cfg(any(feature = "ssh", feature = "https"))]
impl Tried {
    fn next(
        &mut self,
        url: &str,
        user: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        let user = user.unwrap_or("git");
        let shown = crate::error::display_url(url);
        if allowed.contains(CredentialType::USERNAME) && !self.username {
            self.username = true;
            return Cred::username(user);
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            if let Some(key) = env("ARTIFACT_STORE_SSH_KEY").filter(|_| !self.deploy_key) {
                self.deploy_key = true;
                let passphrase = env("ARTIFACT_STORE_SSH_KEY_PASSPHRASE");
                return Cred::ssh_key(
                    user,
                    None,
                    std::path::Path::new(&key),
                    passphrase.as_deref(),
                );
            }
            if !self.agent {
                self.agent = true;
                return Cred::ssh_key_from_agent(user);
            }
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            if !self.helper {
                self.helper = true;
                if let Ok(config) = git2::Config::open_default() {
                    if let Ok(cred) = Cred::credential_helper(&config, url, None) {
                        return Ok(cred);
                    }
                }
            }
            if !self.askpass {
                self.askpass = true;
                if let Some(program) = env("ARTIFACT_STORE_ASKPASS").or_else(|| env("GIT_ASKPASS"))
                {
                    let name = ask(&program, &format!("Username for '{shown}': "))?;
                    let password = ask(&program, &format!("Password for '{shown}': "))?;
                    return Cred::userpass_plaintext(&name, &password);
                }
            }
        }
        Err(git2::Error::from_str(&format!(
            "no credentials left to try for {shown} (see docs/remote.md, \"Credentials\")"
        )))
    }
}

#[cfg(any(feature = "ssh", feature = "https"))]
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Runs an askpass program with a prompt and returns the first line it prints.
#[cfg(any(feature = "ssh", feature = "https"))]
fn ask(program: &str, prompt: &str) -> Result<String, git2::Error> {
    let output = std::process::Command::new(program)
        .arg(prompt)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| git2::Error::from_str(&format!("failed to run {program}: {e}")))?;
    if !output.status.success() {
        return Err(git2::Error::from_str(&format!(
            "{program} exited with {}",
            output.status
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.lines().next().unwrap_or("").to_string())
}
