//! Label selectors with Kubernetes semantics: `matchLabels` and
//! `matchExpressions` (`In`, `NotIn`, `Exists`, `DoesNotExist`) ANDed
//! together, plus the `a=b,c!=d,e in (x,y)` string form used on the CLI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A `metav1.LabelSelector`. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Requirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Selector operators, spelt as Kubernetes spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// True when `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// True when the selector has no requirement at all.
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Parses the CLI form: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
    /// `k notin (a,b)`, `k`, `!k`, separated by commas.
    pub fn parse(text: &str) -> Result<Self, crate::Error> {
        let mut sel = LabelSelector::default();
        for clause in split_clauses(text) {
            let clause = clause.trim();
            if clause.is_empty() {
                continue;
            }
            let req = parse_clause(clause)?;
            sel.match_expressions.push(req);
        }
        Ok(sel)
    }
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

fn split_clauses(text: &str) -> Vec<&str> {
    // Commas inside parentheses belong to a set, not a new clause.
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn parse_clause(clause: &str) -> Result<Requirement, crate::Error> {
    let bad = |reason| crate::Error::Selector {
        clause: clause.to_string(),
        reason,
    };
    let req = |key: &str, operator, values: Vec<String>| {
        let key = key.trim();
        if key.is_empty() {
            return Err(bad(" has no key"));
        }
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    };
    if let Some((k, v)) = clause.split_once("!=") {
        return req(k, Operator::NotIn, vec![v.trim().to_string()]);
    }
    if let Some((k, v)) = clause.split_once("==").or_else(|| clause.split_once('=')) {
        return req(k, Operator::In, vec![v.trim().to_string()]);
    }
    for (word, op) in [(" notin ", Operator::NotIn), (" in ", Operator::In)] {
        if let Some((k, set)) = clause.split_once(word) {
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| bad(": expected a set like (a,b)"))?;
            let values = inner.split(',').map(|v| v.trim().to_string()).collect();
            return req(k, op, values);
        }
    }
    match clause.strip_prefix('!') {
        Some(k) => req(k, Operator::DoesNotExist, vec![]),
        None => req(clause, Operator::Exists, vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_selector_matches_all() {
        assert!(LabelSelector::default().matches(&labels(&[])));
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "myhero"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod", "dev"]}]
        }))
        .unwrap();
        assert!(sel.matches(&labels(&[("app", "myhero"), ("tier", "dev")])));
        assert!(!sel.matches(&labels(&[("app", "myhero"), ("tier", "qa")])));
        assert!(!sel.matches(&labels(&[("tier", "dev")])));
    }

    #[test]
    fn cli_form() {
        let sel = LabelSelector::parse("app=web,tier in (dev, prod),!legacy,env!=qa").unwrap();
        assert!(sel.matches(&labels(&[("app", "web"), ("tier", "prod")])));
        assert!(!sel.matches(&labels(&[
            ("app", "web"),
            ("tier", "prod"),
            ("legacy", "1")
        ])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "prod"), ("env", "qa")])));
        assert!(LabelSelector::parse("a in b").is_err());
        assert!(LabelSelector::parse("=x").is_err());
    }
}
