//! Base images for FROM and `COPY --from=<image>`: a name already in the
//! local store, else pulled from its registry with the image toolkit
//! (plain HTTP for loopback registries), for the host's platform.

use ferry_image::pull::{Platform, PullOptions, image_name, pull};
use ferry_image::{ImageRef, LocalImage, RegistryClient, Store};

use crate::error::{Error, InputError, Result};

/// Checks a `--platform` value against the host.
pub fn check_platform(wanted: &str) -> std::result::Result<(), InputError> {
    let host = Platform::current();
    let want =
        Platform::parse(wanted).ok_or_else(|| InputError::InvalidPlatform(wanted.to_string()))?;
    if want.os != host.os || want.architecture != host.architecture {
        return Err(InputError::ForeignPlatform {
            wanted: wanted.to_string(),
            host: format!("{}/{}", host.os, host.architecture),
        });
    }
    Ok(())
}

/// The image `reference` from `store`, pulling it first when missing.
/// `oci:DIR[:NAME]` (buildah's transport syntax) reads an OCI image layout.
pub fn resolve(store: &Store, reference: &str, on_pull: &dyn Fn(&str)) -> Result<LocalImage> {
    if let Some(rest) = reference.strip_prefix("oci:") {
        return from_layout(store, reference, rest);
    }
    if let Ok(img) = store.image(reference) {
        return Ok(img);
    }
    let img_err = |e: ferry_image::Error| Error::Image {
        context: format!("base image `{reference}`"),
        message: e.to_string(),
    };
    let r = ImageRef::parse(reference).map_err(img_err)?;
    if let Ok(img) = store.image(&image_name(&r)) {
        return Ok(img);
    }
    on_pull(reference);
    let client = RegistryClient::new(&r.registry, None).map_err(img_err)?;
    // A thread of its own with its own runtime: callable from sync code and
    // from inside a tokio runtime alike.
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io("tokio runtime", e))?;
            rt.block_on(pull(&client, &r, store, &PullOptions::default()))
                .map_err(img_err)
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Options("pull thread panicked".into())))
    })
}

/// Copies the image `NAME` (default `latest`, or the only one) of the OCI
/// layout `DIR` into `store`, named `reference` there.
fn from_layout(store: &Store, reference: &str, rest: &str) -> Result<LocalImage> {
    let img_err = |e: ferry_image::Error| Error::Image {
        context: format!("base image `{reference}`"),
        message: e.to_string(),
    };
    let (dir, name) = match rest.split_once(':') {
        Some((d, n)) => (d, Some(n)),
        None => (rest, None),
    };
    if !std::path::Path::new(dir).join("index.json").is_file() {
        return Err(Error::Image {
            context: format!("base image `{reference}`"),
            message: format!("{dir} is not an OCI image layout (no index.json)"),
        });
    }
    let layout = Store::open(dir).map_err(img_err)?;
    let name = match name {
        Some(n) => n.to_string(),
        None => {
            let names: Vec<String> = layout
                .list()
                .map_err(img_err)?
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            match names.as_slice() {
                [one] => one.clone(),
                _ if names.iter().any(|n| n == "latest") => "latest".into(),
                _ => {
                    return Err(Error::Image {
                        context: format!("base image `{reference}`"),
                        message: format!("name the image: {dir} holds {}", names.join(", ")),
                    });
                }
            }
        }
    };
    let img = layout.image(&name).map_err(img_err)?;
    let mut blobs: Vec<String> = img
        .manifest
        .layers()
        .iter()
        .map(|l| l.digest().to_string())
        .collect();
    blobs.push(img.manifest.config().digest().to_string());
    blobs.push(img.digest());
    for d in blobs {
        if store.has_blob(&d) {
            continue;
        }
        let tmp = store.ingest_path();
        let src = layout.blob_path(&d);
        Error::copy(&src, &tmp)?;
        store.commit(&tmp, &d).map_err(img_err)?;
    }
    store.tag(reference, &img.descriptor).map_err(img_err)?;
    store.image(reference).map_err(img_err)
}
