//! The `callrec` binary end to end: serve with a starter config, usersig, records and simulate
//! against a real server over TLS.

mod common;

use callrec_server::config::{Config, STARTER_SDKAPPID};
use secrecy::ExposeSecret as _;
use serde_json::Value;

use common::{KEY, Server, run, run_ok, write_config};

#[test]
fn serve_writes_a_starter_config_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.toml");
    let server = Server::start(&path, &[("CALLREC_LISTEN", "127.0.0.1:0")]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );

    let config = Config::load(&path).expect("the written config loads");
    assert_eq!(config.apps[0].sdkappid, STARTER_SDKAPPID);
    assert_eq!(config.apps[0].secret_key.expose_secret().len(), 64);
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the config holds the key: owner only");
    }
    let printed = server.stdout.lock().unwrap().clone();
    assert!(printed.contains(&STARTER_SDKAPPID.to_string()), "{printed}");
    assert!(printed.contains("administrator"), "{printed}");
    assert!(printed.contains(&path.display().to_string()), "{printed}");
    assert!(
        printed.contains(&format!("--url {}", server.url)),
        "port 0: the examples name the URL: {printed}"
    );
    assert!(!printed.contains(config.apps[0].secret_key.expose_secret()));

    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(common::cert_path(dir.path()).exists());
}

#[test]
fn serve_refuses_an_invalid_config_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path());
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("lisen = \"typo\"\n{good}")).unwrap();
    let out = run(&["serve", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "{}, line 1, column 1: unknown field `lisen`, expected one of `listen`, `data_dir`,",
        path.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("\n  1 | lisen = \"typo\""), "{err}");

    // A bad override is blamed on its variable, not on the file.
    std::fs::write(&path, &good).unwrap();
    let out = common::callrec()
        .args(["serve", "--config", path.to_str().unwrap()])
        .env("CALLREC_RETENTION__DAYS", "abc")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("environment variable CALLREC_RETENTION__DAYS=\"abc\" (overriding retention.days): expected a whole number"),
        "{err}"
    );
    assert!(!err.contains("callrec.toml"), "{err}");
}

#[test]
fn a_second_server_on_the_same_data_dir_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path());
    let first = Server::start(&path, &[("CALLREC_LISTEN", "127.0.0.1:0")]);
    let out = common::callrec()
        .args(["serve", "--config", path.to_str().unwrap()])
        .env("CALLREC_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let db = dir.path().join("data/callrec.db");
    assert!(
        err.contains(&format!(
            "{} is in use by another callrec process (process {})",
            db.display(),
            first.child.id()
        )),
        "{err}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening on"),
        "{out:?}"
    );
    assert!(first.terminate().success());
    // Once the first has stopped, the data is free for another.
    let second = Server::start(&path, &[("CALLREC_LISTEN", "127.0.0.1:0")]);
    assert!(second.terminate().success());
}

#[test]
fn usersig_command_matches_the_library() {
    let before = callrec_usersig_now();
    let sig = run_ok(&[
        "usersig",
        "--sdkappid",
        "1400000000",
        "--key",
        KEY,
        "--identifier",
        "alice",
        "--expire",
        "3600",
    ]);
    let sig = sig.trim();
    let token = callrec_usersig::decode(sig).unwrap();
    assert_eq!(token.identifier, "alice");
    assert_eq!(token.sdkappid, 1_400_000_000);
    assert_eq!(token.expire, 3600);
    assert!(token.time >= before && token.time <= callrec_usersig_now());
    callrec_usersig::verify(sig, 1_400_000_000, "alice", KEY, token.time).unwrap();
    // Byte for byte what the library makes for the same inputs.
    assert_eq!(
        sig,
        callrec_usersig::generate(1_400_000_000, KEY, "alice", 3600, token.time)
    );

    // From a key file, default expiry of 180 days.
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let sig = run_ok(&[
        "usersig",
        "--sdkappid",
        "7",
        "--key-file",
        key_file.to_str().unwrap(),
        "--identifier",
        "bob",
    ]);
    let token = callrec_usersig::decode(sig.trim()).unwrap();
    assert_eq!(token.expire, 86_400 * 180);
    callrec_usersig::verify(sig.trim(), 7, "bob", KEY, token.time).unwrap();

    // Extension: from the config's first app, for its first admin.
    let config = write_config(dir.path());
    let sig = run_ok(&["usersig", "--config", config.to_str().unwrap()]);
    let token = callrec_usersig::decode(sig.trim()).unwrap();
    callrec_usersig::verify(
        sig.trim(),
        STARTER_SDKAPPID,
        "administrator",
        KEY,
        token.time,
    )
    .unwrap();

    let out = run(&["usersig", "--sdkappid", "7", "--identifier", "bob"]);
    assert!(!out.status.success(), "a key is required");
}

