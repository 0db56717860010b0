//! What ferry knows of ApplySet parents without asking the API server
//! again (pure; [`crate::inventory`] does the IO): each pass lists every
//! parent once (metadata only) for `list`, and that listing, plus every
//! parent ferry wrote since, answers "what does this set record?" when
//! an app is applied — so a sync does not GET its parent first. A write
//! made while a listing was in flight is kept over the listing's older
//! view (a generation number orders them). Before the first listing the
//! cache knows nothing and the caller asks the API server.

use ferry_core::sync::MutexExt;
use std::collections::HashMap;
use std::sync::Mutex;

use crate::applyset::{ApplySet, Recorded};

/// Namespace and name of a parent.
type Key = (String, String);

/// What the cache says about one set's parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Never listed and never written: ask the API server.
    Unknown,
    /// The last listing had no such parent and ferry wrote none since.
    Absent,
    /// What the parent records (as listed, or as ferry last wrote it).
    Present(Recorded),
}

#[derive(Debug, Default)]
struct State {
    listed: bool,
    generation: u64,
    sets: HashMap<Key, (u64, Recorded)>,
}

/// The cache of one cluster's ApplySet parents.
#[derive(Debug, Default)]
pub struct Parents {
    state: Mutex<State>,
}

fn key(set: &ApplySet) -> Key {
    (set.namespace.clone(), set.name.clone())
}

impl Parents {
    /// A listing starts: returns its ticket for [`Self::listed`].
    pub fn begin_listing(&self) -> u64 {
        let mut st = self.state.lock_or_recover();
        st.generation += 1;
        st.generation
    }

    /// A listing that began with `ticket` is complete: it replaces what was
    /// known, except parents written after it began.
    pub fn listed(&self, ticket: u64, parents: impl IntoIterator<Item = (Key, Recorded)>) {
        let mut st = self.state.lock_or_recover();
        let mut sets: HashMap<Key, (u64, Recorded)> =
            parents.into_iter().map(|(k, r)| (k, (ticket, r))).collect();
        for (k, (g, r)) in st.sets.drain() {
            if g > ticket {
                sets.insert(k, (g, r));
            }
        }
        st.sets = sets;
        st.listed = true;
    }

    /// ferry wrote `set`'s parent recording `rec`.
    pub fn wrote(&self, set: &ApplySet, rec: Recorded) {
        let mut st = self.state.lock_or_recover();
        st.generation += 1;
        let g = st.generation;
        st.sets.insert(key(set), (g, rec));
    }

    /// A write failed or the parent may be gone: ask the API server next
    /// time.
    pub fn forget(&self, set: &ApplySet) {
        let mut st = self.state.lock_or_recover();
        st.sets.remove(&key(set));
        st.listed = false;
    }

    /// What is known of `set`'s parent.
    pub fn get(&self, set: &ApplySet) -> Known {
        let st = self.state.lock_or_recover();
        match st.sets.get(&key(set)) {
            Some((_, r)) => Known::Present(r.clone()),
            None if st.listed => Known::Absent,
            None => Known::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::objects::GroupKind;

    fn rec(kinds: &[&str]) -> Recorded {
        Recorded {
            kinds: kinds.iter().map(|k| GroupKind::new("", k)).collect(),
            namespaces: ["ns".to_string()].into(),
            tooling: Some("ferry/v1".into()),
        }
    }

    fn key_of(set: &ApplySet) -> Key {
        (set.namespace.clone(), set.name.clone())
    }

    #[test]
    fn unknown_until_listed_then_absent_or_present() {
        let p = Parents::default();
        let (a, b) = (ApplySet::new("a", "e", "ns"), ApplySet::new("b", "e", "ns"));
        assert_eq!(p.get(&a), Known::Unknown, "nothing listed: ask");
        let t = p.begin_listing();
        p.listed(t, [(key_of(&a), rec(&["ConfigMap"]))]);
        assert_eq!(p.get(&a), Known::Present(rec(&["ConfigMap"])));
        assert_eq!(p.get(&b), Known::Absent);
        p.forget(&a);
        assert_eq!(p.get(&a), Known::Unknown, "a failed write: ask again");
        assert_eq!(
            p.get(&b),
            Known::Unknown,
            "and every set until a new listing"
        );
    }

    #[test]
    fn a_write_during_a_listing_survives_it() {
        let p = Parents::default();
        let a = ApplySet::new("a", "e", "ns");
        let t = p.begin_listing();
        // The listing saw the parent before ferry added Deployment to it.
        p.wrote(&a, rec(&["ConfigMap", "Deployment"]));
        p.listed(t, [(key_of(&a), rec(&["ConfigMap"]))]);
        assert_eq!(p.get(&a), Known::Present(rec(&["ConfigMap", "Deployment"])));
        // A later listing is newer than that write.
        let t = p.begin_listing();
        p.listed(t, Vec::new());
        assert_eq!(
            p.get(&a),
            Known::Absent,
            "deleted since (its namespace went)"
        );
    }
}
