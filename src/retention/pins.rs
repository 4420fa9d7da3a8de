//! Pins: `refs/artifact-store/pins/<name>` names a commit that retention never prunes, nor
//! the tags on it, nor a task branch whose tip it is.

use serde::Serialize;

use super::apply::tx_options;
use crate::error::{Error, Result};
use crate::git::refs::{Mode, RefChange, RefDb};
use crate::refs::{pin_ref, PinName};
use crate::store::Store;

/// What `pin` or `unpin` did.
#[derive(Debug, Clone, Serialize)]
pub struct PinOutcome {
    /// Always true; failures are errors (the JSON envelope carries `success`).
    #[serde(skip)]
    pub success: bool,
    /// The pin's name.
    pub name: String,
    /// The pin ref.
    #[serde(rename = "ref")]
    pub refname: String,
    /// The pinned commit.
    pub commit_sha: String,
    /// False when the pin already named that commit (`pin`), or always (`unpin`).
    pub created: bool,
}

impl Store {
    /// Pins the commit REF names under `name` (default: REF made into a pin name).
    pub fn pin(&self, spec: &str, name: Option<&str>) -> Result<PinOutcome> {
        let name = match name {
            Some(name) => PinName::new(name)?,
            None => default_name(spec)?,
        };
        let commit = self.resolve(spec)?;
        let refname = pin_ref(&name);
        let outcome = |created| PinOutcome {
            success: true,
            name: name.to_string(),
            refname: refname.clone(),
            commit_sha: commit.to_string(),
            created,
        };
        match crate::git::ref_oid(self.repo(), &refname)? {
            Some(held) if held == commit => return Ok(outcome(false)),
            Some(held) => {
                return Err(Error::Conflict {
                    message: format!(
                        "pin {name} already names commit {}",
                        &held.to_string()[..12]
                    ),
                    hint: Some(format!(
                        "choose another name with --name, or `artifact-store unpin {name}` first"
                    )),
                })
            }
            None => {}
        }
        let change = RefChange::Create {
            name: refname.clone(),
            value: commit,
        };
        let mut options = tx_options(self, Mode::Atomic);
        options.packed = false;
        // Not under the gc lock: a live gc may hold a lock here longer than the bound.
        options.locks.stale_after = None;
        RefDb::new(self.repo()).edit(&[vec![change]], options)?;
        Ok(outcome(true))
    }

    /// Removes the pin `name`.
    pub fn unpin(&self, name: &str) -> Result<PinOutcome> {
        let name = PinName::new(name)?;
        let refname = pin_ref(&name);
        let Some(held) = crate::git::ref_oid(self.repo(), &refname)? else {
            return Err(Error::NotFound(format!("there is no pin named {name}.")));
        };
        let change = RefChange::Delete {
            name: refname.clone(),
            expected: held,
        };
        let mut options = tx_options(self, Mode::Atomic);
        options.packed = false;
        // Not under the gc lock: a live gc may hold a lock here longer than the bound.
        options.locks.stale_after = None;
        RefDb::new(self.repo()).edit(&[vec![change]], options)?;
        Ok(PinOutcome {
            success: true,
            name: name.to_string(),
            refname,
            commit_sha: held.to_string(),
            created: false,
        })
    }
}

/// Makes a pin name from a REF: `corr_abc` stays, `refs/heads/ai/generated/wf/t` becomes
/// `ai-generated-wf-t`.
fn default_name(spec: &str) -> Result<PinName> {
    let short = ["refs/heads/", "refs/tags/", "refs/"]
        .iter()
        .find_map(|p| spec.strip_prefix(p))
        .unwrap_or(spec);
    PinName::new(&short.replace('/', "-")).map_err(|_| Error::InvalidRequest {
        message: format!("{spec:?} does not make a pin name"),
        hint: Some("name the pin with --name NAME".to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::default_name;

    #[test]
    fn pin_names_default_to_the_ref_without_slashes() {
        assert_eq!(default_name("corr_abc").unwrap().as_str(), "corr_abc");
        assert_eq!(
            default_name("refs/heads/ai/generated/wf/t")
                .unwrap()
                .as_str(),
            "ai-generated-wf-t"
        );
        assert!(default_name("a b").is_err());
    }
}
