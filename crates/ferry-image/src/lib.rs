//! ferry's OCI image toolkit, used by the CLI (`ferry image ...`), the
//! builder, the runtime (pull and unpack) and replication (copy between
//! registries).
//!
//! - [`client::RegistryClient`]: OCI distribution client for one registry —
//!   manifests, blobs (streamed, digest-verified, resumable), tags, catalog,
//!   Docker token auth, plain HTTP for loopback registries.
//! - [`pull()`] / [`push()`]: whole images between a registry and the local
//!   [`Store`] (an OCI image layout), layers in parallel.
//! - [`build::ImageBuilder`]: images from directories, from a Linux binary
//!   plus its shared libraries and loader, or from busybox-static
//!   ([`build::busybox`]), deterministic (same input, same digest).
//! - [`unpack`] / [`rootfs::RootfsCache`]: safe layer extraction into a
//!   root filesystem, once per chain of layers.
//!
//! ```no_run
//! # async fn demo() -> ferry_image::Result<()> {
//! use ferry_image::{ImageRef, RegistryClient, Store, build::busybox, pull, push};
//! let store = Store::open("/tmp/ferry-store")?;
//! // A busybox image whose httpd answers "v1" on port 8080.
//! let built = busybox::httpd_image("v1", 8080)?.build(&store, Some("myapp:v1"))?;
//! let target = ImageRef::parse("127.0.0.1:5000/myapp:v1")?;
//! let client = RegistryClient::new(&target.registry, None)?;
//! push::push(&client, &store, "myapp:v1", &target, &Default::default()).await?;
//! let image = pull::pull(&client, &target, &store, &Default::default()).await?;
//! assert_eq!(image.digest(), built.digest());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod build;
pub mod client;
pub mod digest;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
pub mod rootfs;
pub mod store;
pub mod unpack;

pub use client::{Credentials, RegistryClient};
pub use error::{Error, Result};
pub use progress::{Progress, ProgressEvent};
pub use pull::{PullOptions, pull};
pub use push::{PushOptions, push};
pub use reference::ImageRef;
pub use store::{LocalImage, Store};

/// The OCI types this crate speaks, re-exported for callers.
pub use oci_spec::image as oci;

#[cfg(feature = "test-util")]
pub mod testutil;
