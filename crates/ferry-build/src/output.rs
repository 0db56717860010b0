//! Where a built image goes: an OCI image layout directory (blobs copied
//! from the build store, the image named by each tag), or a registry
//! (pushed with the image toolkit, plain HTTP for loopback registries).

use std::path::Path;

use ferry_image::push::{PushOptions, push as push_image};
use ferry_image::{ImageRef, RegistryClient, Store};

use crate::error::{Error, Result};
use crate::exec::{BuildOptions, Built};

fn img(context: &str) -> impl Fn(ferry_image::Error) -> Error + '_ {
    move |e| Error::Image {
        context: context.to_string(),
        message: e.to_string(),
    }
}

/// Copies the image into the OCI layout at `dir` and names it `names`
/// there (`latest` when empty).
pub fn write_layout(built: &Built, dir: &Path, names: &[String]) -> Result<()> {
    let out = Store::open(dir).map_err(img("open output layout"))?;
    let manifest: ferry_image::oci::ImageManifest =
        serde_json::from_slice(&built.manifest_bytes)
            .map_err(|e| Error::Options(format!("manifest: {e}")))?;
    let mut digests: Vec<String> = manifest
        .layers()
        .iter()
        .map(|l| l.digest().to_string())
        .collect();
    digests.push(manifest.config().digest().to_string());
    digests.push(built.digest());
    for d in digests {
        if out.has_blob(&d) {
            continue;
        }
        let tmp = out.ingest_path();
        let src = built.store.blob_path(&d);
        Error::copy(&src, &tmp)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::io(&tmp, e)
            })?;
        out.commit(&tmp, &d).map_err(img("write output layout"))?;
    }
    let default = vec!["latest".to_string()];
    for name in if names.is_empty() { &default } else { names } {
        out.tag(name, &built.descriptor)
            .map_err(img("name image in output layout"))?;
    }
    Ok(())
}

/// Pushes the image to every reference in `tags`; returns the digest.
pub async fn push(built: &Built, tags: &[String], opts: &PushOptions) -> Result<String> {
    let mut digest = built.digest();
    for tag in tags {
        let target = ImageRef::parse(tag).map_err(img("image reference"))?;
        built
            .store
            .tag(tag, &built.descriptor)
            .map_err(img("name image in build store"))?;
        let client = RegistryClient::new(&target.registry, None).map_err(img("registry client"))?;
        digest = push_image(&client, &built.store, tag, &target, opts)
            .await
            .map_err(img(&format!("push {tag}")))?;
    }
    Ok(digest)
}

/// What pipelines call: builds `opts` on a blocking thread, then pushes
/// the image to every reference in `tags`. A failed build pushes nothing.
pub async fn build_and_push(
    opts: BuildOptions,
    tags: Vec<String>,
    progress: std::sync::Arc<dyn Fn(crate::Event) + Send + Sync>,
) -> Result<Built> {
    let built = tokio::task::spawn_blocking(move || crate::exec::build(&opts, &|e| progress(e)))
        .await
        .map_err(|e| Error::Options(format!("build task failed: {e}")))??;
    push(&built, &tags, &PushOptions::default()).await?;
    Ok(built)
}
