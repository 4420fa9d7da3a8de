//! The store's object id, as the library's callers see it: what `Store::resolve` returns
//! names the commit git names, shows and serializes as git's 40 hex digits, and parses
//! back; no type of the git library is needed to use it.

use crate::common;

use artifact_store::{ObjectId, OpenOptions, Store};
use common::{commit_args, rev, Env};

#[test]
fn resolve_returns_the_id_git_names_as_40_hex_digits() {
    let env = Env::new();
    let store = env.store();
    let s = store.to_str().unwrap();
    let f = env.write("r.csv", "a,b\n1,2\n");
    env.run(&commit_args(s, "oid-1", &[f.to_str().unwrap()]))
        .ok();
    let opened = Store::open(&OpenOptions {
        repo: Some(store.clone()),
        ..Default::default()
    })
    .unwrap();

    let git_says = rev(&env, &store, "corr_oid-1^{commit}");
    for spec in ["corr_oid-1", "oid-1", &git_says, &git_says[..10]] {
        let id: ObjectId = opened.resolve(spec).unwrap();
        assert_eq!(id.to_string(), git_says, "{spec}");
        assert_eq!(format!("{id:?}"), git_says, "{spec}");
        assert_eq!(
            serde_json::to_value(id).unwrap(),
            serde_json::json!(git_says)
        );
        assert_eq!(id.short(), git_says[..12]);
        assert!(!id.is_zero());
        assert_eq!(git_says.parse::<ObjectId>().unwrap(), id);
        assert_eq!(ObjectId::from_hex(&git_says.to_uppercase()).unwrap(), id);
    }
    assert!(ObjectId::ZERO.is_zero());
    assert_eq!(ObjectId::ZERO.to_string(), "0".repeat(40));
    for bad in ["xyz", "g".repeat(40).as_str(), &"1".repeat(41)] {
        let err = bad.parse::<ObjectId>().unwrap_err();
        assert_eq!(err.kind(), "git", "{bad}: {err}");
    }

    // The ids of a set's files are the blobs git stores.
    let set = opened.show("corr_oid-1").unwrap();
    let csv = set.files.iter().find(|f| f.path == "r.csv").unwrap();
    assert_eq!(
        csv.oid.to_string(),
        rev(
            &env,
            &store,
            &format!("corr_oid-1:{}/r.csv", set.artifact_dir)
        )
    );
    drop(opened);
    env.fsck(&store);
}
