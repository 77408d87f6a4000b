//! `callrec serve`: writes a starter config when none exists (and says how to use it), then runs
//! the server until SIGINT or SIGTERM, shutting down gracefully.

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use callrec_server::Server;
use callrec_server::config::{Config, STARTER_SDKAPPID, random_secret_key, starter_config};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::ServeArgs;
use crate::connection::{base_url, server_cert_path};
use crate::error::Error;

/// Writes a starter config to `path` (which must not exist), readable by its owner only.
pub fn write_starter_config(path: &Path) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(path))?;
    file.write_all(starter_config(STARTER_SDKAPPID, &random_secret_key()).as_bytes())
        .map_err(Error::io(path))
}

/// Quotes `s` for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// How to run this very binary again from a shell: `callrec` when it was found on PATH,
/// otherwise its full path.
fn self_command() -> String {
    let argv0 = std::env::args().next().unwrap_or_default();
    if !argv0.is_empty() && !argv0.contains('/') {
        return argv0;
    }
    std::env::current_exe()
        .map(|p| shell_quote(&p.display().to_string()))
        .unwrap_or_else(|_| "callrec".to_owned())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The "try it" text printed after a starter config was written: commands that work as pasted.
/// `file_listen` is the address the file itself names (without environment overrides): when the
/// server is bound elsewhere (port 0, `CALLREC_LISTEN`), the client commands name the URL.
pub fn quick_start(
    config_path: &Path,
    config: &Config,
    file_listen: Option<SocketAddr>,
    addr: SocketAddr,
    exe: &str,
) -> String {
    let app = &config.apps[0];
    let admin = app.admins.first().map_or("administrator", String::as_str);
    let cfg = shell_quote(&config_path.display().to_string());
    let url = base_url(addr, config.insecure_http);
    let url_flag = if file_listen != Some(addr) {
        format!(" --url {url}")
    } else {
        String::new()
    };
    let cacert = if config.insecure_http {
        String::new()
    } else {
        format!(
            " --cacert {}",
            shell_quote(&server_cert_path(config).display().to_string())
        )
    };
    let random: u32 = rand::random();
    format!(
        "\
Wrote a starter config to {cfg}
  sdkappid:    {sdkappid}
  admin:       {admin}
  secret key:  in {cfg} (secret_key of [[apps]]; keep the file private)

Try it from another terminal:
  {exe} simulate --config {cfg}{url_flag} --calls 100
  {exe} records filter --config {cfg}{url_flag} --since -1h
  {exe} console --config {cfg}{url_flag}
  curl{cacert} -X POST -d '{{\"startTimestamp\":0}}' \\
    \"{url}/v1/records/get_records_by_filter?sdkappid={sdkappid}&identifier={admin}&usersig=$({exe} usersig --config {cfg})&random={random}&contenttype=json\"
",
        sdkappid = app.sdkappid,
    )
}

/// Completes on the first SIGINT or SIGTERM. The handlers are installed by this call, before
/// the returned future is first polled.
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, Error> {
    let install = |kind| {
        signal(kind).map_err(|e| Error::Server(format!("cannot install a signal handler: {e}")))
    };
    let mut term = install(SignalKind::terminate())?;
    let mut int = install(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down: finishing in-flight requests");
    })
}

/// Runs `callrec serve`.
pub async fn run(args: &ServeArgs) -> Result<ExitCode, Error> {
    let path = absolute(&args.config);
    let written = if path.exists() {
        false
    } else {
        write_starter_config(&path)?;
        tracing::info!(config = %path.display(), "wrote a starter config");
        true
    };
    let config = Config::load(&path)?;
    let shutdown = shutdown_signal()?;
    let server = Server::bind(config.clone())
        .await
        .map_err(|e| Error::Server(e.to_string()))?;
    let addr = server.local_addr();
    if written {
        let file_listen = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| Config::from_toml_str(&text, Path::new("")).ok())
            .map(|c| c.listen);
        println!(
            "{}",
            quick_start(&path, &config, file_listen, addr, &self_command())
        );
    }
    println!("listening on {}", base_url(addr, config.insecure_http));
    if !config.insecure_http && config.tls.is_none() {
        println!(
            "certificate: {} (self-signed; curl --cacert it, or callrec --cacert)",
            server_cert_path(&config).display()
        );
    }
    server
        .run(shutdown)
        .await
        .map_err(|e| Error::Server(e.to_string()))?;
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("/tmp/a-b/c.toml"), "/tmp/a-b/c.toml");
        assert_eq!(shell_quote("/tmp/my dir"), "'/tmp/my dir'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn starter_config_is_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/callrec.toml");
        write_starter_config(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(Config::load(&path).is_ok());
        assert!(write_starter_config(&path).is_err());
    }
}
