//! A region's TLS material. With `generate: true` ferry keeps its own CA
//! under `<data dir>/tls/` (`ca.crt`, `ca.key` mode 0600; made once and
//! reused across restarts, so clients keep trusting it) and makes fresh
//! server certificates from it at every start: `api.crt`/`api.key` for the
//! API listener and, when `spec.registry.tls.generate` asks,
//! `registry.crt`/`registry.key`. Their names: `localhost`, 127.0.0.1, ::1,
//! the bound address and the spec's `hostnames`. Otherwise the files the
//! topology names are used (relative to the topology file's directory).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ferry_core::registry_spec::RegistryTls;
use ferry_core::topology::Region;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

use crate::Error;

/// Certificate and key files one listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What a region serves over TLS.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegionTls {
    /// The API listener's files (plain HTTP when absent).
    pub api: Option<TlsFiles>,
    /// The CA (PEM) clients of the API trust: generated, or `caFile`.
    pub api_ca: Option<PathBuf>,
    /// `spec.registry.tls` with generated files filled in.
    pub registry: Option<RegistryTls>,
}

/// Resolves (and where asked, generates) the TLS material of `region`,
/// whose listeners are bound at `api` and `registry`.
pub(crate) fn prepare(
    region: &Region,
    data_dir: &Path,
    config_dir: &Path,
    api: SocketAddr,
    registry: SocketAddr,
) -> Result<RegionTls, Error> {
    let name = region.metadata.name.as_str();
    let fail = |what: &Path, e: std::io::Error| Error::Tls {
        region: name.to_string(),
        message: format!("{}: {e}", what.display()),
    };
    let dir = data_dir.join("tls");
    let mut ca = None;
    let mut out = RegionTls::default();
    if let Some(spec) = &region.spec.tls {
        if spec.generate {
            let issuer = ca_for(&mut ca, name, &dir).map_err(|e| fail(&dir, e))?;
            // Pods reach the API as the `kubernetes` Service (ferry-runtime).
            let mut hostnames = spec.hostnames.clone();
            hostnames.extend(ferry_runtime::KUBERNETES_NAMES.map(String::from));
            let vip = ferry_runtime::RuntimeConfig::new(data_dir).vip_base;
            hostnames.push(ferry_runtime::kubernetes_vip(vip).to_string());
            let files = issue(&dir, "api", name, api.ip(), &hostnames, issuer)
                .map_err(|e| fail(&dir.join("api.crt"), e))?;
            out.api = Some(files);
            out.api_ca = Some(dir.join("ca.crt"));
        } else if let (Some(cert), Some(key)) = (&spec.cert_file, &spec.key_file) {
            out.api = Some(TlsFiles {
                cert: config_dir.join(cert),
                key: config_dir.join(key),
            });
            out.api_ca = spec.ca_file.as_ref().map(|c| config_dir.join(c));
        }
    }
    if let Some(spec) = region.spec.registry.as_ref().and_then(|r| r.tls.as_ref()) {
        let mut resolved = spec.clone();
        if spec.generate {
            let issuer = ca_for(&mut ca, name, &dir).map_err(|e| fail(&dir, e))?;
            let files = issue(
                &dir,
                "registry",
                name,
                registry.ip(),
                &spec.hostnames,
                issuer,
            )
            .map_err(|e| fail(&dir.join("registry.crt"), e))?;
            resolved.cert_file = files.cert;
            resolved.key_file = files.key;
        } else {
            resolved.cert_file = config_dir.join(&spec.cert_file);
            resolved.key_file = config_dir.join(&spec.key_file);
        }
        out.registry = Some(resolved);
    }
    Ok(out)
}

type Ca = (Certificate, KeyPair);

/// The region's CA, loaded or made on first use.
fn ca_for<'a>(slot: &'a mut Option<Ca>, region: &str, dir: &Path) -> std::io::Result<&'a Ca> {
    if slot.is_none() {
        *slot = Some(load_or_create_ca(region, dir)?);
    }
    Ok(slot.as_ref().expect("just filled"))
}

/// Reads the CA in `dir`, or makes one; returns it ready to sign.
fn load_or_create_ca(region: &str, dir: &Path) -> std::io::Result<Ca> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let (crt, key) = (dir.join("ca.crt"), dir.join("ca.key"));
    let params = ca_params(region);
    if key.exists() {
        let pem = std::fs::read_to_string(&key)?;
        let pair = KeyPair::from_pem(&pem).map_err(invalid)?;
        if !crt.exists() {
            return Err(std::io::Error::other(format!(
                "{} is missing next to ca.key; remove {} to make a new CA (clients must then trust the new ca.crt)",
                crt.display(),
                dir.display()
            )));
        }
        // Same subject and key as the ca.crt on disk, so what it signs
        // verifies against that file.
        let cert = params.self_signed(&pair).map_err(invalid)?;
        return Ok((cert, pair));
    }
    let pair = KeyPair::generate().map_err(invalid)?;
    let cert = params.self_signed(&pair).map_err(invalid)?;
    write_file(&key, pair.serialize_pem().as_bytes(), 0o600)?;
    write_file(&crt, cert.pem().as_bytes(), 0o644)?;
    tracing::info!(%region, ca = %crt.display(), "made a new TLS certificate authority");
    Ok((cert, pair))
}

fn ca_params(region: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.distinguished_name
        .push(DnType::CommonName, format!("ferry CA of region {region}"));
    p.distinguished_name.push(DnType::OrganizationName, "ferry");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(3650);
    p
}

/// Writes `<dir>/<stem>.crt` and `<stem>.key` (0600): a server certificate
/// for `bound`, the loopback names and `hostnames`, signed by `issuer`.
fn issue(
    dir: &Path,
    stem: &str,
    region: &str,
    bound: IpAddr,
    hostnames: &[String],
    issuer: &Ca,
) -> std::io::Result<TlsFiles> {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(
        DnType::CommonName,
        format!("ferry {stem} of region {region}"),
    );
    p.subject_alt_names = names(bound, hostnames).map_err(invalid)?;
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(397);
    let key = KeyPair::generate().map_err(invalid)?;
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).map_err(invalid)?;
    let files = TlsFiles {
        cert: dir.join(format!("{stem}.crt")),
        key: dir.join(format!("{stem}.key")),
    };
    write_file(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&files.cert, cert.pem().as_bytes(), 0o644)?;
    Ok(files)
}

/// The certificate's names: localhost, both loopback addresses, the bound
/// address (unless unspecified) and `hostnames`, without repeats.
fn names(bound: IpAddr, hostnames: &[String]) -> Result<Vec<SanType>, rcgen::Error> {
    let mut out = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress(Ipv4Addr::LOCALHOST.into()),
        SanType::IpAddress(Ipv6Addr::LOCALHOST.into()),
    ];
    let bound = bound.to_canonical();
    let mut more = Vec::new();
    if !bound.is_unspecified() {
        more.push(SanType::IpAddress(bound));
    }
    for h in hostnames {
        more.push(match h.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip.to_canonical()),
            Err(_) => SanType::DnsName(h.trim_end_matches('.').to_ascii_lowercase().try_into()?),
        });
    }
    for san in more {
        if !out.contains(&san) {
            out.push(san);
        }
    }
    Ok(out)
}

/// Replaces `path` with `data`, created with `mode` (never readable by
/// others in between: written to a sibling first, then renamed).
fn write_file(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path)
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
