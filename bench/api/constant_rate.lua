-- wrk script for bench/api/run.sh. Environment:
--   ARSENAL_KEY       bearer key
--   BENCH_PATH        request path; empty: GET /api/v1/processes/p-<n> for a random n in
--                     1..BENCH_PROCESSES (get_process_info)
--   BENCH_RATE        requests/s over all connections; unset: as fast as possible
--   BENCH_CONNECTIONS the -c given to wrk (to split the rate between connections)
-- wrk 4 has no rate flag: each connection waits interval = connections / rate before each request
-- (wrk's delay()), so the offered rate is BENCH_RATE less the share of response time in the
-- interval (under 1% at sub-millisecond responses); the achieved rate is printed. Prints one
-- RESULT line for the script to parse.
local key = os.getenv("ARSENAL_KEY") or ""
local path = os.getenv("BENCH_PATH") or ""
local processes = tonumber(os.getenv("BENCH_PROCESSES") or "1000")
local rate = tonumber(os.getenv("BENCH_RATE") or "")
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "1")
local interval_ms = rate and (connections * 1000 / rate) or 0

local headers = {["Authorization"] = "Bearer " .. key, ["Accept"] = "application/vnd.api+json"}

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  local p = path
  if p == "" then p = "/api/v1/processes/p-" .. math.random(1, processes) end
  return wrk.format("GET", p, headers)
end

function response(status, hdrs, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
  end
end

function delay()
  return interval_ms
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write +
                 summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT requests_per_s=%.0f%s p50_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    rate and string.format(" (target %d)", rate) or "",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, errors))
end
