//! Connection settings of the client commands (`records`, `simulate`): which server, which app,
//! which identity, which certificate to trust — from the config, each overridable by a flag.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use callrec_server::config::Config;
use secrecy::SecretString;

use crate::cli::ConnectArgs;
use crate::error::Error;
use crate::usersig::read_key_file;

/// How certificates are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The platform's usual roots plus this PEM file.
    CaCert(PathBuf),
    /// The usual roots only.
    Default,
    /// No verification at all (`--insecure`).
    Insecure,
}

/// Everything a client needs to call the API.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Base URL without a trailing slash, e.g. `https://127.0.0.1:8443`.
    pub base_url: String,
    /// The app.
    pub sdkappid: u64,
    /// The app's secret key.
    pub key: SecretString,
    /// The identity the UserSig is signed for.
    pub identifier: String,
    /// Certificate checking.
    pub trust: Trust,
}

/// The certificate a server running with `config` presents: its configured `tls_cert`, or the
/// self-signed one it generates under its data directory.
pub fn server_cert_path(config: &Config) -> PathBuf {
    let path = match &config.tls {
        Some((cert, _)) => cert.clone(),
        None => callrec_server::tls::self_signed_paths(&config.data_dir).0,
    };
    // `components` drops the `.` of `<dir>/./data/…` (a relative data_dir in the file).
    path.components().collect()
}

/// The URL a local client reaches a server listening on `addr` at (a wildcard address becomes the
/// loopback address of its family, which the self-signed certificate covers).
pub fn base_url(addr: SocketAddr, insecure_http: bool) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if insecure_http { "http" } else { "https" };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

impl Connection {
    /// Resolves the flags against the config file. The file may be missing only when the flags
    /// give everything (`--url`, `--sdkappid`, `--key`/`--key-file`, `--identifier`).
    pub fn resolve(args: &ConnectArgs) -> Result<Connection, Error> {
        let flags_complete = args.url.is_some()
            && args.sdkappid.is_some()
            && (args.key.is_some() || args.key_file.is_some())
            && args.identifier.is_some();
        let config = if flags_complete && !args.config.exists() {
            None
        } else if !args.config.exists() {
            return Err(Error::Usage(format!(
                "{} does not exist: pass --config PATH, or all of --url, --sdkappid, --key/--key-file and --identifier",
                args.config.display()
            )));
        } else {
            Some(Config::load(&args.config)?)
        };

        let app = config
            .as_ref()
            .map(|c| args.sdkappid.and_then(|id| c.app(id)).unwrap_or(&c.apps[0]));
        let sdkappid = match (args.sdkappid, app) {
            (Some(id), _) => id,
            (None, Some(app)) => app.sdkappid,
            (None, None) => unreachable!("flags_complete implies --sdkappid"),
        };
        let key = match (&args.key, &args.key_file, app) {
            (Some(k), _, _) => SecretString::from(k.clone()),
            (None, Some(f), _) => read_key_file(f)?,
            (None, None, Some(app)) if app.sdkappid == sdkappid => app.secret_key.clone(),
            _ => {
                return Err(Error::Usage(format!(
                    "sdkappid {sdkappid} is not in {}: pass --key or --key-file",
                    args.config.display()
                )));
            }
        };
        let identifier =
            match (&args.identifier, app) {
                (Some(id), _) => id.clone(),
                (None, Some(app)) => app.admins.first().cloned().ok_or_else(|| {
                    Error::Usage("the app has no admins: pass --identifier".into())
                })?,
                (None, None) => unreachable!("flags_complete implies --identifier"),
            };
        let base_url = match (&args.url, &config) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Some(c)) => {
                if c.listen.port() == 0 {
                    return Err(Error::Usage(format!(
                        "{} listens on port 0 (any free port): pass --url with the port `serve` printed",
                        args.config.display()
                    )));
                }
                base_url(c.listen, c.insecure_http)
            }
            (None, None) => unreachable!("flags_complete implies --url"),
        };
        let trust = if args.insecure {
            Trust::Insecure
        } else if let Some(path) = &args.cacert {
            Trust::CaCert(path.clone())
        } else {
            match &config {
                // The server's own certificate, when it exists yet.
                Some(c) if !c.insecure_http => {
                    let cert = server_cert_path(c);
                    if cert.exists() {
                        Trust::CaCert(cert)
                    } else {
                        Trust::Default
                    }
                }
                _ => Trust::Default,
            }
        };
        Ok(Connection {
            base_url,
            sdkappid,
            key,
            identifier,
            trust,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_become_loopback_urls() {
        assert_eq!(
            base_url("0.0.0.0:8443".parse().unwrap(), false),
            "https://127.0.0.1:8443"
        );
        assert_eq!(
            base_url("[::]:80".parse().unwrap(), true),
            "http://[::1]:80"
        );
        assert_eq!(
            base_url("10.1.2.3:9".parse().unwrap(), false),
            "https://10.1.2.3:9"
        );
    }
}
