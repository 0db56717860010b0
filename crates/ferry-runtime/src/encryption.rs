//! Secrets encrypted at rest in `state.db`, configured as Kubernetes'
//! `EncryptionConfiguration` with the `secretbox` provider (XSalsa20-
//! Poly1305, 32-byte keys): the first provider writes (`identity` first:
//! plain), every listed key reads; plain values (stored before encryption
//! was configured) are read, and sealed again at start. A stored value is `k8s:enc:secretbox:v1:<key name>:` followed by
//! the base64 of nonce, tag and ciphertext (NaCl's layout, as Kubernetes).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{AeadCore, AeadInPlace, KeyInit, OsRng};
use crypto_secretbox::{Key, Nonce, Tag, XSalsa20Poly1305};
use serde_json::Value;

use crate::error::{Error, Result};

const PREFIX: &str = "k8s:enc:secretbox:v1:";

/// Keys read from an `EncryptionConfiguration` file.
#[derive(Clone)]
pub struct Encryption {
    /// The key new values are sealed with; `None`: written plain (identity).
    write: Option<(String, Key)>,
    read: Vec<(String, Key)>,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.read.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Encryption")
            .field("write", &self.write.as_ref().map(|(n, _)| n))
            .field("keys", &names)
            .finish()
    }
}

