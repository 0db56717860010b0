//! Kubernetes' rules for the names and paths a pod turns into host paths:
//! volume names are DNS-1123 labels; `subPath` and `items[].path` are
//! relative with no `..` element; ConfigMap and Secret keys use
//! `[-._a-zA-Z0-9]+`. Checked at apply (with the field path) and again by
//! the pod worker before any host path is built from them.

use std::collections::BTreeSet;

use ferry_core::yaml::Document;
use k8s_openapi::api::core::v1::{KeyToPath, PodSpec};

use crate::validate::Found;

/// Why `name` is not a volume name, if it is not one.
pub fn volume_name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    (!ok).then(|| {
        format!("`{name}` is not a valid volume name: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit")
    })
}

/// Why `path` is not a local descending path (`subPath`, `items[].path`).
pub fn rel_path_problem(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return Some(format!("`{path}` must be a relative path"));
    }
    if path.split('/').any(|e| e == "..") {
        return Some(format!("`{path}` must not contain a `..` element"));
    }
    if path.contains('\0') {
        return Some("the path must not contain a NUL byte".into());
    }
    None
}

/// Why `path` is not a file path of a configMap/secret volume (also not
/// empty and not starting with `..`, which ferry's temporary names use).
pub fn item_path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("a path is required".into());
    }
    if path.starts_with("..") {
        return Some(format!("`{path}` must not start with `..`"));
    }
    rel_path_problem(path)
}

/// Why `key` is not a ConfigMap/Secret key.
pub fn key_problem(key: &str) -> Option<String> {
    let ok = !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && key != "."
        && !key.starts_with("..");
    (!ok).then(|| {
        format!("`{key}` is not a valid key: use letters, digits, '-', '_' and '.' (not `.`, not starting with `..`)")
    })
}

/// Checks the keys of a ConfigMap or Secret at `field` (`data`, `stringData`…).
pub fn keys<'a>(
    doc: &Document,
    field: &str,
    keys: impl Iterator<Item = &'a String>,
    out: &mut Found,
) {
    for k in keys {
        if let Some(why) = key_problem(k) {
            out.push(doc.problem(&format!("{field}.{k}"), why));
        }
    }
}

/// Volume names, their configMap/secret items and the containers' subPaths.
pub fn pod_spec(doc: &Document, base: &str, spec: &PodSpec, out: &mut Found) {
    let mut seen = BTreeSet::new();
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let at = format!("{base}.volumes[{i}]");
        if let Some(why) = volume_name_problem(&v.name) {
            out.push(doc.problem(&format!("{at}.name"), why));
        }
        if !seen.insert(v.name.as_str()) {
            out.push(doc.problem(
                &format!("{at}.name"),
                format!("duplicate volume name `{}`", v.name),
            ));
        }
        if let Some(cm) = &v.config_map {
            items(doc, &format!("{at}.configMap"), cm.items.as_deref(), out);
        }
        if let Some(s) = &v.secret {
            items(doc, &format!("{at}.secret"), s.items.as_deref(), out);
        }
    }
    for (container, c) in crate::validate::containers_at(spec, base) {
        for (j, m) in c.volume_mounts.iter().flatten().enumerate() {
            let at = format!("{container}.volumeMounts[{j}]");
            if let Some(why) = m.sub_path.as_deref().and_then(rel_path_problem) {
                out.push(doc.problem(&format!("{at}.subPath"), why));
            }
            if m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty()) {
                out.push(doc.problem(
                    &format!("{at}.subPathExpr"),
                    "subPathExpr is not supported; use subPath",
                ));
            }
        }
    }
}

fn items(doc: &Document, at: &str, items: Option<&[KeyToPath]>, out: &mut Found) {
    for (i, item) in items.unwrap_or_default().iter().enumerate() {
        if let Some(why) = key_problem(&item.key) {
            out.push(doc.problem(&format!("{at}.items[{i}].key"), why));
        }
        if let Some(why) = item_path_problem(&item.path) {
            out.push(doc.problem(&format!("{at}.items[{i}].path"), why));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_path_rules() {
        assert!(rel_path_problem("a/b").is_none());
        assert!(rel_path_problem("a/..b").is_none());
        assert!(rel_path_problem("../../x").is_some());
        assert!(rel_path_problem("a/../../x").is_some());
        assert!(rel_path_problem("/etc/cron.d").is_some());
        assert!(item_path_problem("..data").is_some());
        assert!(item_path_problem("").is_some());
        assert!(key_problem("app.conf").is_none());
        assert!(key_problem("a/b").is_some());
        assert!(key_problem("..").is_some());
        assert!(key_problem(".").is_some());
        assert!(volume_name_problem("data").is_none());
        assert!(volume_name_problem("/").is_some());
        assert!(volume_name_problem("..").is_some());
        assert!(volume_name_problem("Data").is_some());
    }
}
