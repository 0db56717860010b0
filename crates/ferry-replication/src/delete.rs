//! Replicated deletions (`spec.deletes`, Harbor's "replicate deletion"):
//! what was deleted in the source is deleted in the target, the way it
//! was deleted there.
//!
//! - A **tag** removed in the source (`DELETE /v2/<repo>/manifests/<tag>`)
//!   is removed in the target; the manifest stays, as it stays in the
//!   source. A target that cannot delete a tag alone (the OCI spec makes
//!   tag deletion optional; it answers 400 or 405) has the manifest deleted
//!   by digest instead — only when no other tag there points at it, since
//!   deleting the manifest would take those tags along.
//! - A **manifest** deleted by digest is deleted by digest in the target,
//!   which removes its tags there as the source's registry removed them.
//!
//! Before deleting, the source is asked again: a reference that is back
//! (re-pushed since the deletion) is kept. A reference the target does not
//! have is already where the source is: done.

use ferry_image::RegistryClient;

use crate::error::Result;
use crate::rule::Rule;

/// Applies the deletion of `repo:reference` in the source to the target.
pub(crate) async fn delete(rule: &Rule, repo: &str, reference: &str) -> Result<()> {
    if rule
        .source
        .client
        .head_manifest(repo, reference)
        .await?
        .is_some()
    {
        tracing::info!(rule = %rule.name, %repo, %reference, "deleted reference is back in the source; keeping it in the target");
        return Ok(());
    }
    let dst = &rule.target.client;
    if is_digest(reference) {
        dst.delete_manifest(repo, reference).await?;
        tracing::info!(rule = %rule.name, %repo, %reference, "replicated deletion of a manifest");
        return Ok(());
    }
    match dst.delete_manifest(repo, reference).await {
        Ok(_) => {
            tracing::info!(rule = %rule.name, %repo, tag = %reference, "replicated removal of a tag");
            Ok(())
        }
        Err(ferry_image::Error::Registry { status, .. }) if status == 400 || status == 405 => {
            delete_untaggable(rule, dst, repo, reference).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The target cannot delete a tag alone: delete its manifest when the tag
/// is the only one pointing at it.
async fn delete_untaggable(rule: &Rule, dst: &RegistryClient, repo: &str, tag: &str) -> Result<()> {
    let Some((digest, _, _)) = dst.head_manifest(repo, tag).await? else {
        return Ok(());
    };
    for other in dst.tags(repo).await? {
        if other != tag
            && dst
                .head_manifest(repo, &other)
                .await?
                .is_some_and(|m| m.0 == digest)
        {
            tracing::warn!(rule = %rule.name, %repo, %tag, shared_with = %other, "the target cannot remove a tag alone and its manifest has other tags; leaving it");
            return Ok(());
        }
    }
    dst.delete_manifest(repo, &digest).await?;
    tracing::info!(rule = %rule.name, %repo, %tag, %digest, "target cannot remove a tag alone; deleted its manifest");
    Ok(())
}

/// True for `alg:hex` references (tags cannot hold `:`).
pub(crate) fn is_digest(reference: &str) -> bool {
    reference.contains(':')
}
