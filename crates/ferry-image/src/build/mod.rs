//! Building images without a base image or a daemon: layers from
//! directories, from a Linux binary plus the shared libraries and loader it
//! needs ([`elf`]), or from busybox-static ([`busybox`]); an OCI config
//! (env, entrypoint, cmd, exposed ports, labels, working dir, user) and
//! manifest written as canonical JSON (sorted keys), so the same inputs
//! always give the same manifest digest.

pub mod busybox;
pub mod config;
pub mod elf;
pub mod layer;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};

pub use config::{ConfigSpec, DEFAULT_PATH, HistoryEntry, WrittenManifest, write_manifest};
pub use layer::{Compression, Entry, Layer, Owner, WrittenLayer};

use crate::error::{Error, Result};
use crate::store::Store;

/// The creation time written into configs, fixed for reproducibility.
pub const FIXED_CREATED: &str = "1970-01-01T00:00:00Z";

/// An image being put together; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct ImageBuilder {
    layers: Vec<Layer>,
    env: Vec<String>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    exposed_ports: Vec<String>,
    labels: BTreeMap<String, String>,
    working_dir: Option<String>,
    user: Option<String>,
    compression: Compression,
}

/// The result of [`ImageBuilder::build`].
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// Descriptor of the manifest (its digest names the image).
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// The exact manifest bytes the digest covers.
    pub manifest_bytes: Bytes,
}

impl BuiltImage {
    /// The manifest digest.
    pub fn digest(&self) -> String {
        self.descriptor.digest().to_string()
    }
}

impl ImageBuilder {
    /// An image with no layers and an empty config.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a layer.
    pub fn layer(mut self, layer: Layer) -> Self {
        self.layers.push(layer);
        self
    }

    /// Appends a layer holding the host directory `source` at `dest`.
    pub fn dir(self, source: &Path, dest: &str) -> Result<Self> {
        let mut l = Layer::new();
        l.add_dir(source, dest)?;
        Ok(self.layer(l))
    }

    /// Appends a layer holding the Linux binary `binary` at `dest` plus
    /// every shared library it links and its dynamic loader, at the paths
    /// the loader looks for them; sets the entrypoint to `dest` unless one
    /// is set.
    pub fn binary(mut self, binary: &Path, dest: &str) -> Result<Self> {
        let deps = elf::dependencies(binary)?;
        let mut l = Layer::new();
        l.add_file(binary, dest)?;
        for (image_path, host) in &deps.files {
            l.add_file(host, image_path)?;
        }
        l.insert("/tmp", Entry::Dir { mode: 0o1777 })?;
        if self.entrypoint.is_none() {
            self.entrypoint = Some(vec![dest.to_string()]);
        }
        Ok(self.layer(l))
    }

    /// Adds `KEY=value` to the environment (replacing an earlier `KEY`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env
            .retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
        self.env.push(format!("{key}={value}"));
        self
    }

    pub fn entrypoint<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.entrypoint = Some(args.into_iter().map(Into::into).collect());
        self
    }

    pub fn cmd<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.cmd = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Declares an exposed port: `8080` (tcp implied) or `53/udp`.
    pub fn expose(mut self, port: &str) -> Self {
        let p = if port.contains('/') {
            port.to_string()
        } else {
            format!("{port}/tcp")
        };
        if !self.exposed_ports.contains(&p) {
            self.exposed_ports.push(p);
        }
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    pub fn working_dir(mut self, dir: &str) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Layer compression (gzip by default).
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Writes layers, config and manifest into `store`; names the image
    /// `name` there when given. Blocking (file IO and compression): call it
    /// from `spawn_blocking` in async code.
    pub fn build(&self, store: &Store, name: Option<&str>) -> Result<BuiltImage> {
        if self.layers.is_empty() {
            return Err(Error::Build(
                "an image needs at least one layer (add a directory, a binary or busybox)".into(),
            ));
        }
        let written: Vec<WrittenLayer> = self
            .layers
            .iter()
            .map(|l| l.write(store, self.compression))
            .collect::<Result<_>>()?;
        let config = self.config(&written).to_oci()?;
        let layers = written.iter().map(|w| w.descriptor.clone()).collect();
        let WrittenManifest {
            descriptor,
            manifest,
            bytes,
        } = write_manifest(store, &config, layers)?;
        if let Some(name) = name {
            store.tag(name, &descriptor)?;
        }
        Ok(BuiltImage {
            descriptor,
            manifest,
            config,
            manifest_bytes: Bytes::from(bytes),
        })
    }

    fn config(&self, layers: &[WrittenLayer]) -> ConfigSpec {
        let history = HistoryEntry {
            created_by: "ferry image build".into(),
            empty_layer: false,
        };
        ConfigSpec {
            env: self.env.clone(),
            entrypoint: self.entrypoint.clone(),
            cmd: self.cmd.clone(),
            working_dir: self.working_dir.clone(),
            user: self.user.clone(),
            labels: self.labels.clone(),
            exposed_ports: self.exposed_ports.clone(),
            history: vec![history; layers.len()],
            diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
            ..ConfigSpec::default()
        }
    }
}

/// Serializes `value` as JSON with every object's keys sorted, so maps
/// (labels, exposed ports) never make the bytes — and the digest — vary.
pub fn canonical_json<T: serde::Serialize>(value: &T, what: &str) -> Result<Vec<u8>> {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let sorted: BTreeMap<String, serde_json::Value> =
                    map.into_iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    let json = |source| Error::Json {
        what: what.to_string(),
        source,
    };
    let v = serde_json::to_value(value).map_err(json)?;
    // Write through a BTreeMap-backed structure so the order holds even when
    // serde_json's `preserve_order` feature is on elsewhere in the build.
    let v = sort(v);
    serde_json::to_vec(&Sorted(&v)).map_err(json)
}

struct Sorted<'a>(&'a serde_json::Value);

impl serde::Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut m = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    m.serialize_entry(k, &Sorted(&map[k]))?;
                }
                m.end()
            }
            serde_json::Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&Sorted(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