impl Encryption {
    /// Reads the configuration at `path` (its `secrets` resource entry).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        let file = path.display().to_string();
        let docs = ferry_core::yaml::parse_documents(&file, &text)
            .map_err(|p| Error::Invalid(ferry_core::Problems(vec![p])))?;
        let bad = |message: String| Error::EncryptionConfig {
            file: file.clone(),
            message,
        };
        let doc = docs.first().ok_or_else(|| bad("no document".into()))?;
        if doc.kind() != Some("EncryptionConfiguration") {
            return Err(bad("kind must be EncryptionConfiguration".into()));
        }
        let resources = doc.value["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let entry = resources
            .iter()
            .find(|r| {
                r["resources"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|x| x == "secrets"))
            })
            .ok_or_else(|| bad("no entry for resources [secrets]".into()))?;
        Self::from_providers(
            &file,
            entry["providers"].as_array().cloned().unwrap_or_default(),
        )
    }

    /// The keys of `providers`, read from `file` (named in errors).
    fn from_providers(file: &str, providers: Vec<Value>) -> Result<Self> {
        let bad = |message: String| Error::EncryptionConfig {
            file: file.to_string(),
            message,
        };
        let mut out = Encryption {
            write: None,
            read: Vec::new(),
        };
        for (i, p) in providers.iter().enumerate() {
            if p.get("identity").is_some() {
                continue;
            }
            let Some(keys) = p.pointer("/secretbox/keys").and_then(Value::as_array) else {
                return Err(bad(format!(
                    "providers[{i}]: only secretbox and identity are supported"
                )));
            };
            for (j, k) in keys.iter().enumerate() {
                let name = k["name"].as_str().unwrap_or_default().to_string();
                let raw = STANDARD
                    .decode(k["secret"].as_str().unwrap_or_default())
                    .map_err(|e| bad(format!("providers[{i}].secretbox.keys[{j}].secret: {e}")))?;
                if raw.len() != 32 || name.is_empty() || name.contains(':') {
                    return Err(bad(format!(
                        "providers[{i}].secretbox.keys[{j}]: needs a name (no ':') and a base64 secret of 32 bytes (head -c 32 /dev/urandom | base64)"
                    )));
                }
                let key = *Key::from_slice(&raw);
                if i == 0 && j == 0 {
                    out.write = Some((name.clone(), key));
                }
                out.read.push((name, key));
            }
        }
        if providers.is_empty() {
            return Err(bad("no providers".into()));
        }
        Ok(out)
    }

    /// Seals `plain` with the write key (plain text under identity).
    pub fn seal(&self, plain: &str) -> String {
        let Some((name, key)) = &self.write else {
            return plain.to_string();
        };
        let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
        let mut buf = plain.as_bytes().to_vec();
        let tag = XSalsa20Poly1305::new(key)
            .encrypt_in_place_detached(&nonce, b"", &mut buf)
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&tag);
        bytes.extend_from_slice(&buf);
        format!("{PREFIX}{name}:{}", STANDARD.encode(bytes))
    }

    /// True when `stored` is already sealed with the current write key.
    pub fn is_current(&self, stored: &str) -> bool {
        match &self.write {
            Some((name, _)) => stored.starts_with(&format!("{PREFIX}{name}:")),
            None => !stored.starts_with(PREFIX),
        }
    }

    /// Opens a stored value (sealed, or plain when identity is listed).
    pub fn open(this: Option<&Self>, stored: &str) -> Result<String> {
        let sealed = |m: &dyn std::fmt::Display| Error::Sealed(m.to_string());
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let e = this.ok_or_else(|| {
            sealed(&"encrypted, but no encryption configuration is given (start the runtime with the EncryptionConfiguration that sealed it)")
        })?;
        let (name, b64) = rest
            .split_once(':')
            .ok_or_else(|| sealed(&"malformed encrypted value"))?;
        let (_, key) = e.read.iter().find(|(n, _)| n == name).ok_or_else(|| {
            sealed(&format!(
                "encrypted with key `{name}`, which the configuration does not list (add it to the secretbox keys)"
            ))
        })?;
        let bytes = STANDARD
            .decode(b64)
            .map_err(|e| sealed(&format!("malformed encrypted value: {e}")))?;
        if bytes.len() < 40 {
            return Err(sealed(&"encrypted value too short"));
        }
        let (nonce, rest) = bytes.split_at(24);
        let (tag, ct) = rest.split_at(16);
        let mut buf = ct.to_vec();
        XSalsa20Poly1305::new(key)
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                b"",
                &mut buf,
                Tag::from_slice(tag),
            )
            .map_err(|_| sealed(&format!("cannot decrypt with key `{name}` (wrong key?)")))?;
        String::from_utf8(buf).map_err(|e| sealed(&format!("decrypted value is not UTF-8: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(keys: &[(&str, u8)], identity_first: bool) -> Encryption {
        let keys: Vec<Value> = keys
            .iter()
            .map(|(n, b)| serde_json::json!({"name": n, "secret": STANDARD.encode([*b; 32])}))
            .collect();
        let mut providers = vec![serde_json::json!({"secretbox": {"keys": keys}})];
        let identity = serde_json::json!({"identity": {}});
        if identity_first {
            providers.insert(0, identity);
        } else {
            providers.push(identity);
        }
        Encryption::from_providers("test.yaml", providers).unwrap()
    }

    #[test]
    fn seal_open_and_rotate() {
        let one = config(&[("k1", 1)], false);
        let sealed = one.seal("{\"data\":\"s3cr3t\"}");
        assert!(sealed.starts_with("k8s:enc:secretbox:v1:k1:") && !sealed.contains("s3cr3t"));
        assert_eq!(
            Encryption::open(Some(&one), &sealed).unwrap(),
            "{\"data\":\"s3cr3t\"}"
        );
        // Rotation: k2 writes, k1 still reads.
        let two = config(&[("k2", 2), ("k1", 1)], false);
        assert!(!two.is_current(&sealed));
        assert!(Encryption::open(Some(&two), &sealed).is_ok());
        let wrong = config(&[("k1", 9)], false);
        assert!(
            Encryption::open(Some(&wrong), &sealed)
                .unwrap_err()
                .to_string()
                .contains("wrong key")
        );
        assert!(Encryption::open(None, &sealed).is_err());
        let plain = config(&[("k1", 1)], true);
        assert_eq!(plain.seal("x"), "x");
    }

    #[test]
    fn config_errors_name_the_file_and_provider() {
        let aes = vec![serde_json::json!({"aescbc": {"keys": []}})];
        let e = Encryption::from_providers("enc.yaml", aes).unwrap_err();
        assert!(matches!(e, Error::EncryptionConfig { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "enc.yaml: providers[0]: only secretbox and identity are supported"
        );
        let sealed = config(&[("k1", 1)], false).seal("x");
        let e = Encryption::open(None, &sealed).unwrap_err();
        assert!(matches!(e, Error::Sealed(_)), "{e:?}");
    }
}
