-- wrk script for bench/gateway/run.sh: one chat completion per request over keep-alive
-- connections, and a done() that prints one machine-readable JSON line (prefixed "BENCH_JSON ").
-- Environment: BENCH_AUTH (the credential header's value; empty: none), BENCH_AUTH_HEADER
-- (its name; default Authorization), BENCH_BODY (the request body; default an OpenAI chat
-- completion), BENCH_TARGET, BENCH_PHASE, BENCH_CONNECTIONS (copied into the JSON line).
wrk.method = "POST"
local body = os.getenv("BENCH_BODY") or ""
if body == "" then
  body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}],"max_tokens":8}'
end
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH") or ""
if auth ~= "" then
  local name = os.getenv("BENCH_AUTH_HEADER") or ""
  if name == "" then
    name = "Authorization"
  end
  wrk.headers[name] = auth
end

local function str(s)
  return '"' .. tostring(s or ""):gsub('[%c"\\]', "") .. '"'
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    'BENCH_JSON {"target":%s,"phase":%s,"connections":%d,"duration_s":%.3f,"requests":%d,' ..
    '"rps":%.2f,"latency_us":{"mean":%.1f,"stdev":%.1f,"min":%d,"max":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"total":%d},' ..
    '"non2xx":%d,"valid":%s}\n',
    str(os.getenv("BENCH_TARGET")), str(os.getenv("BENCH_PHASE")),
    tonumber(os.getenv("BENCH_CONNECTIONS") or "0") or 0, secs, summary.requests,
    summary.requests / secs, latency.mean, latency.stdev, latency.min, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9),
    e.connect, e.read, e.write, e.status, e.timeout, errors,
    e.status, (errors == 0 and summary.requests > 0) and "true" or "false"))
end
