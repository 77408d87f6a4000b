-- wrk script for P1: POST get_record_by_callId with a random existing callId per request.
-- env: IDS_FILE (one callId per line), REQ_PATH (path + query, with a valid admin UserSig).
local ids = {}
local path = os.getenv("REQ_PATH")
local threads = {}
-- Global (not local): done() reads it from each thread with thread:get.
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("IDS_FILE")) do
    ids[#ids + 1] = line
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000) + #threads)
  wrk.headers["Content-Type"] = "application/json"
end

-- DELAY_MS (optional): mean pause before each request on a connection (uniform 0..2x), so the
-- offered rate is about connections * 1000 / DELAY_MS per second (latency at a set load).
local delay_ms = tonumber(os.getenv("DELAY_MS") or "")
if delay_ms then
  function delay()
    return math.random(0, 2 * delay_ms)
  end
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("POST", path, nil, '{"callId":"' .. id .. '"}')
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"errorCode":0,', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"bad":%d,"socket_errors":%d,"bytes":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, b, e.connect + e.read + e.write + e.status + e.timeout, summary.bytes))
end
