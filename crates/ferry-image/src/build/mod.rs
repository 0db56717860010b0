//! Building images without a base image or a daemon: layers from
//! directories, from a Linux binary plus the shared libraries and loader it
//! needs ([`elf`]), or from busybox-static ([`busybox`]); an OCI config
//! (env, entrypoint, cmd, exposed ports, labels, working dir, user) and
//! manifest written as canonical JSON (sorted keys), so the same inputs
//! always give the same manifest digest.

pub mod busybox;
pub mod elf;
pub mod layer;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bytes::Bytes;
use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder,
    ImageManifest, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};

pub use layer::{Compression, Entry, Layer, WrittenLayer};

use crate::digest;
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
        let config = self.config(&written)?;
        let config_bytes = canonical_json(&config, "image config")?;
        let config_digest = store.write_blob(&config_bytes)?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(
                MediaType::ImageConfig,
                config_bytes.len() as u64,
                digest::parse(&config_digest)?,
            ))
            .layers(
                written
                    .iter()
                    .map(|w| w.descriptor.clone())
                    .collect::<Vec<_>>(),
            )
            .build()
            .map_err(|e| Error::Build(format!("manifest: {e}")))?;
        let manifest_bytes = canonical_json(&manifest, "manifest")?;
        let manifest_digest = store.write_blob(&manifest_bytes)?;
        let descriptor = Descriptor::new(
            MediaType::ImageManifest,
            manifest_bytes.len() as u64,
            digest::parse(&manifest_digest)?,
        );
        if let Some(name) = name {
            store.tag(name, &descriptor)?;
        }
        Ok(BuiltImage {
            descriptor,
            manifest,
            config,
            manifest_bytes: Bytes::from(manifest_bytes),
        })
    }

    fn config(&self, layers: &[WrittenLayer]) -> Result<ImageConfiguration> {
        let err = |e: oci_spec::OciSpecError| Error::Build(format!("image config: {e}"));
        let mut c = ConfigBuilder::default();
        let mut env = self.env.clone();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(
                0,
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            );
        }
        c = c.env(env);
        if let Some(e) = &self.entrypoint {
            c = c.entrypoint(e.clone());
        }
        if let Some(cmd) = &self.cmd {
            c = c.cmd(cmd.clone());
        }
        if !self.exposed_ports.is_empty() {
            c = c.exposed_ports(self.exposed_ports.clone());
        }
        if !self.labels.is_empty() {
            c = c.labels(
                self.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            );
        }
        if let Some(w) = &self.working_dir {
            c = c.working_dir(w.clone());
        }
        if let Some(u) = &self.user {
            c = c.user(u.clone());
        }
        let history: Vec<_> = layers
            .iter()
            .map(|_| {
                HistoryBuilder::default()
                    .created(FIXED_CREATED)
                    .created_by("ferry image build")
                    .build()
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(err)?;
        ImageConfigurationBuilder::default()
            .created(FIXED_CREATED)
            .architecture(Arch::default())
            .os(Os::Linux)
            .config(c.build().map_err(err)?)
            .rootfs(
                RootFsBuilder::default()
                    .typ("layers")
                    .diff_ids(layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>())
                    .build()
                    .map_err(err)?,
            )
            .history(history)
            .build()
            .map_err(err)
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
