//! Rendering an application's directory at one revision into objects:
//! plain YAML directories natively, Kustomize and Helm through their own
//! binaries when present, then the native steps every renderer shares —
//! image overrides, the environment's namespace and ferry's inventory labels.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ferry_core::app_spec::{ImageOverride, RenderKind};
use ferry_core::objects::{GroupKind, StoredObject};
use ferry_core::yaml::parse_documents;
use ferry_core::{Problem, Problems};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::object::{LABEL_APP, LABEL_ENV, cluster_scoped, set_label};
use crate::order::sort_for_apply;

/// The files of an application's directory at one commit, keyed by their
/// path inside the repository.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Where and for whom the manifests are rendered.
#[derive(Debug, Clone)]
pub struct RenderContext<'a> {
    pub app: &'a str,
    pub environment: &'a str,
    pub namespace: &'a str,
    /// Short commit id, shown in error locations.
    pub revision: &'a str,
    pub kind: RenderKind,
    pub value_files: &'a [String],
    pub images: &'a [ImageOverride],
}

/// Renders `files` (rooted at `root` inside the repository).
pub fn render(files: &Files, root: &str, ctx: &RenderContext<'_>) -> Result<Vec<StoredObject>> {
    let kind = match ctx.kind {
        RenderKind::Auto => detect(files, root),
        k => k,
    };
    let docs: Vec<(String, String)> = match kind {
        RenderKind::Kustomize => external(files, root, "kustomize", |dir| {
            let mut c = Command::new("kustomize");
            c.arg("build").arg(dir);
            c
        })?,
        RenderKind::Helm => external(files, root, "helm", |dir| {
            let mut c = Command::new("helm");
            c.arg("template")
                .arg(ctx.app)
                .arg(dir)
                .arg("--namespace")
                .arg(ctx.namespace)
                // Test hooks are for `helm test`, not part of a release
                // (Argo CD and Pulumi leave them out too).
                .arg("--skip-tests");
            for v in ctx.value_files {
                c.arg("-f").arg(dir.join(v));
            }
            c
        })?,
        _ => yaml_files(files),
    };
    let mut problems = Problems::default();
    let mut out = Vec::new();
    for (file, text) in docs {
        let docs = match parse_documents(&format!("{file}@{}", ctx.revision), &text) {
            Ok(d) => d,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        for doc in docs {
            match to_object(&doc, ctx) {
                Ok(o) => out.push(o),
                Err(p) => problems.push(p),
            }
        }
    }
    let mut seen = BTreeMap::new();
    for o in &out {
        if let Some(first) = seen.insert(crate::object::ObjKey::of(o), o.source.clone()) {
            problems.push(Problem::file(
                o.source.clone(),
                format!("duplicate object (also in {first})"),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Manifests(problems));
    }
    sort_for_apply(&mut out);
    Ok(out)
}

fn detect(files: &Files, root: &str) -> RenderKind {
    let at = |name: &str| files.contains_key(&join(root, name));
    if at("kustomization.yaml") || at("kustomization.yml") || at("Kustomization") {
        RenderKind::Kustomize
    } else if at("Chart.yaml") {
        RenderKind::Helm
    } else {
        RenderKind::Directory
    }
}

fn join(root: &str, name: &str) -> String {
    if root.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", root.trim_end_matches('/'))
    }
}

fn yaml_files(files: &Files) -> Vec<(String, String)> {
    files
        .iter()
        .filter(|(p, _)| p.ends_with(".yaml") || p.ends_with(".yml") || p.ends_with(".json"))
        .map(|(p, b)| (p.clone(), String::from_utf8_lossy(b).into_owned()))
        .collect()
}

fn external(
    files: &Files,
    root: &str,
    tool: &'static str,
    command: impl Fn(&Path) -> Command,
) -> Result<Vec<(String, String)>> {
    let dir = tempfile_dir().map_err(|e| Error::Render {
        tool,
        message: e.to_string(),
    })?;
    for (path, bytes) in files {
        let p = dir.path().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        std::fs::write(&p, bytes).map_err(|e| Error::io("write", &p, e))?;
    }
    let out = command(&dir.path().join(root))
        .output()
        .map_err(|e| Error::Render {
            tool,
            message: format!(
                "cannot run `{tool}` ({e}); install it or set spec.render.kind: directory"
            ),
        })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(Error::Render { tool, message: msg });
    }
    Ok(vec![(
        format!("{}({tool})", if root.is_empty() { "." } else { root }),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )])
}

fn tempfile_dir() -> std::io::Result<TempDir> {
    let path = std::env::temp_dir().join(format!("ferry-render-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&path)?;
    Ok(TempDir(path))
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn to_object(
    doc: &ferry_core::yaml::Document,
    ctx: &RenderContext<'_>,
) -> Result<StoredObject, Problem> {
    let mut value = doc.value.clone();
    if !value.is_object() {
        return Err(doc.problem("", "a manifest must be a mapping"));
    }
    let api = doc
        .api_version()
        .ok_or_else(|| doc.problem("apiVersion", "missing field `apiVersion`"))?;
    let kind = doc
        .kind()
        .ok_or_else(|| doc.problem("kind", "missing field `kind`"))?;
    let name = doc
        .name()
        .ok_or_else(|| doc.problem("metadata.name", "missing field `metadata.name`"))?;
    ferry_core::meta::validate_dns_label(name.split('.').next().unwrap_or(name))
        .map_err(|m| doc.problem("metadata.name", m.to_string()))?;
    let gk = GroupKind::of(api, kind);
    check_workload(doc, &value)?;
    crate::order::wave(&value).map_err(|(path, m)| doc.problem(&path, m))?;
    let namespace = if cluster_scoped(&gk) {
        None
    } else {
        let ns = value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(ctx.namespace)
            .to_string();
        value["metadata"]["namespace"] = Value::String(ns.clone());
        Some(ns)
    };
    override_images(&mut value, ctx.images);
    set_label(&mut value, LABEL_APP, ctx.app);
    set_label(&mut value, LABEL_ENV, ctx.environment);
    Ok(StoredObject {
        group_kind: gk,
        namespace,
        name: name.to_string(),
        source: format!("{}: document {}", doc.file, doc.index),
        value,
    })
}

/// Shallow checks of the fields ferry itself relies on in workloads.
fn check_workload(doc: &ferry_core::yaml::Document, v: &Value) -> Result<(), Problem> {
    if let Some(r) = v.pointer("/spec/replicas")
        && !r.is_u64()
    {
        return Err(doc.problem(
            "spec.replicas",
            format!("expected a non-negative integer, found {r}"),
        ));
    }
    for (path, containers) in pod_specs(v) {
        for (i, c) in containers.iter().enumerate() {
            let at = format!("{path}.containers.{i}");
            if c.get("name").and_then(Value::as_str).is_none() {
                return Err(doc.problem(&format!("{at}.name"), "missing field `name`"));
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(doc.problem(&format!("{at}.image"), "missing field `image`"));
            }
        }
    }
    Ok(())
}

fn pod_specs(v: &Value) -> Vec<(&'static str, &Vec<Value>)> {
    let mut out = Vec::new();
    for (path, ptr) in [
        ("spec", "/spec/containers"),
        ("spec.template.spec", "/spec/template/spec/containers"),
        (
            "spec.jobTemplate.spec.template.spec",
            "/spec/jobTemplate/spec/template/spec/containers",
        ),
    ] {
        if let Some(Value::Array(a)) = v.pointer(ptr) {
            out.push((path, a));
        }
    }
    out
}

/// Image references of every container of `v`.
pub fn images_of(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for base in [
        "/spec",
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
    ] {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(a)) = v.pointer(&format!("{base}/{list}")) {
                out.extend(
                    a.iter()
                        .filter_map(|c| c.get("image")?.as_str().map(str::to_string)),
                );
            }
        }
    }
    out
}

/// Applies Kustomize-style image overrides to every container of `v`.
pub fn override_images(v: &mut Value, overrides: &[ImageOverride]) {
    if overrides.is_empty() {
        return;
    }
    for base in [
        "/spec",
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
    ] {
        for list in ["containers", "initContainers"] {
            let Some(Value::Array(a)) = v.pointer_mut(&format!("{base}/{list}")) else {
                continue;
            };
            for c in a {
                let Some(image) = c.get("image").and_then(Value::as_str) else {
                    continue;
                };
                if let Some(new) = apply_override(image, overrides) {
                    c["image"] = Value::String(new);
                }
            }
        }
    }
}

/// Splits `registry/repo:tag@digest` into (name, tag, digest).
pub fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

fn apply_override(image: &str, overrides: &[ImageOverride]) -> Option<String> {
    let (name, tag, digest) = split_image(image);
    let o = overrides
        .iter()
        .find(|o| o.name == name || name.ends_with(&format!("/{}", o.name)))?;
    let name = o.new_name.as_deref().unwrap_or(name);
    Some(match (&o.new_tag, tag, digest) {
        (Some(t), _, _) => format!("{name}:{t}"),
        (None, Some(t), _) => format!("{name}:{t}"),
        (None, None, Some(d)) => format!("{name}@{d}"),
        (None, None, None) => name.to_string(),
    })
}

/// Gives an ephemeral environment its own public hosts: every Ingress rule
/// and TLS host and every HTTPRoute hostname `h` becomes `<env>.h`, so a
/// preview never claims the hosts of the environment it was branched from
/// (the gateway rejects two routes for one host and path).
pub fn preview_hosts(v: &mut Value, env: &str) {
    let prefix = |h: &mut Value| {
        if let Some(s) = h.as_str()
            && !s.is_empty()
        {
            *h = Value::String(match s.strip_prefix("*.") {
                Some(rest) => format!("*.{env}.{rest}"),
                None => format!("{env}.{s}"),
            });
        }
    };
    match v.get("kind").and_then(Value::as_str) {
        Some("Ingress") => {
            if let Some(Value::Array(rules)) = v.pointer_mut("/spec/rules") {
                for r in rules {
                    if let Some(h) = r.get_mut("host") {
                        prefix(h);
                    }
                }
            }
            if let Some(Value::Array(tls)) = v.pointer_mut("/spec/tls") {
                for t in tls {
                    if let Some(Value::Array(hosts)) = t.get_mut("hosts") {
                        hosts.iter_mut().for_each(prefix);
                    }
                }
            }
        }
        Some("HTTPRoute") => {
            if let Some(Value::Array(hosts)) = v.pointer_mut("/spec/hostnames") {
                hosts.iter_mut().for_each(prefix);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
