//! `callrec console`: the web console's address with a fresh admin UserSig in its fragment.
//!
//! A URL fragment never reaches the server (nor its logs, nor a proxy's): the page reads the
//! sign-in from it, keeps it in the tab's sessionStorage and removes it from the address bar.

use std::process::ExitCode;

use secrecy::ExposeSecret;

use crate::cli::ConsoleArgs;
use crate::connection::Connection;
use crate::error::Error;
use crate::usersig::unix_now;

/// `{base}/console/#sdkappid=…&identifier=…&usersig=…` for a UserSig issued at `now`.
pub fn console_url(connection: &Connection, expire: u64, now: u64) -> String {
    let usersig = callrec_usersig::generate(
        connection.sdkappid,
        connection.key.expose_secret(),
        &connection.identifier,
        expire,
        now,
    );
    let fragment = form_urlencoded::Serializer::new(String::new())
        .append_pair("sdkappid", &connection.sdkappid.to_string())
        .append_pair("identifier", &connection.identifier)
        .append_pair("usersig", &usersig)
        .finish();
    format!("{}/console/#{fragment}", connection.base_url)
}

/// Runs `callrec console`.
pub fn run(args: &ConsoleArgs) -> Result<ExitCode, Error> {
    if args.expire == 0 {
        return Err(Error::Usage("--expire must be at least 1 second".into()));
    }
    let connection = Connection::resolve(&args.connect)?;
    println!("{}", console_url(&connection, args.expire, unix_now()));
    let hours = args.expire / 3600;
    let valid = if hours > 0 && args.expire.is_multiple_of(3600) {
        format!("{hours} hours")
    } else {
        format!("{} seconds", args.expire)
    };
    eprintln!(
        "Open it in a browser on this machine: it signs in as {} of app {} for {valid}.",
        connection.identifier, connection.sdkappid
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Trust;
    use secrecy::SecretString;

    #[test]
    fn the_link_carries_a_usersig_the_server_accepts_for_that_admin() {
        let connection = Connection {
            base_url: "https://127.0.0.1:8443".into(),
            sdkappid: 1_400_000_001,
            key: SecretString::from("k".repeat(64)),
            identifier: "ops admin".into(),
            trust: Trust::Default,
        };
        let url = console_url(&connection, 43_200, 1_800_000_000);
        let fragment = url
            .strip_prefix("https://127.0.0.1:8443/console/#")
            .unwrap();
        let pairs: Vec<(String, String)> = form_urlencoded::parse(fragment.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(pairs[0], ("sdkappid".into(), "1400000001".into()));
        assert_eq!(pairs[1], ("identifier".into(), "ops admin".into()));
        assert_eq!(pairs[2].0, "usersig");
        let verified = callrec_usersig::verify(
            &pairs[2].1,
            1_400_000_001,
            "ops admin",
            &"k".repeat(64),
            1_800_043_200,
        );
        assert!(verified.is_ok(), "{verified:?}");
        let expired = callrec_usersig::verify(
            &pairs[2].1,
            1_400_000_001,
            "ops admin",
            &"k".repeat(64),
            1_800_043_201,
        );
        assert!(expired.is_err());
    }
}
