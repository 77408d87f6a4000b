//! Store faults: a SQLite store whose file system is read-only or full, a PostgreSQL that crashes
//! during load. Writes answer 101001 and `/readyz` 503 while it lasts; nothing acknowledged is
//! lost; and when the store is writable again, the server uses it again by itself, without a
//! restart.
//!
//! The SQLite data directory is a tmpfs of its own (remounted read-only, or filled) and the
//! PostgreSQL a cluster of the test's own (run as the `postgres` user), so these tests need root
//! with the right to mount; elsewhere they say `skipped: …` and pass.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// A tmpfs mounted at a path; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB at `path`, or says why it cannot.
    fn mount(path: &Path, mib: u32) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(path.to_owned()))
    }

    fn remount(&self, read_only: bool) {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let status = Command::new("mount")
            .args(["-o", mode])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "mount -o {mode}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A temporary directory whose `data/` is a fresh tmpfs, or `None` (with the reason printed).
fn dir_with_tmpfs(mib: u32) -> Option<(tempfile::TempDir, Tmpfs)> {
    let dir = tempfile::tempdir().unwrap();
    match Tmpfs::mount(&dir.path().join("data"), mib) {
        Ok(fs) => Some((dir, fs)),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

async fn ready(app: &TestApp) -> u16 {
    app.get("/readyz").await.status().as_u16()
}

/// Reports `events`; the envelope's code.
async fn report_code(app: &TestApp, events: &[Value]) -> u64 {
    code(
        &app.call("/v1/events/report", &json!({ "events": events }))
            .await,
    )
}

/// Waits up to 15 s for `f` to hold, checking every 100 ms.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The v1 record of `call_id`, which must exist.
async fn stored(app: &TestApp, call_id: &str) -> Value {
    let env = app.record(call_id).await;
    assert_eq!(code(&env), 0, "{call_id}: {env}");
    env["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_on_a_read_only_file_system_is_reported_and_used_once_writable() {
    let Some((dir, fs)) = dir_with_tmpfs(64) else {
        return;
    };
    let app = spawn_app_in(dir, TestConfig::default()).await;
    let t = app.clock.now_ms() - 60_000;
    app.report_all(&single_call("before", t, "normal_end"))
        .await;
    let before = stored(&app, "before").await;
    assert_eq!(ready(&app).await, 200);
    // Linux refuses to make a file system read-only while files on it are open for writing,
    // so the server is stopped, the file system remounted read-only, and the server started
    // on it: it starts, and says it cannot write.
    let dir = app.stop().await;
    fs.remount(true);
    let app = spawn_app_in(dir, TestConfig::default()).await;
    let during = single_call("during", t, "normal_end");
    assert_eq!(report_code(&app, &during).await, 101001);
    assert_eq!(ready(&app).await, 503);

    fs.remount(false);
    eventually("reports are accepted again", || async {
        report_code(&app, &during).await == 0
    })
    .await;
    assert_eq!(ready(&app).await, 200);
    assert_eq!(stored(&app, "before").await, before);
    assert_eq!(stored(&app, "during").await["callResult"], "normal_end");
    let dir = app.stop().await;
    drop(fs);
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_reported_and_the_store_is_used_again_once_there_is_room() {
    let Some((dir, fs)) = dir_with_tmpfs(24) else {
        return;
    };
    let app = spawn_app_in(dir, TestConfig::default()).await;
    let t = app.clock.now_ms() - 60_000;
    app.report_all(&single_call("before", t, "normal_end"))
        .await;
    assert_eq!(ready(&app).await, 200);

    // Fill the file system, then report until the store runs out of room.
    let filler = fs.0.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1M", "count=64"])
        .arg(format!("of={}", filler.display()))
        .output()
        .unwrap();
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let events: Vec<Value> = (0..25)
            .flat_map(|j| single_call(&format!("full-{i}-{j}"), t, "normal_end"))
            .collect();
        match report_code(&app, &events).await {
            0 => acknowledged.push(format!("full-{i}-0")),
            101001 => {
                refused = Some(events);
                break;
            }
            other => panic!("report {i}: code {other}"),
        }
    }
    let refused = refused.expect("the full file system refuses a report");
    assert_eq!(ready(&app).await, 503);

    std::fs::remove_file(&filler).unwrap();
    eventually("reports are accepted again", || async {
        report_code(&app, &refused).await == 0
    })
    .await;
    assert_eq!(ready(&app).await, 200);
    for call_id in acknowledged.iter().map(String::as_str).chain(["before"]) {
        assert_eq!(stored(&app, call_id).await["callResult"], "normal_end");
    }
    let dir = app.stop().await;
    drop(fs);
    drop(dir);
}

/// A PostgreSQL cluster of the test's own (initdb in a temporary directory, on a free port), so
/// it can be stopped and started without disturbing anything else.
struct PrivatePg {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivatePg {
    /// Creates and starts one, or says why it cannot.
    fn start() -> Result<PrivatePg, String> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no /usr/lib/postgresql: {e}"))?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
            .ok_or("no initdb under /usr/lib/postgresql")?;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("pgdata");
        // PostgreSQL refuses to run as root: the cluster belongs to the `postgres` user.
        let ok = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err("cannot hand a directory to the postgres user".into());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePg {
            bin,
            data,
            port,
            _dir: dir,
        };
        let out = pg
            .as_postgres("initdb")
            .args(["-A", "trust", "-U", "root", "-E", "UTF8", "-D"])
            .arg(&pg.data)
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        pg.pg_ctl_start();
        Ok(pg)
    }

    fn as_postgres(&self, tool: &str) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
        c
    }

    fn url(&self) -> String {
        format!("postgres://root@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl_start(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data.display()
        );
        let status = self
            .as_postgres("pg_ctl")
            .args(["-w", "-s", "-l"])
            .arg(self.data.join("log"))
            .args(["-o", &opts, "-D"])
            .arg(&self.data)
            .arg("start")
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start");
    }

    /// `pg_ctl stop -m immediate`: the server processes exit at once, as in a crash.
    fn crash(&self) {
        let _ = self
            .as_postgres("pg_ctl")
            .args(["-w", "-s", "-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .status();
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.crash();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_crashing_and_coming_back_during_load_loses_nothing_acknowledged() {
    let pg = match PrivatePg::start() {
        Ok(pg) => pg,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let config = TestConfig {
        extra: format!("[store]\nurl = \"{}\"\n", pg.url()),
        ..TestConfig::default()
    };
    let app = std::sync::Arc::new(spawn_app_with(config).await);
    assert_eq!(ready(&app).await, 200);

    // Reporters: one call per report, each remembered when acknowledged.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t = app.clock.now_ms() - 60_000;
    let reporters: Vec<_> = (0..4)
        .map(|r| {
            let (app, stop) = (std::sync::Arc::clone(&app), std::sync::Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut acknowledged, mut refused) = (Vec::new(), 0u32);
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let call_id = format!("pg-{r}-{i}");
                    match report_code(&app, &single_call(&call_id, t, "normal_end")).await {
                        0 => acknowledged.push(call_id),
                        101001 => {
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        other => panic!("{call_id}: code {other}"),
                    }
                }
                (acknowledged, refused)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(800)).await;
    pg.crash();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ready(&app).await, 503, "/readyz with PostgreSQL down");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    pg.pg_ctl_start();
    eventually("/readyz is 200 again", || async {
        ready(&app).await == 200
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    for r in reporters {
        let (a, f) = r.await.unwrap();
        acknowledged.extend(a);
        refused += f;
    }
    assert!(
        refused > 0,
        "no report was refused while PostgreSQL was down"
    );
    // Service resumed: a report now is accepted.
    assert_eq!(
        report_code(&app, &single_call("after", t, "normal_end")).await,
        0
    );
    for call_id in &acknowledged {
        assert_eq!(
            stored(&app, call_id).await["callResult"],
            "normal_end",
            "{call_id}"
        );
    }
    eprintln!(
        "acknowledged {} reports, {refused} refused while PostgreSQL was down",
        acknowledged.len()
    );
}
