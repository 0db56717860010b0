//! Property tests of the user-facing topology loader: whatever bytes a user
//! feeds it, it never panics, and every rejection names the file it read.

use ferry_core::Error;
use ferry_core::topology::Topology;
use proptest::prelude::*;

const VALID: &str = "\
apiVersion: ferry.dev/v1alpha1
kind: Region
metadata: {name: uk}
spec:
  listeners: {api: 127.0.0.1:7071, registry: 127.0.0.1:5001, gateway: 127.0.0.1:8081}
---
apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: {name: dev}
spec: {region: uk}
";

fn check(text: String) {
    match Topology::from_sources(&[("fuzz.yaml".to_string(), text)]) {
        Ok(t) => assert!(!t.regions.is_empty()),
        Err(Error::Invalid(p)) => {
            assert!(!p.0.is_empty());
            assert!(p.0.iter().all(|p| p.file == "fuzz.yaml"));
        }
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(text);
    }

    #[test]
    fn yaml_shaped_noise_never_panics(text in "([a-zA-Z:{}\\[\\], \\-\n#'\"&*!|>]{0,12}\n?){0,20}") {
        check(text);
    }

    #[test]
    fn mutated_valid_topology_never_panics(pos in 0usize..VALID.len(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = VALID.as_bytes().to_vec();
        if cut { bytes.truncate(pos) } else { bytes[pos] = byte }
        check(String::from_utf8_lossy(&bytes).into_owned());
    }
}