fn callrec_usersig_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn records_and_simulate_work_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(&config, &[]);
    let cfg = config.to_str().unwrap();
    let url = server.url.as_str();

    let out = run_ok(&[
        "simulate", "--calls", "50", "--config", cfg, "--url", url, "--seed", "11",
    ]);
    assert!(out.contains("rejected 0"), "{out}");
    assert!(out.contains("failed requests 0"), "{out}");

    let json: Value = serde_json::from_str(&run_ok(&[
        "records", "filter", "--json", "--config", cfg, "--url", url, "--since", "-2h",
    ]))
    .unwrap();
    let total = json["totalNum"].as_u64().unwrap();
    assert!(total > 0, "{json}");
    let first = &json["callRecordList"][0];
    let call_id = first["callId"].as_str().unwrap();

    let got: Value = serde_json::from_str(&run_ok(&[
        "records", "get", call_id, "--json", "--config", cfg, "--url", url,
    ]))
    .unwrap();
    assert_eq!(&got, first);

    let table = run_ok(&["records", "filter", "--config", cfg, "--url", url]);
    assert!(table.starts_with("callId"), "{table}");
    assert!(table.contains(call_id), "{table}");
    assert!(table.contains(&format!("totalNum {total}")), "{table}");
    // The calls left out because they are still going on are counted, not silently missing.
    let planned_ongoing: usize = out
        .split("calls 50 (")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("simulate says how many calls it left ongoing");
    let hint = match planned_ongoing {
        0 => panic!("seed 11 leaves some calls ongoing: {out}"),
        1 => "1 call still ongoing is not listed (--result ongoing lists it)".to_owned(),
        n => format!("{n} calls still ongoing are not listed (--result ongoing lists them)"),
    };
    assert!(table.contains(&hint), "{table}");

    // Only ongoing calls when asked; the simulation made some.
    let ongoing: Value = serde_json::from_str(&run_ok(&[
        "records", "filter", "--json", "--result", "ongoing", "--config", cfg, "--url", url,
    ]))
    .unwrap();
    for r in ongoing["callRecordList"].as_array().unwrap() {
        assert_eq!(r["callResult"], "ongoing");
    }

    // The server folded every simulated call to the result the generator meant (same seed, same
    // calls), although some were sent out of order and some twice.
    let ended: Value = serde_json::from_str(&run_ok(&[
        "records",
        "filter",
        "--json",
        "--per-page",
        "1000",
        "--config",
        cfg,
        "--url",
        url,
    ]))
    .unwrap();
    let mut results = std::collections::HashMap::new();
    for list in [&ended, &ongoing] {
        for r in list["callRecordList"].as_array().unwrap() {
            results.insert(
                r["callId"].as_str().unwrap().to_owned(),
                r["callResult"].as_str().unwrap().to_owned(),
            );
        }
    }
    let mut generator = callrec::simulate::Generator::new(11);
    for _ in 0..50 {
        let call = generator.call(0);
        assert_eq!(
            results.get(&call.call_id).map(String::as_str),
            Some(call.scenario.expected().as_str()),
            "{:?}",
            call.scenario
        );
    }

    let missing = run(&[
        "records",
        "get",
        "no-such-call",
        "--config",
        cfg,
        "--url",
        url,
    ]);
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.starts_with("error 101050: "), "{err}");

    let status = server.terminate();
    assert!(status.success());
}

