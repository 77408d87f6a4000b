//! `callrec records get|filter`: the record APIs from the terminal, as a table or as JSON.

use std::process::ExitCode;

use serde_json::{Map, Value, json};

use crate::cli::{ExtFilterArgs, FilterArgs, GetArgs, RecordsArgs, RecordsQuery, StatsArgs};
use crate::client::ApiClient;
use crate::connection::Connection;
use crate::error::Error;
use crate::timearg;

/// Runs `callrec records …`.
pub async fn run(args: &RecordsArgs) -> Result<ExitCode, Error> {
    match &args.query {
        RecordsQuery::Get(get) => run_get(get).await,
        RecordsQuery::Filter(filter) => run_filter(filter).await,
        RecordsQuery::Export(export) => run_export(export).await,
        RecordsQuery::Stats(stats) => run_stats(stats).await,
    }
}

impl ExtFilterArgs {
    /// Adds the set flags to a filter body under v1's names (`v4`: v4's).
    pub fn apply(&self, body: &mut Map<String, Value>, v4: bool) {
        let name = |v1: &'static str, v4n: &'static str| if v4 { v4n } else { v1 };
        let mut put = |k: &str, v: Value| {
            body.insert(k.to_owned(), v);
        };
        if let Some(u) = &self.user {
            put(name("userId", "UserId"), u.as_str().into());
        }
        if let Some(u) = &self.caller {
            put(name("caller", "Caller_Account"), u.as_str().into());
        }
        if let Some(u) = &self.callee {
            put(name("callee", "Callee_Account"), u.as_str().into());
        }
        if let Some(m) = &self.media {
            let m = match (v4, m.as_str()) {
                (true, "audio") => "Audio",
                (true, _) => "Video",
                (false, m) => m,
            };
            put(name("mediaType", "MediaType"), m.into());
        }
        if let Some(r) = &self.room {
            put(name("roomId", "RoomId"), r.as_str().into());
        }
        if let Some(d) = self.min_duration {
            put(name("minDurationSecs", "MinDuration"), d.into());
        }
        if let Some(d) = self.max_duration {
            put(name("maxDurationSecs", "MaxDuration"), d.into());
        }
        if !self.call_ids.is_empty() {
            put(name("callIds", "CallIdList"), self.call_ids.clone().into());
        }
        if self.asc {
            put(name("order", "Order"), "asc".into());
        }
    }
}

/// A body with `startTimestamp` (`since`, default 7 days ago) and `endTimestamp` (`until`, if
/// given), from the time arguments of the `records` commands.
fn range_body(
    since: Option<&str>,
    until: Option<&str>,
    now: i64,
) -> Result<Map<String, Value>, Error> {
    let since = match since {
        Some(t) => timearg::parse(t, now).map_err(Error::Usage)?,
        None => now - 7 * 86_400,
    };
    let mut body = Map::new();
    body.insert("startTimestamp".into(), since.into());
    if let Some(t) = until {
        body.insert(
            "endTimestamp".into(),
            timearg::parse(t, now).map_err(Error::Usage)?.into(),
        );
    }
    Ok(body)
}

/// The `get_stats` body the flags ask for.
pub fn stats_body(args: &StatsArgs, now: i64) -> Result<Value, Error> {
    let mut body = range_body(args.since.as_deref(), args.until.as_deref(), now)?;
    body.insert("bucket".into(), args.bucket.clone().into());
    if let Some(r) = args.result {
        body.insert("callResult".into(), r.as_str().into());
    }
    if let Some(t) = args.call_type {
        body.insert("callType".into(), t.as_str().into());
    }
    args.ext.apply(&mut body, false);
    Ok(Value::Object(body))
}

