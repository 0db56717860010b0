//! The default [`ImageSource`]: images in an OCI layout store (built there
//! by the image toolkit or pulled into it from any OCI registry), unpacked
//! once per layer chain into a rootfs cache. `imagePullPolicy` decides
//! whether the registry is asked: Never (store only), IfNotPresent (store,
//! else pull), Always (pull; an image built locally with no reachable
//! registry is used from the store, with a warning).

use std::path::PathBuf;

use ferry_image::rootfs::RootfsCache;
use ferry_image::unpack::UnpackOptions;
use ferry_image::{ImageRef, LocalImage, PullOptions, RegistryClient, Store};

use crate::error::{Error, Result};
use crate::images::{ImageConfig, ImageFuture, ImageSource, PullPolicy, Unpacked};

/// Images from an OCI store and registries.
#[derive(Debug, Clone)]
pub struct OciImages {
    pub store: Store,
    pub cache: RootfsCache,
}

impl OciImages {
    /// Store under `<dir>/store`, rootfs cache under `<dir>/rootfs`.
    pub fn open(dir: PathBuf) -> Result<Self> {
        let store = Store::open(dir.join("store"))?;
        let cache = RootfsCache::open(dir.join("rootfs"))?;
        Ok(Self { store, cache })
    }

    fn local(&self, image: &str) -> Option<LocalImage> {
        if let Ok(i) = self.store.image(image) {
            return Some(i);
        }
        let r = ImageRef::parse(image).ok()?;
        self.store.image(&r.to_string()).ok()
    }

    async fn pull(&self, image: &str) -> Result<LocalImage> {
        let r = ImageRef::parse(image)?;
        let client = RegistryClient::new(&r.registry, None)?;
        let pulled = ferry_image::pull(&client, &r, &self.store, &PullOptions::default()).await?;
        let _ = self.store.tag(image, &pulled.descriptor);
        Ok(pulled)
    }

    async fn unpack(&self, image: LocalImage) -> Result<Unpacked> {
        let (store, cache) = (self.store.clone(), self.cache.clone());
        let id = image.digest();
        let cfg = image.config.config().clone().unwrap_or_default();
        let started = std::time::Instant::now();
        let rootfs = tokio::task::spawn_blocking(move || {
            cache.get_or_unpack(&store, &image, &UnpackOptions::default())
        })
        .await
        .map_err(|e| Error::Other(format!("unpack task: {e}")))??;
        let config = ImageConfig {
            entrypoint: cfg.entrypoint().clone().unwrap_or_default(),
            cmd: cfg.cmd().clone().unwrap_or_default(),
            env: cfg.env().clone().unwrap_or_default(),
            working_dir: cfg.working_dir().clone().filter(|w| !w.is_empty()),
            user: cfg.user().clone().filter(|u| !u.is_empty()),
        };
        Ok(Unpacked {
            rootfs,
            config,
            id,
            unpack: started.elapsed(),
        })
    }
}

impl ImageSource for OciImages {
    fn get<'a>(&'a self, image: &'a str, policy: PullPolicy) -> ImageFuture<'a> {
        Box::pin(async move {
            let local = self.local(image);
            let chosen = match (policy, local) {
                (PullPolicy::Never, Some(l)) | (PullPolicy::IfNotPresent, Some(l)) => l,
                (PullPolicy::Never, None) => {
                    return Err(Error::NotPresent {
                        image: image.to_string(),
                    });
                }
                (PullPolicy::IfNotPresent, None) => self.pull(image).await?,
                (PullPolicy::Always, local) => match self.pull(image).await {
                    Ok(l) => l,
                    Err(e) => match local {
                        Some(l) => {
                            tracing::warn!(image, error = %e, "pull failed; using the image already in the store");
                            l
                        }
                        None => return Err(e),
                    },
                },
            };
            self.unpack(chosen).await
        })
    }
}
