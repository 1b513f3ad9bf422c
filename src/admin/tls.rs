//! The admin listener's HTTPS. The box has no name a public CA would sign
//! and often no internet, so it makes its own certificate at first start
//! (self-signed, kept in `<data_dir>/tls/`) and says its SHA-256
//! fingerprint in the start log and in `smileloop selftest`: staff compare
//! it once, when the browser first asks, and a phone on the guest Wi-Fi
//! cannot then read or change what staff send.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

pub const CERT_FILE: &str = "admin-cert.pem";
pub const KEY_FILE: &str = "admin-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("making the admin certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the admin certificate in {path} is not usable: {reason}")]
    Unusable { path: PathBuf, reason: String },
}

/// The admin listener's certificate and key.
pub struct AdminCert {
    pub cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl AdminCert {
    /// `AB:CD:…`, as browsers show a certificate's SHA-256 fingerprint.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert)
    }

    /// A TLS acceptor serving this certificate, HTTP/1.1 only.
    pub fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(vec![self.cert.clone()], self.key.clone_key())
            })
            .map_err(|e| TlsError::Unusable {
                path: PathBuf::from(CERT_FILE),
                reason: e.to_string(),
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

/// The SHA-256 fingerprint of a DER certificate, colon-separated hex.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tls")
}

/// The certificate in `<data_dir>/tls/` alone, for a client that trusts
/// exactly it (the self-test).
pub fn read_cert(data_dir: &Path) -> Result<CertificateDer<'static>, TlsError> {
    let path = dir(data_dir).join(CERT_FILE);
    CertificateDer::from_pem_file(&path).map_err(|e| TlsError::Unusable {
        path,
        reason: e.to_string(),
    })
}

/// A TLS client that trusts the certificate in `<data_dir>/tls/` alone:
/// the self-test's, talking to its own kiosk.
pub fn pinned_client(data_dir: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let path = dir(data_dir).join(CERT_FILE);
    let unusable = |reason: String| TlsError::Unusable {
        path: path.clone(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(read_cert(data_dir)?)
        .map_err(|e| unusable(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unusable(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificate kept in `<data_dir>/tls/`, made there first if there is
/// none. A pair that cannot be read is moved aside (`*.broken`) and a new
/// one made, so a damaged file never keeps the kiosk from starting.
/// `names` are the certificate's names: host names and IP addresses.
pub fn load_or_create(data_dir: &Path, names: &[String]) -> Result<AdminCert, TlsError> {
    let dir = dir(data_dir);
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if cert_path.exists() || key_path.exists() {
        match load(&cert_path, &key_path) {
            Ok(cert) => return Ok(cert),
            Err(e) => {
                tracing::warn!("{e}; moving it aside and making a new certificate");
                for path in [&cert_path, &key_path] {
                    let aside = path.with_extension("pem.broken");
                    if let Err(e) = std::fs::rename(path, &aside) {
                        if e.kind() != std::io::ErrorKind::NotFound {
                            return Err(TlsError::Io {
                                path: path.clone(),
                                source: e,
                            });
                        }
                    }
                }
            }
        }
    }
    create(&dir, names)
}

fn load(cert_path: &Path, key_path: &Path) -> Result<AdminCert, TlsError> {
    let unusable = |path: &Path, reason: String| TlsError::Unusable {
        path: path.to_path_buf(),
        reason,
    };
    let cert =
        CertificateDer::from_pem_file(cert_path).map_err(|e| unusable(cert_path, e.to_string()))?;
    let key =
        PrivateKeyDer::from_pem_file(key_path).map_err(|e| unusable(key_path, e.to_string()))?;
    let pair = AdminCert { cert, key };
    // A key that does not match the certificate fails here, not at the
    // first staff connection.
    pair.acceptor()
        .map_err(|e| unusable(cert_path, e.to_string()))?;
    Ok(pair)
}

fn create(dir: &Path, names: &[String]) -> Result<AdminCert, TlsError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "SmileLoop staff page");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "SmileLoop kiosk");
    let cert = params.self_signed(&key)?;
    // The key first: a certificate on disk always has its key beside it.
    write_whole(&dir.join(KEY_FILE), key.serialize_pem().as_bytes(), 0o600)?;
    write_whole(&dir.join(CERT_FILE), cert.pem().as_bytes(), 0o644)?;
    let made = AdminCert {
        cert: cert.der().clone(),
        key: PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| TlsError::Unusable {
            path: dir.join(KEY_FILE),
            reason: e.to_string(),
        })?,
    };
    tracing::info!(
        fingerprint = %made.fingerprint(),
        "made the admin listener's certificate"
    );
    Ok(made)
}

/// Writes `path` whole or not at all, on disk before it is renamed in.
fn write_whole(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("part");
    let err = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(parent) = path.parent() {
        crate::render::sync(parent).map_err(err)?;
    }
    Ok(())
}

/// The names the certificate carries: `localhost`, this box's host name
/// (and its `.local` mDNS name), loopback, and the admin address when it
/// is a single one.
pub fn names(host: Option<&str>, admin_address: IpAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if let Some(host) = host.map(str::trim).filter(|h| valid_host(h)) {
        names.push(host.to_string());
        if !host.contains('.') {
            names.push(format!("{host}.local"));
        }
    }
    names.extend(["127.0.0.1".to_string(), "::1".to_string()]);
    if !admin_address.is_unspecified() && !admin_address.is_loopback() {
        names.push(admin_address.to_string());
    }
    names.dedup();
    names
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h != "localhost"
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
        })
}

/// This box's host name, as the kernel has it.
pub fn host_name() -> Option<String> {
    let uname = rustix::system::uname();
    uname.nodename().to_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_reads_like_a_browsers() {
        let f = fingerprint(b"");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("E3:B0:C4:42"), "{f}");
    }

    #[test]
    fn names_cover_loopback_the_host_and_a_single_admin_address() {
        let n = names(Some("booth-7"), "192.168.4.1".parse().expect("ip"));
        assert_eq!(
            n,
            [
                "localhost",
                "booth-7",
                "booth-7.local",
                "127.0.0.1",
                "::1",
                "192.168.4.1"
            ]
        );
        let n = names(Some("bad host\n"), "0.0.0.0".parse().expect("ip"));
        assert_eq!(n, ["localhost", "127.0.0.1", "::1"]);
    }

    #[test]
    fn the_certificate_is_made_once_kept_and_a_broken_one_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = names(None, "0.0.0.0".parse().expect("ip"));
        let first = load_or_create(dir.path(), &names).expect("made");
        let again = load_or_create(dir.path(), &names).expect("loaded");
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_eq!(
            fingerprint(&read_cert(dir.path()).expect("read")),
            first.fingerprint()
        );
        let key = super::dir(dir.path()).join(KEY_FILE);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key is the service's alone");

        std::fs::write(&key, "not a key").expect("break it");
        let new = load_or_create(dir.path(), &names).expect("replaced");
        assert_ne!(new.fingerprint(), first.fingerprint());
        assert!(key.with_extension("pem.broken").exists());
    }
}
