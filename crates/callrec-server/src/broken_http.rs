//! Envelopes for the answers hyper gives by itself to HTTP/1 requests it cannot parse.
//!
//! hyper answers a request head it cannot read — a URI longer than 65 534 bytes (414), too many
//! or too large header fields (431), a malformed head (400) — before any service runs, with an
//! empty body, and then closes the connection. Clients of the API expect the generation's
//! envelope in every answer, so the connection's stream remembers how the request being received
//! began ([`HeadStart`]) and, when hyper writes such an answer to a request that began
//! `METHOD /v1…` or `METHOD /v4…`, replaces it by the same status with the envelope
//! ([`enveloped`]). Answers to other paths stay as hyper wrote them.
//!
//! Guarantees: only hyper's automatic answers are touched — a head of status 400, 414 or 431
//! with `content-length: 0` and no `content-type` (every answer of the API has a JSON body and a
//! content type); the HTTP status is kept; the error code is the generation's "bad request"
//! code (v1 70001, v4 60002).

use crate::api::Wire as _;
use crate::failure::FailureKind;
use crate::ops::Generation;
use crate::v1::V1;
use crate::v4::V4;

/// How many bytes of a request's start are kept: enough for the longest method and `/v1/`.
const KEPT: usize = 24;

/// The first bytes of the request being received on one connection.
#[derive(Debug, Default)]
pub struct HeadStart {
    bytes: [u8; KEPT],
    len: usize,
}

impl HeadStart {
    /// Forgets the previous request: the next bytes begin a new one.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Appends `bytes` as far as they fit.
    pub fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(KEPT - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    /// Whether nothing more needs to be kept.
    pub fn is_full(&self) -> bool {
        self.len == KEPT
    }

    /// The API generation the request's path names, if it got that far.
    pub fn generation(&self) -> Option<Generation> {
        let kept = &self.bytes[..self.len];
        let space = kept.iter().position(|&b| b == b' ')?;
        let path = &kept[space + 1..];
        let generation = match path.get(..3)? {
            b"/v1" => Generation::V1,
            b"/v4" => Generation::V4,
            _ => return None,
        };
        // `/v1`, `/v1/…`, `/v1?…` (the router's own v1 routes), or the path cut by our buffer.
        match path.get(3) {
            None | Some(b'/' | b'?' | b' ') => Some(generation),
            Some(_) => None,
        }
    }
}

/// If `head` is hyper's automatic answer to an unreadable request of `generation`, that answer
/// with the generation's envelope as its body; else `None`.
pub fn enveloped(head: &[u8], generation: Generation) -> Option<Vec<u8>> {
    let rest = head.strip_prefix(b"HTTP/1.1 ")?;
    let message = match rest.get(..4)? {
        b"400 " => "malformed HTTP/1.1 request head",
        b"414 " => "the request URI is too long (at most 65534 bytes)",
        b"431 " => "the request head is too large (at most 100 header fields and 400 KiB)",
        _ => return None,
    };
    let text = std::str::from_utf8(head).ok()?;
    if !text.ends_with("\r\n\r\n") || text.to_ascii_lowercase().contains("\r\ncontent-type:") {
        return None;
    }
    let (before, after) = text.split_once("\r\ncontent-length: 0\r\n")?;
    let request_id = crate::pipeline::new_request_id();
    let body = match generation {
        Generation::V1 => V1.failure(V1.code(FailureKind::BadQuery, None), message, &request_id),
        Generation::V4 => {
            let v4 = V4::default();
            v4.failure(v4.code(FailureKind::BadQuery, None), message, &request_id)
        }
    };
    let mut out = String::with_capacity(head.len() + body.len() + 64);
    out.push_str(before);
    out.push_str("\r\ncontent-type: application/json\r\ncontent-length: ");
    out.push_str(&body.len().to_string());
    out.push_str("\r\n");
    out.push_str(after);
    out.push_str(&body);
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(bytes: &[u8]) -> HeadStart {
        let mut s = HeadStart::default();
        for chunk in bytes.chunks(5) {
            s.push(chunk);
        }
        s
    }

    #[test]
    fn the_generation_comes_from_the_path_after_the_method() {
        for (head, want) in [
            (
                &b"POST /v1/records/get_record_by_callId?x"[..],
                Some(Generation::V1),
            ),
            (b"GET /v4/call_record_http_srv/x", Some(Generation::V4)),
            (b"POST /v1?sdkappid=1 HTTP/1.1", Some(Generation::V1)),
            (b"POST /v1 HTTP/1.1", Some(Generation::V1)),
            (b"OPTIONS /v4", Some(Generation::V4)),
            (b"POST /v10/x", None),
            (b"POST /healthz", None),
            (b"POST /v", None),
            (b"PRI * HTTP/2.0\r\n", None),
            (b"AVERYLONGMETHODNAMEEXCEEDING /v1/", None),
            (b"", None),
        ] {
            assert_eq!(
                start(head).generation(),
                want,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        let mut s = start(b"POST /v1/x");
        s.reset();
        s.push(b"GET /healthz");
        assert_eq!(s.generation(), None);
    }

    #[test]
    fn hyper_answers_get_the_envelope_and_keep_their_status() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 18:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(enveloped(head, Generation::V1).unwrap()).unwrap();
        let (h, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(h.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(h.contains("\r\ncontent-type: application/json\r\n"));
        assert!(h.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
        assert!(h.contains("\r\ndate: Tue, 01 Dec 2026 18:00:00 GMT"));
        let env: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(env["errorCode"], 70001);

        let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n";
        let out = String::from_utf8(enveloped(head, Generation::V4).unwrap()).unwrap();
        let env: serde_json::Value =
            serde_json::from_str(out.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(env["ErrorCode"], 60002);
        assert_eq!(env["ActionStatus"], "FAIL");
    }

    #[test]
    fn other_answers_are_left_alone() {
        for head in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}",
        ] {
            assert!(
                enveloped(head, Generation::V1).is_none(),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}
