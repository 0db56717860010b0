//! What one live stream has sent, so it sends only fragments that differ.
//!
//! A stream re-renders the fragments a change concerns (the overview's
//! regions table, the pods list…) and hands them to [`Sent::fresh`], which
//! keeps of each fragment only a 64-bit hash of the HTML last sent under
//! its element id: a stream's memory stays a few words per fragment
//! however large the page (the dashboard bench's budget is under 1 MB of
//! server memory per open tab). A fresh stream (a reconnect) has sent
//! nothing, so it sends every fragment its first change concerns.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde::Serialize;

/// One element's new HTML: the page replaces the element of id `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Patch {
    pub id: String,
    pub html: String,
}

impl Patch {
    pub fn new(id: &str, html: String) -> Patch {
        Patch {
            id: id.to_string(),
            html,
        }
    }
}

/// The hash of each fragment last sent, by element id.
#[derive(Debug, Default)]
pub struct Sent {
    last: Vec<(String, u64)>,
}

fn hash(html: &str) -> u64 {
    let mut h = DefaultHasher::new();
    html.hash(&mut h);
    h.finish()
}

impl Sent {
    /// The patches of `rendered` whose HTML differs from what was last
    /// sent under their id (all of them the first time), now counted as
    /// sent.
    pub fn fresh(&mut self, rendered: Vec<Patch>) -> Vec<Patch> {
        rendered
            .into_iter()
            .filter(|p| {
                let h = hash(&p.html);
                match self.last.iter_mut().find(|(id, _)| *id == p.id) {
                    Some((_, last)) if *last == h => false,
                    Some((_, last)) => {
                        *last = h;
                        true
                    }
                    None => {
                        self.last.push((p.id.clone(), h));
                        true
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, html: &str) -> Patch {
        Patch::new(id, html.to_string())
    }

    #[test]
    fn only_fragments_that_changed_are_sent_again() {
        let mut sent = Sent::default();
        let first = sent.fresh(vec![p("regions", "<a>"), p("registry", "<b>")]);
        assert_eq!(first.len(), 2, "nothing was sent yet");
        assert_eq!(sent.fresh(vec![p("regions", "<a>")]), vec![]);
        assert_eq!(
            sent.fresh(vec![p("regions", "<a>"), p("registry", "<c>")]),
            vec![p("registry", "<c>")]
        );
        assert_eq!(
            sent.fresh(vec![p("registry", "<b>")]),
            vec![p("registry", "<b>")],
            "back to an earlier state is a change too"
        );
        assert_eq!(sent.fresh(vec![p("envs", "<a>")]), vec![p("envs", "<a>")]);
    }

    #[test]
    fn the_memory_kept_does_not_grow_with_the_fragment() {
        let mut sent = Sent::default();
        let big = "<tr>".repeat(100_000);
        assert_eq!(sent.fresh(vec![p("pods", &big)]).len(), 1);
        assert_eq!(sent.last.len(), 1);
        assert_eq!(sent.fresh(vec![p("pods", &big)]), vec![]);
    }
}