#[test]
fn config_example_and_check_describe_a_config_without_its_key() {
    let example = run_ok(&["config", "example"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callrec.toml");
    std::fs::write(&path, &example).unwrap();
    let summary = run_ok(&["config", "check", "--config", path.to_str().unwrap()]);
    assert!(
        summary.contains(&format!("app {STARTER_SDKAPPID}:")),
        "{summary}"
    );
    assert!(summary.contains("administrator"), "{summary}");
    let key = Config::load(&path).unwrap().apps[0]
        .secret_key
        .expose_secret()
        .to_owned();
    assert!(!summary.contains(&key));

    std::fs::write(&path, "[[apps]]\nsdkappid = 1\n").unwrap();
    let out = run(&["config", "check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret_key"));
}

#[test]
fn records_speak_v4_with_v4_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(&config, &[]);
    let cfg = config.to_str().unwrap();
    let url = server.url.as_str();
    run_ok(&[
        "simulate", "--calls", "30", "--config", cfg, "--url", url, "--seed", "5",
    ]);
    let v1: Value = serde_json::from_str(&run_ok(&[
        "records",
        "filter",
        "--json",
        "--per-page",
        "1000",
        "--config",
        cfg,
        "--url",
        url,
    ]))
    .unwrap();
    let v4: Value = serde_json::from_str(&run_ok(&[
        "records",
        "filter",
        "--v4",
        "--json",
        "--per-page",
        "1000",
        "--config",
        cfg,
        "--url",
        url,
    ]))
    .unwrap();
    assert_eq!(v4["TotalNum"], v1["totalNum"], "{v4}");
    let v1_list = v1["callRecordList"].as_array().unwrap();
    let v4_list = v4["CallRecordList"].as_array().unwrap();
    assert_eq!(v4_list.len(), v1_list.len());
    for (a, b) in v1_list.iter().zip(v4_list) {
        assert_eq!(a["callId"], b["CallId"]);
        assert_eq!(a["startCallTs"], b["StartTime"]);
        assert_eq!(b["CalleeList_Account"][0], a["caller"]);
    }
    let id = v4_list[0]["CallId"].as_str().unwrap();
    let one: Value = serde_json::from_str(&run_ok(&[
        "records", "get", id, "--v4", "--json", "--config", cfg, "--url", url,
    ]))
    .unwrap();
    assert_eq!(one["CallRecord"], v4_list[0]);
    let table = run_ok(&["records", "get", id, "--v4", "--config", cfg, "--url", url]);
    assert!(table.starts_with("callId") && table.contains(id), "{table}");
    let table = run_ok(&["records", "filter", "--v4", "--config", cfg, "--url", url]);
    assert!(table.contains("shown"), "{table}");
    let missing = run(&[
        "records", "get", "nope", "--v4", "--config", cfg, "--url", url,
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("error 101050: "));
    assert!(server.terminate().success());
}

/// As a new user would: `callbacks listen --configure v1` in one terminal, `simulate` in another;
/// every callback arrives, verified; `deliveries` lists them; Ctrl-C puts the configuration back.
#[test]
fn callbacks_listen_receives_and_verifies_what_simulate_causes() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(&config, &[]);
    let cfg = config.to_str().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut listen = common::callrec()
        .args([
            "callbacks",
            "listen",
            "--configure",
            "v1",
            "--port",
            &port.to_string(),
        ])
        .args(["--config", cfg, "--url", &server.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = BufReader::new(listen.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let mut next = |within: Duration| -> Option<String> {
        let line = rx.recv_timeout(within).ok()?;
        lines.push(line.clone());
        Some(line)
    };
    assert_eq!(
        next(Duration::from_secs(20)).unwrap(),
        format!("listening on http://127.0.0.1:{port}/callbacks")
    );
    assert!(
        next(Duration::from_secs(20))
            .unwrap()
            .contains("now go here")
    );

    let sim = run_ok(&[
        "simulate",
        "--config",
        cfg,
        "--url",
        &server.url,
        "--calls",
        "10",
        "--seed",
        "7",
    ]);
    assert!(sim.contains("calls 10"), "{sim}");
    // Wait until the deliveries API shows nothing pending, then count the printed callbacks.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = run_ok(&[
            "callbacks",
            "deliveries",
            "--config",
            cfg,
            "--url",
            &server.url,
            "--status",
            "pending",
            "--json",
        ]);
        let v: Value = serde_json::from_str(&pending).unwrap();
        if v["deliveries"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still pending: {pending}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let all: Value = serde_json::from_str(&run_ok(&[
        "callbacks",
        "deliveries",
        "--config",
        cfg,
        "--url",
        &server.url,
        "--json",
        "--limit",
        "1000",
    ]))
    .unwrap();
    let produced = all["deliveries"].as_array().unwrap().len();
    assert!(produced >= 10, "{all}");
    let mut printed = 0;
    while printed < produced {
        let line = next(Duration::from_secs(10)).expect("a line per callback");
        if line.starts_with("  {") {
            continue;
        }
        assert!(line.contains(" v1 "), "{line}");
        assert!(line.ends_with("[signature ok]"), "{line}");
        printed += 1;
    }
    let table = run_ok(&[
        "callbacks",
        "deliveries",
        "--config",
        cfg,
        "--url",
        &server.url,
    ]);
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains("delivered"), "{table}");

    // Ctrl-C: the configuration is put back (there was none: it is removed).
    let status = std::process::Command::new("kill")
        .args(["-INT", &listen.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = common::wait_timeout(&mut listen, Duration::from_secs(20));
    assert!(exit.success());
    let mut rest = Vec::new();
    while let Some(l) = next(Duration::from_secs(2)) {
        rest.push(l);
    }
    assert!(
        rest.iter()
            .any(|l| l == "v1 callback configuration restored"),
        "{rest:?}"
    );
    let get = run(&[
        "callbacks",
        "deliveries",
        "--config",
        cfg,
        "--url",
        &server.url,
    ]);
    assert!(get.status.success());
    drop(server);
}

/// `records export` writes every record of the range (as `records filter` counts them) to a file.
#[test]
fn records_export_writes_every_record_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(&config, &[]);
    let cfg = config.to_str().unwrap();
    run_ok(&[
        "simulate",
        "--config",
        cfg,
        "--url",
        &server.url,
        "--calls",
        "40",
        "--seed",
        "3",
    ]);
    let filter: Value = serde_json::from_str(&run_ok(&[
        "records",
        "filter",
        "--config",
        cfg,
        "--url",
        &server.url,
        "--since",
        "-1d",
        "--json",
    ]))
    .unwrap();
    let total = filter["totalNum"].as_u64().unwrap();
    assert!(total > 0);
    let out = dir.path().join("calls.csv");
    let run = run(&[
        "records",
        "export",
        "--config",
        cfg,
        "--url",
        &server.url,
        "--since",
        "-1d",
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(&format!("exported {total} records to")),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("callId,sdkAppId,"));
    assert_eq!(text.lines().count() as u64, total + 1);
    // NDJSON to stdout: one record per line.
    let ndjson = run_ok(&[
        "records",
        "export",
        "--config",
        cfg,
        "--url",
        &server.url,
        "--since",
        "-1d",
    ]);
    let ids: Vec<String> = ndjson
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["callId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len() as u64, total);
    drop(server);
}

/// `records stats` prints a line per bucket and a total equal to what `records filter` counts;
/// `--user` narrows both alike.
#[test]
fn records_stats_prints_buckets_whose_total_matches_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = Server::start(&config, &[]);
    let cfg = config.to_str().unwrap();
    run_ok(&[
        "simulate",
        "--config",
        cfg,
        "--url",
        &server.url,
        "--calls",
        "60",
        "--seed",
        "9",
    ]);
    let count = |extra: &[&str]| -> u64 {
        let mut args = vec![
            "records",
            "filter",
            "--config",
            cfg,
            "--url",
            &server.url,
            "--since",
            "-1d",
            "--json",
        ];
        args.extend_from_slice(extra);
        let v: Value = serde_json::from_str(&run_ok(&args)).unwrap();
        v["totalNum"].as_u64().unwrap()
    };
    let stats = |extra: &[&str]| -> Value {
        let mut args = vec![
            "records",
            "stats",
            "--config",
            cfg,
            "--url",
            &server.url,
            "--since",
            "-1d",
            "--bucket",
            "hour",
            "--json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(&run_ok(&args)).unwrap()
    };
    let sum = |v: &Value| -> u64 {
        v["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["total"].as_u64().unwrap())
            .sum()
    };
    let all = stats(&[]);
    assert!(all["buckets"].as_array().unwrap().len() >= 24, "{all}");
    assert_eq!(sum(&all), count(&[]));
    assert!(sum(&all) > 0);
    // One of the simulated users: a caller of some record.
    let some: Value = serde_json::from_str(&run_ok(&[
        "records",
        "filter",
        "--config",
        cfg,
        "--url",
        &server.url,
        "--since",
        "-1d",
        "--json",
        "--per-page",
        "1",
    ]))
    .unwrap();
    let user = some["callRecordList"][0]["caller"]
        .as_str()
        .unwrap()
        .to_owned();
    let mine = stats(&["--user", &user]);
    assert_eq!(sum(&mine), count(&["--user", &user]));
    assert!(sum(&mine) >= 1 && sum(&mine) <= sum(&all));
    // The table: a header, one line per hour, a total line.
    let table = run_ok(&[
        "records",
        "stats",
        "--config",
        cfg,
        "--url",
        &server.url,
        "--since",
        "-1d",
        "--bucket",
        "day",
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("start (UTC)") && lines[0].contains("answered"),
        "{table}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("total") && last.contains(&format!(" {} ", count(&[]))),
        "{table}"
    );
    drop(server);
}
