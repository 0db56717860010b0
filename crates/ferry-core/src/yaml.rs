//! Strict multi-document YAML loading shared by every user-facing file kind
//! (topology, Kubernetes manifests, Istio and Gateway API objects).
//!
//! Documents are parsed with `serde-saphyr` under YAML 1.2 rules (`yes` and
//! `y` stay strings, `0755` stays a string) into JSON values, then each is
//! decoded into its typed struct through `serde_path_to_error`, so every error
//! carries the file, the document index, the dotted field path and, for an
//! unknown field or variant, the nearest valid name.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Problem, nearest};

/// One YAML document of a file, with its position in that file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file (or `<stdin>`) it came from.
    pub file: String,
    /// Zero-based index among the non-empty documents of the file.
    pub index: usize,
    /// The document as a JSON value.
    pub value: Value,
}

impl Document {
    /// `kind` of the document, if it is a string.
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind").and_then(Value::as_str)
    }

    /// `apiVersion` of the document, if it is a string.
    pub fn api_version(&self) -> Option<&str> {
        self.value.get("apiVersion").and_then(Value::as_str)
    }

    /// `metadata.name` of the document, if it is a string.
    pub fn name(&self) -> Option<&str> {
        self.value.pointer("/metadata/name").and_then(Value::as_str)
    }

    /// `Kind/name` for messages, as far as known.
    pub fn label(&self) -> String {
        format!(
            "{}/{}",
            self.kind().unwrap_or("?"),
            self.name().unwrap_or("?")
        )
    }

    /// A problem located in this document at `path`.
    pub fn problem(&self, path: &str, message: impl Into<String>) -> Problem {
        Problem::at(self.file.clone(), self.index, path, message).with_object(self.label())
    }

    /// Decodes the whole document into `T`, strictly.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        decode_value(&self.value).map_err(|(path, message, suggestion)| {
            self.problem(&path, message).with_suggestion(suggestion)
        })
    }
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
    }
}

/// Splits `text` into its YAML documents. Empty documents (a lone `---`, or
/// only comments) are skipped, as `kubectl apply` does.
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<Document>, Problem> {
    let values: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options()).map_err(|e| {
            Problem::file(
                file,
                format!("invalid YAML: {}", first_line(&e.to_string())),
            )
        })?;
    Ok(values
        .into_iter()
        .filter(|v| !v.is_null())
        .enumerate()
        .map(|(index, value)| Document {
            file: file.to_string(),
            index,
            value,
        })
        .collect())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim_start_matches("error: ")
}

/// Decodes `value` into `T`; on failure returns the field path, the message
/// and a suggestion for an unknown name.
pub fn decode_value<T: DeserializeOwned>(
    value: &Value,
) -> Result<T, (String, String, Option<String>)> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        // The path already ends with an unknown field's own name.
        let mut path = err.path().to_string();
        if path == "." {
            path.clear();
        }
        let (message, suggestion) = explain(&err.inner().to_string());
        (path, message, suggestion)
    })
}

/// Turns serde's "unknown field `x`, expected one of `a`, `b`" into a short
/// message and a suggestion.
fn explain(message: &str) -> (String, Option<String>) {
    for what in ["field", "variant"] {
        let prefix = format!("unknown {what} `");
        if let Some(rest) = message.strip_prefix(&prefix) {
            let name = rest.split('`').next().unwrap_or_default().to_string();
            let expected: Vec<&str> = rest
                .split_once("expected")
                .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
                .unwrap_or_default();
            let suggestion = nearest(&name, expected.iter().copied());
            let msg = format!("unknown {what} `{name}`");
            return (msg, suggestion);
        }
    }
    (message.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Spec {
        #[allow(dead_code)]
        data_dir: String,
        #[allow(dead_code)]
        listeners: Listeners,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Listeners {
        #[allow(dead_code)]
        api: String,
    }

    #[test]
    fn yaml_1_2_scalars_stay_strings() {
        let docs = parse_documents("f", "a: y\nb: yes\nc: 0755\nd: true\n").unwrap();
        let v = &docs[0].value;
        assert_eq!(v["a"], "y");
        assert_eq!(v["b"], "yes");
        assert_eq!(v["c"], "0755");
        assert_eq!(v["d"], true);
    }

    #[test]
    fn empty_documents_are_skipped_and_indices_are_dense() {
        let docs = parse_documents("f", "---\n# nothing\n---\na: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].index, 1);
        assert_eq!(docs[1].value["b"], 2);
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = parse_documents("topo.yaml", "a: 1\n  b: : x\n").unwrap_err();
        assert_eq!(err.file, "topo.yaml");
        assert!(err.message.contains("line 2"), "{}", err.message);
    }

    #[test]
    fn unknown_nested_field_has_path_and_suggestion() {
        let docs = parse_documents(
            "t.yaml",
            "kind: X\nmetadata: {name: a}\n---\ndataDir: /x\nlisteners: {api: a, apii: b}\n",
        )
        .unwrap();
        let err = docs[1].decode::<Spec>().unwrap_err();
        assert_eq!(err.document, Some(1));
        assert_eq!(err.path.as_deref(), Some("listeners.apii"));
        assert_eq!(err.message, "unknown field `apii`");
        assert_eq!(err.suggestion.as_deref(), Some("api"));
    }

    #[test]
    fn wrong_type_has_path() {
        let docs = parse_documents("t.yaml", "dataDir: [1]\nlisteners: {api: a}\n").unwrap();
        let err = docs[0].decode::<Spec>().unwrap_err();
        assert_eq!(err.path.as_deref(), Some("dataDir"));
        assert!(err.message.contains("expected a string"), "{}", err.message);
    }

    #[test]
    fn missing_field_is_named() {
        let docs = parse_documents("t.yaml", "listeners: {api: a}\n").unwrap();
        let err = docs[0].decode::<Spec>().unwrap_err();
        assert!(
            err.message.contains("missing field `dataDir`"),
            "{}",
            err.message
        );
    }
}
