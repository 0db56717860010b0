//! OCI/Docker manifests and indexes as the registry receives them
//! (`ferry_registry::manifest::parse`, with each `Content-Type` it knows or
//! none, chosen by the first byte) and as the client decodes them
//! (`oci-spec`'s `ImageManifest`, `ImageIndex`, `ImageConfiguration`), plus
//! digests and image references. Properties: what the registry accepts is
//! self-consistent (an index references no blobs, an image manifest at
//! least its config; every digest prints and re-parses to itself; parsing
//! is deterministic); what the client decodes re-serialises and re-parses
//! to the same value; a parsed reference, printed, parses to itself.

#![no_main]

use ferry_image::ImageRef;
use ferry_image::oci::{ImageConfiguration, ImageIndex, ImageManifest};
use ferry_registry::digest::Digest;
use ferry_registry::manifest::{self, MEDIA_TYPES};
use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};

fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(body: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<T>(body) {
        let again = serde_json::to_vec(&v).expect("a decoded value serialises");
        let back: T = serde_json::from_slice(&again).unwrap_or_else(|e| {
            panic!(
                "re-serialised {} does not parse: {e}\n{}",
                std::any::type_name::<T>(),
                String::from_utf8_lossy(&again)
            )
        });
        assert_eq!(back, v, "round trip changed the value");
    }
}

fn registry_side(body: &[u8], content_type: Option<&str>) {
    let Ok(parsed) = manifest::parse(body, content_type) else {
        return;
    };
    assert!(MEDIA_TYPES.contains(&parsed.media_type.as_str()));
    if parsed.is_index() {
        assert!(parsed.blobs.is_empty(), "an index references blobs");
    } else {
        assert!(
            !parsed.blobs.is_empty(),
            "an image manifest without its config"
        );
        assert!(
            parsed.manifests.is_empty(),
            "an image manifest lists manifests"
        );
    }
    for d in parsed
        .blobs
        .iter()
        .chain(&parsed.manifests)
        .chain(&parsed.subject)
    {
        let text = d.to_string();
        assert_eq!(
            text.parse::<Digest>().ok().as_ref(),
            Some(d),
            "digest {text} does not re-parse"
        );
    }
    assert_eq!(
        manifest::parse(body, content_type).ok(),
        Some(parsed.clone())
    );
    let digest = Digest::of(ferry_registry::digest::Algorithm::Sha256, body);
    let desc = manifest::referrer_descriptor(&parsed, &digest, body.len() as u64);
    assert_eq!(desc["digest"], digest.to_string());
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = MEDIA_TYPES
        .get(usize::from(selector) % (MEDIA_TYPES.len() + 1))
        .copied();
    registry_side(body, content_type);
    roundtrip::<ImageManifest>(body);
    roundtrip::<ImageIndex>(body);
    roundtrip::<ImageConfiguration>(body);
    if let Ok(text) = std::str::from_utf8(body)
        && text.len() < 512
    {
        if let Ok(d) = text.parse::<Digest>() {
            assert_eq!(d.to_string(), text, "a digest prints as it was given");
        }
        if let Ok(r) = ImageRef::parse(text) {
            let printed = r.to_string();
            let again = ImageRef::parse(&printed).unwrap_or_else(|e| {
                panic!("`{text}` parsed, prints as `{printed}`, which does not parse: {e}")
            });
            assert_eq!(
                again, r,
                "`{text}` prints as `{printed}`, which parses differently"
            );
        }
    }
});
