//! tokio-postgres (+ deadpool-postgres) vs sqlx (postgres, runtime-tokio) on one PostgreSQL.
//!
//! (a) 10 000 single-row primary-key SELECTs spread over 8 concurrent tasks, each task with a
//!     pooled connection per query (pool of 8), statements prepared/cached by each driver;
//! (b) 100 multi-row INSERTs of 1000 rows each (`INSERT … SELECT FROM unnest($1, $2, $3)`), one
//!     after another on one connection.
//!
//! Each driver runs each workload 3 times after a warm-up; the best run counts.
//! Usage: `cargo run --release -- postgres://root@127.0.0.1:5432/test`

use std::str::FromStr;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use sqlx::postgres::PgPoolOptions;

const SELECTS: usize = 10_000;
const TASKS: usize = 8;
const INSERTS: usize = 100;
const ROWS: usize = 1000;
const TABLE_ROWS: i64 = 100_000;
const RUNS: usize = 3;

fn rows(batch: usize) -> (Vec<i64>, Vec<String>, Vec<i64>) {
    let base = (batch * ROWS) as i64;
    (
        (0..ROWS as i64).map(|i| base + i).collect(),
        (0..ROWS).map(|i| format!("call-{}-{i}", batch)).collect(),
        (0..ROWS as i64).map(|i| 1_700_000_000_000 + i).collect(),
    )
}

const SELECT_SQL: &str = "SELECT id, name, t FROM bench_read WHERE id = $1";
const INSERT_SQL: &str = "INSERT INTO bench_write (id, name, t) \
     SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[])";

async fn tp_selects(pool: &Pool) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for i in 0..SELECTS / TASKS {
                    let id = ((t * 7919 + i * 104_729) as i64) % TABLE_ROWS;
                    let client = pool.get().await.unwrap();
                    let stmt = client.prepare_cached(SELECT_SQL).await.unwrap();
                    let row = client.query_one(&stmt, &[&id]).await.unwrap();
                    assert_eq!(row.get::<_, i64>(0), id);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

async fn sqlx_selects(pool: &sqlx::PgPool) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for i in 0..SELECTS / TASKS {
                    let id = ((t * 7919 + i * 104_729) as i64) % TABLE_ROWS;
                    let row: (i64, String, i64) = sqlx::query_as(SELECT_SQL)
                        .bind(id)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                    assert_eq!(row.0, id);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

async fn tp_inserts(pool: &Pool) -> Duration {
    let client = pool.get().await.unwrap();
    client.batch_execute("TRUNCATE bench_write").await.unwrap();
    let stmt = client.prepare_cached(INSERT_SQL).await.unwrap();
    let data: Vec<_> = (0..INSERTS).map(rows).collect();
    let start = Instant::now();
    for (ids, names, ts) in &data {
        let n = client.execute(&stmt, &[ids, names, ts]).await.unwrap();
        assert_eq!(n, ROWS as u64);
    }
    start.elapsed()
}

async fn sqlx_inserts(pool: &sqlx::PgPool) -> Duration {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("TRUNCATE bench_write")
        .execute(&mut *conn)
        .await
        .unwrap();
    let data: Vec<_> = (0..INSERTS).map(rows).collect();
    let start = Instant::now();
    for (ids, names, ts) in &data {
        let r = sqlx::query(INSERT_SQL)
            .bind(ids)
            .bind(names)
            .bind(ts)
            .execute(&mut *conn)
            .await
            .unwrap();
        assert_eq!(r.rows_affected(), ROWS as u64);
    }
    start.elapsed()
}

fn best(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[0]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| "postgres://root@127.0.0.1:5432/test".into());

    let cfg = tokio_postgres::Config::from_str(&url).expect("a postgres URL");
    let mgr = Manager::from_config(
        cfg,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let tp = Pool::builder(mgr).max_size(TASKS).build().unwrap();
    let sx = PgPoolOptions::new()
        .max_connections(TASKS as u32)
        .connect(&url)
        .await
        .expect("sqlx connects");

    {
        let c = tp.get().await.unwrap();
        c.batch_execute(&format!(
            "DROP TABLE IF EXISTS bench_read, bench_write;
             CREATE TABLE bench_read (id BIGINT PRIMARY KEY, name TEXT NOT NULL, t BIGINT NOT NULL);
             INSERT INTO bench_read SELECT g, 'call-' || g, 1700000000000 + g
               FROM generate_series(0, {}) g;
             CREATE TABLE bench_write (id BIGINT PRIMARY KEY, name TEXT NOT NULL, t BIGINT NOT NULL);
             ANALYZE bench_read;",
            TABLE_ROWS - 1
        ))
        .await
        .unwrap();
    }

    // Warm-up: fill both pools and statement caches.
    tp_selects(&tp).await;
    sqlx_selects(&sx).await;

    let (mut a_tp, mut a_sx, mut b_tp, mut b_sx) = (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        a_tp.push(tp_selects(&tp).await);
        a_sx.push(sqlx_selects(&sx).await);
        b_tp.push(tp_inserts(&tp).await);
        b_sx.push(sqlx_inserts(&sx).await);
    }
    let ops = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let (a_tp, a_sx, b_tp, b_sx) = (best(a_tp), best(a_sx), best(b_tp), best(b_sx));
    println!(
        "workload                                   tokio-postgres+deadpool        sqlx   ratio (tp/sqlx)"
    );
    let sel_tp = ops(SELECTS, a_tp);
    let sel_sx = ops(SELECTS, a_sx);
    println!(
        "(a) {SELECTS} PK SELECTs, {TASKS} tasks (queries/s)   {sel_tp:>12.0} {sel_sx:>12.0}   {:.2}",
        sel_tp / sel_sx
    );
    let ins_tp = ops(INSERTS * ROWS, b_tp);
    let ins_sx = ops(INSERTS * ROWS, b_sx);
    println!(
        "(b) {INSERTS} x {ROWS}-row INSERTs (rows/s)          {ins_tp:>12.0} {ins_sx:>12.0}   {:.2}",
        ins_tp / ins_sx
    );
    println!(
        "    (statements/s: {:.1} vs {:.1})",
        INSERTS as f64 / b_tp.as_secs_f64(),
        INSERTS as f64 / b_sx.as_secs_f64()
    );
    let c = tp.get().await.unwrap();
    c.batch_execute("DROP TABLE IF EXISTS bench_read, bench_write")
        .await
        .unwrap();
}
