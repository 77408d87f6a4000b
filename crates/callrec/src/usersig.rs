//! `callrec usersig`: sign a UserSig exactly as TLSSigAPIv2 does, from flags or (extension) from a
//! config's first app.

use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use callrec_server::config::Config;
use secrecy::{ExposeSecret, SecretString};

use crate::cli::UsersigArgs;
use crate::error::Error;

/// Reads a secret key file, trimming surrounding whitespace.
pub fn read_key_file(path: &Path) -> Result<SecretString, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the key file is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(key.to_owned()))
}

/// Now, Unix seconds, as the UserSig's `TLS.time`.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs a UserSig issued now.
pub fn sign(sdkappid: u64, key: &SecretString, identifier: &str, expire: u64) -> String {
    callrec_usersig::generate(
        sdkappid,
        key.expose_secret(),
        identifier,
        expire,
        unix_now(),
    )
}

/// Runs `callrec usersig`.
pub fn run(args: &UsersigArgs) -> Result<ExitCode, Error> {
    let (sdkappid, key, identifier) = match &args.config {
        Some(path) => {
            let config = Config::load(path)?;
            let app = &config.apps[0];
            let sdkappid = args.sdkappid.unwrap_or(app.sdkappid);
            let key = match (&args.key, &args.key_file) {
                (Some(k), _) => SecretString::from(k.clone()),
                (None, Some(f)) => read_key_file(f)?,
                (None, None) => config
                    .app(sdkappid)
                    .ok_or_else(|| {
                        Error::Usage(format!("sdkappid {sdkappid} is not in {}", path.display()))
                    })?
                    .secret_key
                    .clone(),
            };
            let identifier = match &args.identifier {
                Some(id) => id.clone(),
                None => app.admins.first().cloned().ok_or_else(|| {
                    Error::Usage("the app has no admins: pass --identifier".into())
                })?,
            };
            (sdkappid, key, identifier)
        }
        None => {
            let missing = || {
                Error::Usage(
                    "give --sdkappid, --key or --key-file, and --identifier (or --config PATH)"
                        .into(),
                )
            };
            let sdkappid = args.sdkappid.ok_or_else(missing)?;
            let key = match (&args.key, &args.key_file) {
                (Some(k), _) => SecretString::from(k.clone()),
                (None, Some(f)) => read_key_file(f)?,
                (None, None) => return Err(missing()),
            };
            let identifier = args.identifier.clone().ok_or_else(missing)?;
            (sdkappid, key, identifier)
        }
    };
    println!("{}", sign(sdkappid, &key, &identifier, args.expire));
    Ok(ExitCode::SUCCESS)
}
