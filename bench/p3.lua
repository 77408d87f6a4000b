-- wrk script for P3 (and P8): POST get_records_by_filter (get_stats), one filter mix per run, a
-- random page 1-10 of 100 per request. env: REQ_PATH (path + query), FILTER (the JSON fields of the mix, without braces).
local path = os.getenv("REQ_PATH")
local filter = os.getenv("FILTER")
local threads = {}
-- Global (not local): done() reads it from each thread with thread:get.
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000) + #threads)
  wrk.headers["Content-Type"] = "application/json"
end

-- PAGED=0 (P8, get_stats): the body is the mix alone, no paging fields.
local paged = os.getenv("PAGED") ~= "0"

function request()
  local body
  if paged then
    body = '{' .. filter .. ',"numberPerPage":100,"page":' .. math.random(10) .. '}'
  else
    body = '{' .. filter .. '}'
  end
  return wrk.format("POST", path, nil, body)
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
