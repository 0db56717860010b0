//! Image configs and manifests, assembled in one place for every image
//! ferry writes (`ferry image build` and Dockerfile builds): a
//! [`ConfigSpec`] becomes an OCI config with a fixed creation time and the
//! default `PATH`; [`write_manifest`] stores a config and a manifest over
//! it and the layers as canonical JSON, so equal inputs give equal digests.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder,
    ImageManifest, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};

use super::{FIXED_CREATED, canonical_json};
use crate::digest;
use crate::error::{Error, Result};
use crate::store::Store;

/// The `PATH` of an image whose environment sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What an image config says; unset and empty fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSpec {
    /// `KEY=value`; `PATH` is added first when missing.
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `8080/tcp`, `53/udp`.
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    /// One entry per step; entries that made a layer line up with `diff_ids`.
    pub history: Vec<HistoryEntry>,
    /// The uncompressed digests of the layers, lowest first.
    pub diff_ids: Vec<String>,
}

/// One history entry of an image config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub created_by: String,
    /// The step changed only the config.
    pub empty_layer: bool,
}

impl ConfigSpec {
    /// The OCI image config (linux, this machine's architecture).
    pub fn to_oci(&self) -> Result<ImageConfiguration> {
        let err = |e: oci_spec::OciSpecError| Error::Build(format!("image config: {e}"));
        let mut env = self.env.clone();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        let mut c = ConfigBuilder::default().env(env);
        if let Some(v) = &self.entrypoint {
            c = c.entrypoint(v.clone());
        }
        if let Some(v) = &self.cmd {
            c = c.cmd(v.clone());
        }
        if let Some(v) = &self.working_dir {
            c = c.working_dir(v.clone());
        }
        if let Some(v) = &self.user {
            c = c.user(v.clone());
        }
        if !self.labels.is_empty() {
            c = c.labels(self.labels.clone().into_iter().collect::<HashMap<_, _>>());
        }
        if !self.exposed_ports.is_empty() {
            c = c.exposed_ports(self.exposed_ports.clone());
        }
        if !self.volumes.is_empty() {
            c = c.volumes(self.volumes.clone());
        }
        if let Some(v) = &self.stop_signal {
            c = c.stop_signal(v.clone());
        }
        let history = self
            .history
            .iter()
            .map(|h| {
                let mut b = HistoryBuilder::default()
                    .created(FIXED_CREATED)
                    .created_by(h.created_by.clone());
                if h.empty_layer {
                    b = b.empty_layer(true);
                }
                b.build()
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err)?;
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(self.diff_ids.clone())
            .build()
            .map_err(err)?;
        ImageConfigurationBuilder::default()
            .created(FIXED_CREATED)
            .architecture(Arch::default())
            .os(Os::Linux)
            .config(c.build().map_err(err)?)
            .rootfs(rootfs)
            .history(history)
            .build()
            .map_err(err)
    }
}

/// A manifest written to a store.
#[derive(Debug, Clone)]
pub struct WrittenManifest {
    /// Descriptor of the manifest (its digest names the image).
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    /// The exact bytes the digest covers.
    pub bytes: Vec<u8>,
}

/// Writes `config` (an OCI config, possibly with Docker's extensions) and
/// a manifest over it and `layers` into `store`, both as canonical JSON.
pub fn write_manifest<C: serde::Serialize>(
    store: &Store,
    config: &C,
    layers: Vec<Descriptor>,
) -> Result<WrittenManifest> {
    let config_bytes = canonical_json(config, "image config")?;
    let config_digest = store.write_blob(&config_bytes)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(Descriptor::new(
            MediaType::ImageConfig,
            config_bytes.len() as u64,
            digest::parse(&config_digest)?,
        ))
        .layers(layers)
        .build()
        .map_err(|e| Error::Build(format!("manifest: {e}")))?;
    let bytes = canonical_json(&manifest, "manifest")?;
    let manifest_digest = store.write_blob(&bytes)?;
    let descriptor = Descriptor::new(
        MediaType::ImageManifest,
        bytes.len() as u64,
        digest::parse(&manifest_digest)?,
    );
    Ok(WrittenManifest {
        descriptor,
        manifest,
        bytes,
    })
}