async fn run_stats(args: &StatsArgs) -> Result<ExitCode, Error> {
    let body = stats_body(args, timearg::now_secs())?;
    let client = ApiClient::new(&Connection::resolve(&args.connect)?)?;
    let data = client.call("records/get_stats", &body).await?;
    if args.json {
        print_json(&data);
        return Ok(ExitCode::SUCCESS);
    }
    let buckets = data
        .get("buckets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    print!("{}", stats_table(&buckets, &args.bucket));
    Ok(ExitCode::SUCCESS)
}

/// The results a stats table shows, in their column order.
const STATS_RESULTS: [&str; 6] = [
    "normal_end",
    "interrupt",
    "reject",
    "not_answer",
    "call_busy",
    "cancel",
];

/// Renders `get_stats` buckets as an aligned table, one line per bucket and a total line.
pub fn stats_table(buckets: &[Value], bucket: &str) -> String {
    let n = |b: &Value, k: &str| b.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut headers: Vec<String> = vec![
        if bucket == "all" {
            "from (UTC)"
        } else {
            "start (UTC)"
        }
        .into(),
        "calls".into(),
        "connected".into(),
        "answered".into(),
        "talk".into(),
        "avg talk".into(),
    ];
    headers.extend(STATS_RESULTS.iter().map(|r| (*r).to_owned()));
    let line_of = |label: String, total: u64, connected: u64, talk: u64, by: Vec<u64>| {
        let mut cells = vec![
            label,
            total.to_string(),
            connected.to_string(),
            if total == 0 {
                "-".into()
            } else {
                format!("{:.1}%", connected as f64 * 100.0 / total as f64)
            },
            timearg::format_duration(i64::try_from(talk).unwrap_or(i64::MAX)),
            match talk.checked_div(connected) {
                None => "-".into(),
                Some(avg) => timearg::format_duration(i64::try_from(avg).unwrap_or(0)),
            },
        ];
        cells.extend(by.iter().map(u64::to_string));
        cells
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let (mut total, mut connected, mut talk) = (0, 0, 0);
    let mut by_total = vec![0u64; STATS_RESULTS.len()];
    for b in buckets {
        let start = b.get("startTs").and_then(Value::as_i64).unwrap_or(0);
        let full = timearg::format_utc(start);
        let width = if bucket == "day" { 10 } else { 16 };
        let label = full.get(..width).unwrap_or(&full).to_owned();
        let by: Vec<u64> = STATS_RESULTS
            .iter()
            .map(|r| b["byResult"].get(*r).and_then(Value::as_u64).unwrap_or(0))
            .collect();
        for (t, v) in by_total.iter_mut().zip(&by) {
            *t += v;
        }
        total += n(b, "total");
        connected += n(b, "connected");
        talk += n(b, "talkSecs");
        rows.push(line_of(
            label,
            n(b, "total"),
            n(b, "connected"),
            n(b, "talkSecs"),
            by,
        ));
    }
    if rows.len() > 1 {
        rows.push(line_of("total".into(), total, connected, talk, by_total));
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut emit = |cells: &[String]| {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    };
    emit(&headers);
    for r in &rows {
        emit(r);
    }
    out
}

async fn run_export(args: &crate::cli::ExportArgs) -> Result<ExitCode, Error> {
    use std::io::Write as _;
    let client = ApiClient::new(&Connection::resolve(&args.connect)?)?;
    let now = timearg::now_secs();
    let mut filter = range_body(args.since.as_deref(), args.until.as_deref(), now)?;
    if let Some(r) = args.result {
        filter.insert("callResult".into(), r.as_str().into());
    }
    if let Some(t) = args.call_type {
        filter.insert("callType".into(), t.as_str().into());
    }
    args.ext.apply(&mut filter, false);
    // The total first, for the progress bar.
    let mut count = filter.clone();
    count.insert("numberPerPage".into(), 1.into());
    let total = client
        .call("records/get_records_by_filter", &Value::Object(count))
        .await?["totalNum"]
        .as_u64()
        .unwrap_or(0);
    let mut body = filter;
    body.insert("format".into(), args.format.clone().into());
    let mut response = client
        .post_stream("records/export", &Value::Object(body))
        .await?;
    let streamed = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| !t.starts_with("application/json"));
    if !streamed {
        // An envelope: an error found before the first record.
        let text = response.text().await.unwrap_or_default();
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| Error::BadResponse(text.chars().take(200).collect()))?;
        return Err(Error::Api {
            code: v["errorCode"].as_i64().unwrap_or(-1),
            message: v["errorMessage"].as_str().unwrap_or("").to_owned(),
        });
    }
    let mut out: Box<dyn std::io::Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(Error::io(p))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} records ({per_sec})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let header_lines = u64::from(args.format == "csv");
    let mut lines: u64 = 0;
    let io_err = |e: std::io::Error| Error::Io {
        path: args.out.clone().unwrap_or_else(|| "stdout".into()),
        source: e,
    };
    while let Some(chunk) = response.chunk().await.map_err(|source| Error::Http {
        url: "records/export".into(),
        source: source.without_url(),
    })? {
        out.write_all(&chunk).map_err(io_err)?;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        bar.set_position(lines.saturating_sub(header_lines));
    }
    out.flush().map_err(io_err)?;
    bar.finish_and_clear();
    eprintln!(
        "exported {} records{}",
        lines.saturating_sub(header_lines),
        args.out
            .as_ref()
            .map(|p| format!(" to {}", p.display()))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

async fn run_get(args: &GetArgs) -> Result<ExitCode, Error> {
    let client = ApiClient::new(&Connection::resolve(&args.connect)?)?;
    let record = if args.v4 {
        let response = client
            .call_v4(
                "call_record_http_srv/get_record_by_callid",
                &json!({ "CallId": args.call_id }),
            )
            .await?;
        if args.json {
            print_json(&response);
            return Ok(ExitCode::SUCCESS);
        }
        v1_view(&response["CallRecord"])
    } else {
        let data = client
            .call(
                "records/get_record_by_callId",
                &json!({ "callId": args.call_id }),
            )
            .await?;
        if args.json {
            print_json(&data);
            return Ok(ExitCode::SUCCESS);
        }
        data
    };
    print!("{}", table(std::slice::from_ref(&record)));
    Ok(ExitCode::SUCCESS)
}

/// A v4 record in v1's field names, for the table (the table shows both alike).
fn v1_view(r: &Value) -> Value {
    let lower = |k: &str| match r.get(k).and_then(Value::as_str).unwrap_or("") {
        "SingleCall" => "single".to_owned(),
        "MultiCall" => "group".to_owned(),
        "NotAnswer" => "not_answer".to_owned(),
        "CallBusy" => "call_busy".to_owned(),
        "NormalEnd" => "normal_end".to_owned(),
        other => other.to_ascii_lowercase(),
    };
    let callees: Vec<Value> = r
        .get("CalleeList_Account")
        .and_then(Value::as_array)
        .map(|a| a.iter().skip(1).cloned().collect())
        .unwrap_or_default();
    json!({
        "callId": r.get("CallId"),
        "callType": lower("CallType"),
        "callResult": lower("CallResult"),
        "mediaType": lower("MediaType"),
        "caller": r.get("Caller_Account"),
        "callees": callees,
        "startCallTs": r.get("StartTime"),
        "endTs": r.get("EndTime"),
    })
}

/// The v4 `get_record_by_filter` body the flags ask for.
pub fn filter_body_v4(args: &FilterArgs, now: i64) -> Result<Value, Error> {
    let v1 = filter_body(args, now)?;
    let mut body = Map::new();
    body.insert("StartTime".into(), v1["startTimestamp"].clone());
    if let Some(end) = v1.get("endTimestamp") {
        body.insert("EndTime".into(), end.clone());
    }
    if let Some(r) = args.result {
        body.insert("CallResult".into(), r.v4_name().into());
    }
    if let Some(t) = args.call_type {
        body.insert("CallType".into(), t.v4_name().into());
    }
    if let Some(p) = args.page {
        body.insert("Page".into(), p.into());
    }
    if let Some(n) = args.per_page {
        body.insert("NumberPerPage".into(), n.into());
    }
    args.ext.apply(&mut body, true);
    Ok(Value::Object(body))
}

/// The `get_records_by_filter` body the flags ask for.
pub fn filter_body(args: &FilterArgs, now: i64) -> Result<Value, Error> {
    let mut body = range_body(args.since.as_deref(), args.until.as_deref(), now)?;
    if let Some(r) = args.result {
        body.insert("callResult".into(), r.as_str().into());
    }
    if let Some(t) = args.call_type {
        body.insert("callType".into(), t.as_str().into());
    }
    if let Some(p) = args.page {
        body.insert("page".into(), p.into());
    }
    if let Some(n) = args.per_page {
        body.insert("numberPerPage".into(), n.into());
    }
    args.ext.apply(&mut body, false);
    Ok(Value::Object(body))
}

const V4_FILTER: &str = "call_record_http_srv/get_record_by_filter";

async fn run_filter(args: &FilterArgs) -> Result<ExitCode, Error> {
    let now = timearg::now_secs();
    let body = if args.v4 {
        filter_body_v4(args, now)?
    } else {
        filter_body(args, now)?
    };
    let client = ApiClient::new(&Connection::resolve(&args.connect)?)?;
    let (list, total, page) = if args.v4 {
        let response = client.call_v4(V4_FILTER, &body).await?;
        if args.json {
            print_json(&response);
            return Ok(ExitCode::SUCCESS);
        }
        let list: Vec<Value> = response
            .get("CallRecordList")
            .and_then(Value::as_array)
            .map(|l| l.iter().map(v1_view).collect())
            .unwrap_or_default();
        let total = response
            .get("TotalNum")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        (list, total, u64::from(args.page.unwrap_or(1)))
    } else {
        let data = client.call("records/get_records_by_filter", &body).await?;
        if args.json {
            print_json(&data);
            return Ok(ExitCode::SUCCESS);
        }
        let list = data
            .get("callRecordList")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total = data.get("totalNum").and_then(Value::as_u64).unwrap_or(0);
        let page = data.get("page").and_then(Value::as_u64).unwrap_or(1);
        (list, total, page)
    };
    print!("{}", table(&list));
    let default_per_page = if args.v4 { 10 } else { 100 };
    let per_page = u64::from(args.per_page.unwrap_or(default_per_page)).max(1);

    println!(
        "totalNum {total}, page {page} of {}, {} shown",
        total.div_ceil(per_page).max(1),
        list.len()
    );
    // Without a result filter the API leaves out calls still going on; say how many there are,
    // so they do not seem lost.
    if args.result.is_none() {
        let mut ongoing = body;
        let total = if args.v4 {
            ongoing["CallResult"] = "Ongoing".into();
            ongoing["NumberPerPage"] = 1.into();
            ongoing["Page"] = 1.into();
            client.call_v4(V4_FILTER, &ongoing).await?["TotalNum"].as_u64()
        } else {
            ongoing["callResult"] = "ongoing".into();
            ongoing["numberPerPage"] = 1.into();
            ongoing["page"] = 1.into();
            client
                .call("records/get_records_by_filter", &ongoing)
                .await?["totalNum"]
                .as_u64()
        };
        match total.unwrap_or(0) {
            0 => {}
            1 => println!("1 call still ongoing is not listed (--result ongoing lists it)"),
            n => println!("{n} calls still ongoing are not listed (--result ongoing lists them)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

const HEADERS: [&str; 8] = [
    "callId",
    "type",
    "result",
    "media",
    "caller",
    "callees",
    "start (UTC)",
    "duration",
];

/// Longest callee list shown in a table cell before it is cut with `…`.
const CALLEES_WIDTH: usize = 40;

/// One table row of a record: duration is end − start (the whole call, ringing included); an
/// ongoing call shows how long it has run so far, marked with `+`.
fn row(r: &Value, now: i64) -> [String; 8] {
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let n = |k: &str| r.get(k).and_then(Value::as_i64).unwrap_or(0);
    let callees = r
        .get("callees")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let callees = if callees.chars().count() > CALLEES_WIDTH {
        let cut: String = callees.chars().take(CALLEES_WIDTH - 1).collect();
        format!("{cut}…")
    } else {
        callees
    };
    let start = n("startCallTs");
    let duration = match n("endTs") {
        0 => format!("{}+", timearg::format_duration(now - start)),
        end => timearg::format_duration(end - start),
    };
    [
        s("callId"),
        s("callType"),
        s("callResult"),
        s("mediaType"),
        s("caller"),
        callees,
        timearg::format_utc(start),
        duration,
    ]
}

/// Renders records as an aligned text table with a header line.
pub fn table(records: &[Value]) -> String {
    let now = timearg::now_secs();
    let rows: Vec<[String; 8]> = records.iter().map(|r| row(r, now)).collect();
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(cell);
            if i + 1 < cells.len() {
                l.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
            }
        }
        out.push_str(&l);
        out.push('\n');
    };
    line(&HEADERS);
    for r in &rows {
        line(&r.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{ConnectArgs, ResultArg, TypeArg};

    fn filter(since: Option<&str>) -> FilterArgs {
        FilterArgs {
            json: false,
            v4: false,
            connect: ConnectArgs {
                config: "callrec.toml".into(),
                url: None,
                sdkappid: None,
                key: None,
                key_file: None,
                identifier: None,
                cacert: None,
                insecure: false,
            },
            since: since.map(str::to_owned),
            until: None,
            result: None,
            call_type: None,
            page: None,
            per_page: None,
            ext: ExtFilterArgs::default(),
        }
    }

    #[test]
    fn filter_body_defaults_to_the_last_seven_days() {
        let body = filter_body(&filter(None), 1_000_000).unwrap();
        assert_eq!(body, json!({"startTimestamp": 1_000_000 - 7 * 86_400}));
    }

    #[test]
    fn filter_body_carries_every_flag_under_its_wire_name() {
        let mut f = filter(Some("-1h"));
        f.until = Some("now".into());
        f.result = Some(ResultArg::NotAnswer);
        f.call_type = Some(TypeArg::Group);
        f.page = Some(2);
        f.per_page = Some(10);
        let body = filter_body(&f, 10_000).unwrap();
        assert_eq!(
            body,
            json!({"startTimestamp": 6_400, "endTimestamp": 10_000, "callResult": "not_answer",
                   "callType": "group", "page": 2, "numberPerPage": 10})
        );
    }

    #[test]
    fn extension_flags_go_under_each_generations_names() {
        let mut f = filter(Some("-1h"));
        f.ext = ExtFilterArgs {
            user: Some("amy".into()),
            media: Some("video".into()),
            min_duration: Some(5),
            call_ids: vec!["a".into(), "b".into()],
            asc: true,
            ..ExtFilterArgs::default()
        };
        let v1 = filter_body(&f, 10_000).unwrap();
        assert_eq!(
            v1,
            json!({"startTimestamp": 6_400, "userId": "amy", "mediaType": "video",
                   "minDurationSecs": 5, "callIds": ["a", "b"], "order": "asc"})
        );
        let v4 = filter_body_v4(&f, 10_000).unwrap();
        assert_eq!(
            v4,
            json!({"StartTime": 6_400, "UserId": "amy", "MediaType": "Video",
                   "MinDuration": 5, "CallIdList": ["a", "b"], "Order": "asc"})
        );
    }

    #[test]
    fn stats_table_has_a_line_per_bucket_and_a_total() {
        let b = |t: i64, total: u64, connected: u64, talk: u64| {
            json!({"startTs": t, "total": total, "connected": connected, "talkSecs": talk,
                "byResult": {"normal_end": connected, "cancel": total - connected}})
        };
        let t = stats_table(
            &[b(1_700_000_000, 4, 3, 300), b(1_700_003_600, 0, 0, 0)],
            "hour",
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].starts_with("start (UTC)"), "{t}");
        assert!(lines[1].starts_with("2023-11-14 22:13"), "{t}");
        assert!(
            lines[1].contains("75.0%") && lines[1].contains("1m40s"),
            "{t}"
        );
        assert!(lines[2].contains(" -"), "empty bucket: {t}");
        assert!(lines[3].starts_with("total"), "{t}");
    }

    #[test]
    fn table_aligns_columns_and_shows_call_duration() {
        let rec = json!({"callId": "c-1", "callType": "single", "callResult": "normal_end",
            "mediaType": "video", "caller": "alice", "callees": ["bob"], "startCallTs": 1_700_000_000,
            "acceptTs": 1_700_000_005, "endTs": 1_700_000_125});
        let t = table(&[rec]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("callId  type    result"), "{t}");
        assert!(lines[1].contains("2023-11-14 22:13:20"), "{t}");
        assert!(lines[1].ends_with("2m05s"), "{t}");
        assert_eq!(lines[0].find("type"), lines[1].find("single"));
    }
}
