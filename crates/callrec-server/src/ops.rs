//! The operation table: every API endpoint of both generations in one list, read by the router,
//! the pipeline, the rate limiter, the config (rate-limit keys) and the metrics.
//!
//! An [`Endpoint`] is one URL of one generation; several endpoints may serve the same domain
//! [`Operation`] (v1 `get_record_by_callId` and v4 `get_record_by_callid` both fetch a record).
//! Its `name` is its `[apps.rate_limits]` key and its metrics label.

/// An API generation: its URL prefix, JSON shapes and error numbers (the domain's, which also
/// names whose callbacks a configuration asks for).
pub use callrec_domain::Generation;

/// What an endpoint does, whatever its generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// One record by callId.
    GetRecord,
    /// Records by time range, result and type, a page at a time.
    FilterRecords,
    /// Store a batch of call events.
    ReportEvents,
    /// The users of a call that has not ended.
    GetCallInfo,
    /// End a call that has not ended.
    EndCall,
    /// Start a call on behalf of a robot account.
    StartCallByRobot,
    /// Set (replace) the app's callback configuration of this generation.
    SetCallback,
    /// The app's callback configuration of this generation.
    GetCallback,
    /// Replace an existing callback configuration.
    UpdateCallback,
    /// Remove the callback configuration.
    DeleteCallback,
    /// One call in detail: participants and events (an extension).
    GetCallDetail,
    /// Every record matching a filter, streamed (an extension).
    Export,
    /// Statistics of the calls matching a filter (an extension).
    GetStats,
    /// List produced callbacks with their delivery state.
    GetDeliveries,
    /// Make callbacks pending again.
    Redeliver,
}

/// The group of APIs an endpoint belongs to; some generations number their errors per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Call records (`/v1/records/…`, `/v4/call_record_http_srv/…`): gated by `group_call_package`.
    Records,
    /// Event reporting (`/v1/events/…`).
    Events,
    /// The call engine (`/v4/call_engine_http_srv/…`).
    Engine,
    /// Callback configuration (`/v1/callback/set|get|update|delete`, `/v4/call_config/…`); the
    /// v1 ones are gated by `group_call_package`.
    CallbackConfig,
    /// Callback deliveries (`/v1/callback/get_deliveries`, `redeliver`; an extension).
    Deliveries,
}

/// One API endpoint.
#[derive(Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Its position in [`ENDPOINTS`] (metrics slots, limiter keys).
    pub index: usize,
    /// Its `[apps.rate_limits]` key and metrics label.
    pub name: &'static str,
    /// Its generation.
    pub generation: Generation,
    /// Its URL path (case-sensitive).
    pub path: &'static str,
    /// What it does.
    pub operation: Operation,
    /// Its group.
    pub family: Family,
    /// Only the app's admins may call it.
    pub admin_only: bool,
    /// Answers "no group call package" when the app has `group_call_package = false`.
    pub package_gated: bool,
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Requests per second per app when the config does not say (0 = unlimited).
    pub default_rate: u32,
}

/// 1 MiB: the body limit of every API but event reporting.
pub const BODY_LIMIT: usize = 1 << 20;

/// 8 MiB: the body limit of `/v1/events/report`.
pub const REPORT_BODY_LIMIT: usize = 8 << 20;

const fn endpoint(
    index: usize,
    name: &'static str,
    generation: Generation,
    path: &'static str,
    operation: Operation,
    family: Family,
    default_rate: u32,
) -> Endpoint {
    let events = matches!(family, Family::Events);
    Endpoint {
        index,
        name,
        generation,
        path,
        operation,
        family,
        admin_only: !events,
        package_gated: matches!(family, Family::Records)
            || (matches!(family, Family::CallbackConfig) && matches!(generation, Generation::V1)),
        body_limit: if events {
            REPORT_BODY_LIMIT
        } else {
            BODY_LIMIT
        },
        default_rate,
    }
}

use Family::{CallbackConfig, Deliveries, Engine, Events, Records};
use Generation::{V1, V4};
use Operation::{
    DeleteCallback, EndCall, Export, FilterRecords, GetCallDetail, GetCallInfo, GetCallback,
    GetDeliveries, GetRecord, GetStats, Redeliver, ReportEvents, SetCallback, StartCallByRobot,
    UpdateCallback,
};

