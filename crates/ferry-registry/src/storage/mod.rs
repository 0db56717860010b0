//! The storage seam: everything the registry keeps goes through the
//! [`Storage`] trait, so object stores can be added later. Three areas:
//!
//! - **blobs**, content-addressed and immutable (layers, configs and
//!   manifests alike); a blob only becomes visible after its bytes were
//!   verified against its digest and made durable;
//! - **uploads**, append-only sessions that become blobs on commit;
//! - **metadata**, small keyed records (tags, repository links, referrers)
//!   replaced atomically.

mod chunks;
mod fs;
mod sys;
mod uploads;
mod write;

pub use fs::FsStorage;

use std::pin::Pin;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::Stream;

use crate::digest::Digest;
use crate::error::Result;

/// A request body or any other stream of bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// Size and last-use time of a stored blob or upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub size: u64,
    /// Last write or [`Storage::blob_touch`]; the GC grace period counts from here.
    pub modified: SystemTime,
}

/// Where the registry keeps its state. Every write is atomic: a reader sees
/// the old value or the new one, never a part, even across `kill -9`.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug + 'static {
    // === blobs ===
    /// Size and age of a blob, `None` when absent.
    async fn blob_stat(&self, digest: &Digest) -> Result<Option<Info>>;
    /// `len` bytes of the blob from `offset` on, as a stream of chunks
    /// (serving downloads), `None` when absent.
    async fn blob_stream(
        &self,
        digest: &Digest,
        offset: u64,
        len: u64,
    ) -> Result<Option<ByteStream>>;
    /// The whole blob if it is at most `limit` bytes (manifests).
    async fn blob_read(&self, digest: &Digest, limit: u64) -> Result<Option<Bytes>>;
    /// Stores `bytes` under `digest` after checking they hash to it.
    async fn blob_write(&self, digest: &Digest, bytes: Bytes) -> Result<()>;
    /// Marks a blob as just used, so GC's grace period protects it.
    async fn blob_touch(&self, digest: &Digest) -> Result<()>;
    /// Removes a blob; false when it was not there.
    async fn blob_delete(&self, digest: &Digest) -> Result<bool>;
    /// Every blob.
    async fn blob_list(&self) -> Result<Vec<(Digest, Info)>>;

    // === uploads ===
    /// Starts an empty upload session and returns its id.
    async fn upload_create(&self) -> Result<String>;
    /// Bytes received so far, `None` when the session does not exist.
    async fn upload_stat(&self, id: &str) -> Result<Option<Info>>;
    /// Appends `body`; when `at` is given it must equal the current size.
    /// Bytes received before a body error are kept, so a client can resume.
    async fn upload_append(&self, id: &str, at: Option<u64>, body: ByteStream) -> Result<u64>;
    /// Verifies the upload against `digest` and turns it into that blob.
    /// Returns the blob's size. A mismatch removes the session.
    async fn upload_commit(&self, id: &str, digest: &Digest) -> Result<u64>;
    /// Cancels a session (or removes a `tmp/<id>` staging file listed by
    /// [`Storage::upload_list`]); false when it did not exist.
    async fn upload_delete(&self, id: &str) -> Result<bool>;
    /// Every session, and every staging file as `tmp/<id>`, with its size
    /// and last write.
    async fn upload_list(&self) -> Result<Vec<(String, Info)>>;

    // === metadata ===
    /// The record at `key` (a `/`-separated path).
    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Atomically replaces the record at `key`.
    async fn meta_put(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Removes a record; false when absent.
    async fn meta_delete(&self, key: &str) -> Result<bool>;
    /// Names of the records and groups directly under `prefix`, sorted.
    async fn meta_list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Every repository that has a manifest area, sorted.
    async fn repositories(&self) -> Result<Vec<String>>;
}
