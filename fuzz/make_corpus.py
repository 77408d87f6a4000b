#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ (docs/testing.md): a handful of real-looking
inputs per target, from UserSig vectors made with Tencent's official signers (the file the
callrec-usersig vector test reads; USERSIG_VECTORS=path to give another) and the bodies of
docs/api.md. Run it from anywhere; it replaces the corpus folders."""

import base64, hashlib, hmac, json, os, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.environ.get(
    "USERSIG_VECTORS",
    os.path.join(HERE, "..", "..", "shared", "testdata", "usersig_vectors.json"),
)
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


# usersig: UserSig texts.
KEY = "769903bf3c75a2b02089f14b0197c8b603474640b8ad333ba8e5c8f2db8f520a"
vectors = json.load(open(VECTORS))["vectors"]
picked = [v for v in vectors if v["check"]["key"] == KEY and v["expected"] == "valid"][:3]
picked += [v for v in vectors if "userbuf_hex" in v and v["check"]["key"] == KEY][:1]
picked += [v for v in vectors if v["expected"] == "invalid"][:2]
picked += [v for v in vectors if v["expected"] == "expired"][:1]
for v in picked:
    write("usersig", v["id"], v["usersig"])

# query: the common query string in a few shapes.
q = "sdkappid=1400000001&identifier=administrator&usersig=eJyrVgrxCdYrSy1SslJQMtIzUNJR&random=99&contenttype=json"
write("query", "good", q)
write("query", "encoded", "sdkappid=1400000001&identifier=a%2Bb+c&usersig=x%3D%3D&random=4294967295&contenttype=js%6Fn&extra")
write("query", "repeated", q + "&random=98")
write("query", "missing", "sdkappid=1400000001&identifier=administrator&random=1&contenttype=json")
write("query", "bad-app", "sdkappid=-1&identifier=x&usersig=y&random=1&contenttype=json")

# body: a byte picking ops::ENDPOINTS[i], then that API's body (docs/api.md).
filter_v1 = {"startTimestamp": 1764547200, "endTimestamp": 1764633599, "callResult": "normal_end",
             "callType": "single", "numberPerPage": 100, "page": 1}
ext_v1 = {"startTimestamp": 1764547200, "userId": "amy", "mediaType": "video", "minDurationSecs": 60,
          "order": "asc", "callIds": ["call-1", "call-2"], "withCursor": True, "withTotal": False}
start = {"callId": "2ae7d549-c441-4a9b-87c0-61810fe19582", "type": "start", "userId": "alice",
         "time": 1700000000000, "callees": ["bob1"], "mediaType": "video", "roomId": "123456"}
bodies = {
    0: {"callId": "2ae7d549-c441-4a9b-87c0-61810fe19582"},
    1: filter_v1,
    2: {"events": [start,
                   {"callId": start["callId"], "type": "accept", "userId": "bob1", "time": 1700000003000},
                   {"callId": start["callId"], "type": "hangup", "userId": "alice", "time": 1700000030000}]},
    3: {"CallId": "2ae7d549-c441-4a9b-87c0-61810fe19582"},
    4: {"StartTime": 1764547200, "EndTime": 1764633599, "CallResult": "NormalEnd", "CallType": "SingleCall",
        "NumberPerPage": 2, "Page": 1, "UserId": "amy", "MediaType": "Video", "Order": "Asc"},
    5: {"CallId": "c-1"},
    6: {"CallId": "c-1"},
    7: {"Robot_Account": "robot", "CalleeList_Account": ["bob", "carol"], "Timeout": 30000,
        "CallInfo": {"MediaType": "Audio", "RoomId": "42", "RoomIdType": 1}, "UserData": "order-42"},
    8: {"address": "https://example.com/callbacks", "actions": ["caller_start_call", "normal_end"]},
    9: {},
    10: {"address": "https://example.com/cb", "actions": ["cancel", "reject"]},
    11: {},
    12: {"status": "failed", "callId": "c-1", "limit": 10, "cursor": "d42"},
    13: {"status": "failed", "sinceMs": 1700000000000},
    14: {"Url": "https://example.com/v4", "CallbackCommandList": ["Call.CallbackAfterStartCall", "Call.CallbackAfterEndCall"]},
    15: {},
    16: {},
    17: {"callId": "2ae7d549-c441-4a9b-87c0-61810fe19582"},
    18: {"startTimestamp": 0, "format": "csv"},
    19: {"startTimestamp": 1764547200, "endTimestamp": 1764633599, "bucket": "day", "mediaType": "video"},
}
for i, body in bodies.items():
    write("body", f"ep{i:02}", bytes([i]) + json.dumps(body, separators=(",", ":")).encode())
write("body", "ep01-ext", bytes([1]) + json.dumps(ext_v1).encode())
write("body", "ep13-ids", bytes([13]) + b'{"ids":["cb-1","cb-2"]}')
# Regressions: bodies that are no JSON object, with an integer too large for a float in them
# (answered 70001 instead of 70009 until json::parse_object judged the rest of the body first).
write("body", "regress-huge-int-array", bytes([1]) + b"[" + b"8" * 400 + b"]")
write("body", "regress-huge-int-cut", bytes([2]) + b'{"events":' + b"1" * 400)

# event: one reported event's JSON.
write("event", "start", json.dumps(dict(start, eventId="e-1", callType="single", ringTimeoutMs=30000,
                                        roomIdType=1, chatGroupId="g1", userData="x", platform="iOS")))
write("event", "accept", '{"callId":"c-1","type":"accept","userId":"bob1","time":1700000003000}')
write("event", "invite", '{"callId":"c-1","type":"invite","userId":"alice","time":1700000004000,"invitees":["carol","dave"]}')
write("event", "hangup", '{"callId":"c-1","type":"hangup","userId":"alice","time":1700000030000,"eventId":"e-9"}')
write("event", "end-stale", '{"callId":"c-1","type":"end","userId":"administrator","time":1}')

# fold: two seed bytes, then events (kind|flags, user, time step, extras); see fuzz/src/fold.rs.
START, INVITE, JOIN, ACCEPT, REJECT, BUSY, NO_ANSWER, CANCEL, HANGUP, OFFLINE, END = range(11)
ALICE, BOB, CAROL, DAVE = range(4)
def ev(kind, user, step, *extras, flags=0):
    return bytes([kind | flags, user, step, *extras])
def start_ev(step, *callees, video=True):
    f = len(callees) | (0x08 if video else 0)
    return ev(START, ALICE, step, f, *callees, flags=0x80)
write("fold", "single-normal", b"\x01\x00" + start_ev(0, BOB) + ev(ACCEPT, BOB, 8) + ev(HANGUP, ALICE, 120))
write("fold", "single-ring-timeout", b"\x02\x00" + start_ev(0, BOB) + ev(ACCEPT, BOB, 40))
write("fold", "group-reject-busy", b"\x03\x00" + start_ev(0, BOB, CAROL) + ev(REJECT, BOB, 4) + ev(BUSY, CAROL, 4))
write("fold", "group-invite-join", b"\x04\x00" + start_ev(0, BOB, CAROL) + ev(ACCEPT, BOB, 2)
      + ev(INVITE, BOB, 3, 0x00, 1, DAVE, flags=0x80) + ev(JOIN, DAVE, 5) + ev(HANGUP, BOB, 30)
      + ev(OFFLINE, CAROL, 31) + ev(HANGUP, ALICE, 32) + ev(HANGUP, DAVE, 33))
write("fold", "stored-time-outs", b"\x05\x00" + start_ev(0, BOB) + ev(NO_ANSWER, BOB, 0, 0x80, 0, flags=0x10)
      + ev(CANCEL, ALICE, 20, 7, flags=0x10))
write("fold", "dup-ids", b"\x06\x00" + start_ev(0, BOB) + ev(ACCEPT, BOB, 4, 3, flags=0x10)
      + ev(REJECT, BOB, 4, 3, flags=0x10) + ev(END, DAVE, 9))

# cursor: mode 0 + a real records cursor (app 1400000001, key fuzz-secret-key, the filter of
# fuzz/src/cursor.rs); mode 1 + a position; mode 2 + a deliveries cursor.
FILTER = ("records-cursor/2|1400000001|Some(1700000000)|None|Ended|None|100|RecordFilter { user: None, "
          "caller: None, callee: None, media_type: None, room_id: None, min_talk_secs: None, "
          "max_talk_secs: None, call_ids: None }|Desc|")
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def cursor(start, call_id):
    tag = hmac.new(b"fuzz-secret-key", f"{FILTER}{start}|{call_id}".encode(), hashlib.sha256).digest()[:16]
    return f"{b64(f'{start}.{call_id}'.encode())}.{b64(tag)}"
write("cursor", "records-1", b"\x00" + cursor(1764590400, "call-42").encode())
write("cursor", "records-2", b"\x00" + cursor(1700000000, "2ae7d549-c441-4a9b-87c0-61810fe19582").encode())
write("cursor", "records-forged", b"\x00MTc2NDU5MDQwMC5jYWxsLTQy.9Q2mAAAAAAAAAAAAAAAAAA")
write("cursor", "position", b"\x01" + struct.pack("<q", 1764590400) + b"call.42")
write("cursor", "deliveries", b"\x02d42")
write("cursor", "deliveries-bad", b"\x02d-1")