/// Every endpoint. The index of each is its position.
pub const ENDPOINTS: [Endpoint; 20] = [
    endpoint(
        0,
        "get_record_by_callId",
        V1,
        "/v1/records/get_record_by_callId",
        GetRecord,
        Records,
        20,
    ),
    endpoint(
        1,
        "get_records_by_filter",
        V1,
        "/v1/records/get_records_by_filter",
        FilterRecords,
        Records,
        200,
    ),
    endpoint(
        2,
        "report_events",
        V1,
        "/v1/events/report",
        ReportEvents,
        Events,
        0,
    ),
    endpoint(
        3,
        "get_record_by_callid",
        V4,
        "/v4/call_record_http_srv/get_record_by_callid",
        GetRecord,
        Records,
        200,
    ),
    endpoint(
        4,
        "get_record_by_filter",
        V4,
        "/v4/call_record_http_srv/get_record_by_filter",
        FilterRecords,
        Records,
        200,
    ),
    endpoint(
        5,
        "get_call_info",
        V4,
        "/v4/call_engine_http_srv/get_call_info",
        GetCallInfo,
        Engine,
        200,
    ),
    endpoint(
        6,
        "end_call",
        V4,
        "/v4/call_engine_http_srv/end_call",
        EndCall,
        Engine,
        200,
    ),
    endpoint(
        7,
        "start_call_by_robot",
        V4,
        "/v4/call_engine_http_srv/start_call_by_robot",
        StartCallByRobot,
        Engine,
        200,
    ),
    endpoint(
        8,
        "callback_set",
        V1,
        "/v1/callback/set",
        SetCallback,
        CallbackConfig,
        10,
    ),
    endpoint(
        9,
        "callback_get",
        V1,
        "/v1/callback/get",
        GetCallback,
        CallbackConfig,
        10,
    ),
    endpoint(
        10,
        "callback_update",
        V1,
        "/v1/callback/update",
        UpdateCallback,
        CallbackConfig,
        10,
    ),
    endpoint(
        11,
        "callback_delete",
        V1,
        "/v1/callback/delete",
        DeleteCallback,
        CallbackConfig,
        10,
    ),
    endpoint(
        12,
        "get_deliveries",
        V1,
        "/v1/callback/get_deliveries",
        GetDeliveries,
        Deliveries,
        20,
    ),
    endpoint(
        13,
        "redeliver",
        V1,
        "/v1/callback/redeliver",
        Redeliver,
        Deliveries,
        10,
    ),
    endpoint(
        14,
        "set_callback",
        V4,
        "/v4/call_config/set_callback",
        SetCallback,
        CallbackConfig,
        200,
    ),
    endpoint(
        15,
        "get_callback",
        V4,
        "/v4/call_config/get_callback",
        GetCallback,
        CallbackConfig,
        200,
    ),
    endpoint(
        16,
        "delete_callback",
        V4,
        "/v4/call_config/delete_callback",
        DeleteCallback,
        CallbackConfig,
        200,
    ),
    endpoint(
        17,
        "get_call_detail",
        V1,
        "/v1/records/get_call_detail",
        GetCallDetail,
        Records,
        200,
    ),
    endpoint(18, "export", V1, "/v1/records/export", Export, Records, 2),
    endpoint(
        19,
        "get_stats",
        V1,
        "/v1/records/get_stats",
        GetStats,
        Records,
        20,
    ),
];

/// Rate-limit keys of APIs this version does not serve yet, with their defaults: a config
/// written for them loads, and they take effect when their APIs arrive. (None at present.)
pub const RESERVED_RATE_KEYS: [(&str, u32); 0] = [];

/// The endpoint of `generation` at `path`, if any.
pub fn find(generation: Generation, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .find(|e| e.generation == generation && e.path == path)
}

/// The endpoints of one generation.
pub fn of(generation: Generation) -> impl Iterator<Item = &'static Endpoint> {
    ENDPOINTS.iter().filter(move |e| e.generation == generation)
}

/// Whether `name` is a rate-limit key (of a served API or a reserved one).
pub fn is_rate_key(name: &str) -> bool {
    ENDPOINTS.iter().any(|e| e.name == name) || RESERVED_RATE_KEYS.iter().any(|(k, _)| *k == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_positions_and_names_and_paths_are_unique() {
        for (i, e) in ENDPOINTS.iter().enumerate() {
            assert_eq!(e.index, i, "{}", e.name);
            assert!(e.path.starts_with(&format!("/{}/", e.generation.as_str())));
        }
        let mut names: Vec<&str> = ENDPOINTS.iter().map(|e| e.name).collect();
        names.extend(RESERVED_RATE_KEYS.iter().map(|(k, _)| *k));
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "rate-limit keys are unique");
    }

    #[test]
    fn paths_are_case_sensitive_and_per_generation() {
        assert_eq!(
            find(V1, "/v1/records/get_record_by_callId").map(|e| e.operation),
            Some(GetRecord)
        );
        assert_eq!(find(V1, "/v1/records/get_record_by_callid"), None);
        assert_eq!(find(V1, "/v1/events/report/"), None);
        assert_eq!(find(V4, "/v1/events/report"), None);
        assert_eq!(
            find(V4, "/v4/call_record_http_srv/get_record_by_callid").map(|e| e.name),
            Some("get_record_by_callid")
        );
    }

    #[test]
    fn only_reporting_is_open_to_users_and_only_record_and_v1_callback_apis_are_gated() {
        for e in &ENDPOINTS {
            assert_eq!(e.admin_only, e.operation != ReportEvents, "{}", e.name);
            assert_eq!(
                e.package_gated,
                e.family == Records || (e.family == CallbackConfig && e.generation == V1),
                "{}",
                e.name
            );
        }
    }
}
