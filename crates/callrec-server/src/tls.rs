//! TLS: the rustls server configuration (TLS 1.2 and 1.3 only, ALPN `h2` then `http/1.1`) from
//! the configured PEM files, or from a self-signed certificate for `localhost`, `127.0.0.1` and
//! `::1` generated under `<data_dir>/tls/` on first start and reused afterwards.
//!
//! Guarantees: the generated key file is created with mode 0600; an existing pair is never
//! overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::ServerError;

/// Where the self-signed certificate and key live: `<data_dir>/tls/cert.pem` and `key.pem`.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The rustls configuration for `tls` (cert, key), or for the self-signed pair under `data_dir`
/// (generated when missing).
pub fn server_config(
    tls: Option<&(PathBuf, PathBuf)>,
    data_dir: &Path,
) -> Result<Arc<ServerConfig>, ServerError> {
    let (cert_path, key_path) = match tls {
        Some((c, k)) => (c.clone(), k.clone()),
        None => {
            let (c, k) = self_signed_paths(data_dir);
            if !(c.exists() && k.exists()) {
                generate_self_signed(&c, &k)?;
            }
            (c, k)
        }
    };
    let certs = load_certs(&cert_path)?;
    let key = load_key(&key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ServerError::Tls(format!("TLS protocol setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServerError::Tls(format!(
                "{} and {} do not form a usable certificate and key: {e}",
                cert_path.display(),
                key_path.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn io_err(path: &Path, e: &std::io::Error) -> ServerError {
    ServerError::Tls(format!("{}: {e}", path.display()))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let pem = std::fs::read(path).map_err(|e| io_err(path, &e))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io_err(path, &e))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "{}: no PEM certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServerError> {
    let pem = std::fs::read(path).map_err(|e| io_err(path, &e))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| io_err(path, &e))?
        .ok_or_else(|| ServerError::Tls(format!("{}: no PEM private key found", path.display())))
}

fn generate_self_signed(cert_path: &Path, key_path: &Path) -> Result<(), ServerError> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| ServerError::Tls(format!("generating a self-signed certificate: {e}")))?;
    if let Some(dir) = cert_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, &e))?;
    }
    // The key first: a cert without its key would be useless, and we regenerate both anyway.
    write_file(
        key_path,
        generated.signing_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_file(cert_path, generated.cert.pem().as_bytes(), 0o644)?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed TLS certificate");
    Ok(())
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), ServerError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(path).map_err(|e| io_err(path, &e))?;
    f.write_all(data).map_err(|e| io_err(path, &e))?;
    f.sync_all().map_err(|e| io_err(path, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_pair_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        server_config(None, dir.path()).unwrap();
        let (cert, key) = self_signed_paths(dir.path());
        let first = std::fs::read(&cert).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let config = server_config(None, dir.path()).unwrap();
        assert_eq!(std::fs::read(&cert).unwrap(), first);
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn missing_configured_certificate_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let pair = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let err = server_config(Some(&pair), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.pem"), "{err}");
    }
}
