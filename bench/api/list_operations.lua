-- wrk script: GET /api/v1/operations with a bearer key from the ARSENAL_KEY environment variable.
-- Prints p50/p99 latency and requests/s in one line for scripts to parse.
local key = os.getenv("ARSENAL_KEY") or ""
wrk.method = "GET"
wrk.path = "/api/v1/operations"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Accept"] = "application/vnd.api+json"

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write +
                 summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "RESULT requests_per_s=%.0f p50_ms=%.3f p99_ms=%.3f requests=%d non2xx_or_errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, errors))
end
