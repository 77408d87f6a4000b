//! `callrec config example|check`: print a starter config, or load one and summarize it without
//! ever showing a key (a postgres URL is shown without its password).

use std::fmt::Write as _;
use std::process::ExitCode;

use callrec_server::config::{
    Config, STARTER_SDKAPPID, StoreUrl, random_secret_key, redact_url, starter_config,
};
use callrec_server::ops::{self, Generation};

use crate::cli::{ConfigAction, ConfigArgs};
use crate::error::Error;

/// Runs `callrec config …`.
pub fn run(args: &ConfigArgs) -> Result<ExitCode, Error> {
    match &args.action {
        ConfigAction::Example => {
            print!("{}", starter_config(STARTER_SDKAPPID, &random_secret_key()));
        }
        ConfigAction::Check { config } => {
            let config = std::path::absolute(config).unwrap_or_else(|_| config.clone());
            let loaded = Config::load(&config)?;
            println!("{} is valid", config.display());
            print!("{}", summary(&loaded));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A readable summary of a loaded config. Never includes a secret key.
pub fn summary(c: &Config) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "listen:        {}", c.listen);
    let _ = writeln!(s, "data_dir:      {}", c.data_dir.display());
    let tls = if c.insecure_http {
        "none (insecure_http: plain HTTP)".to_owned()
    } else {
        match &c.tls {
            Some((cert, key)) => format!("{} / {}", cert.display(), key.display()),
            None => format!(
                "self-signed, {}",
                crate::connection::server_cert_path(c).display()
            ),
        }
    };
    let _ = writeln!(s, "tls:           {tls}");
    let store = match &c.store {
        StoreUrl::Sqlite(p) => format!("sqlite, {}", p.display()),
        StoreUrl::Postgres(url) => format!("postgres, {}", redact_url(url)),
    };
    let _ = writeln!(s, "store:         {store}");
    let redis = c.rate_limit.redis_url.as_ref().map_or_else(
        || "none (limits are per node)".to_owned(),
        |u| redact_url(u.expose()),
    );
    let _ = writeln!(s, "rate_limit:    redis {redis}");
    let _ = writeln!(s, "retention:     {} days", c.retention_days);
    let _ = writeln!(
        s,
        "calls:         ring_timeout_secs {}, max_idle_secs {}",
        c.calls.ring_timeout_secs, c.calls.max_idle_secs
    );
    for app in &c.apps {
        let limit = |n: u32| {
            if n == 0 {
                "unlimited".to_owned()
            } else {
                format!("{n}/s")
            }
        };
        let _ = writeln!(s, "app {}:", app.sdkappid);
        let _ = writeln!(s, "  admins:             {}", app.admins.join(", "));
        let _ = writeln!(s, "  group_call_package: {}", app.group_call_package);
        for generation in Generation::ALL {
            let limits: Vec<String> = ops::of(generation)
                .map(|e| format!("{} {}", e.name, limit(app.rate_limits.per_second(e.name))))
                .collect();
            let _ = writeln!(
                s,
                "  {} rate limits:     {}",
                generation.as_str(),
                limits.join(", ")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn summary_shows_apps_and_limits_but_never_the_key() {
        let key = "0123456789abcdef-very-secret";
        let c = Config::from_toml_str(&starter_config(42, key), Path::new("/srv")).unwrap();
        let s = summary(&c);
        assert!(!s.contains(key), "{s}");
        assert!(s.contains("app 42:"), "{s}");
        assert!(s.contains("administrator"), "{s}");
        assert!(s.contains("get_record_by_callId 20/s"), "{s}");
        assert!(s.contains("report_events unlimited"), "{s}");
        assert!(s.contains("sqlite, /srv/data/callrec.db"), "{s}");
        assert!(s.contains("redis none"), "{s}");
    }

    #[test]
    fn summary_shows_the_redis_url_without_its_password() {
        let text = format!(
            "{}\n[rate_limit]\nredis_url = \"redis://:pw@127.0.0.1:6379\"\n",
            starter_config(42, "k")
        );
        let c = Config::from_toml_str(&text, Path::new("/srv")).unwrap();
        let s = summary(&c);
        assert!(s.contains("redis redis://:***@127.0.0.1:6379"), "{s}");
        assert!(!s.contains("pw@"), "{s}");
    }

    #[test]
    fn postgres_passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }
}
