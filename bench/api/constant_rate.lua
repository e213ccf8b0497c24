-- wrk script for bench/api/run.sh. Environment:
--   ARSENAL_KEY       bearer key
--   BENCH_PATH        request path; empty: GET /api/v1/processes/p-<n> for a random n in
--                     1..BENCH_PROCESSES (get_process_info)
--   BENCH_RATE        requests/s over all connections; unset: as fast as possible
--   BENCH_THREADS     the -t given to wrk (each thread's Lua state paces its share of the rate)
-- wrk 4 has no rate flag. Each thread keeps a timetable of send slots, threads / rate apart, and
-- each request waits (wrk's delay(), whole milliseconds) until the next free slot, so the
-- offered rate is BENCH_RATE whatever the response time, as long as the connections keep up. A
-- slot missed because every connection was still waiting for a response is skipped rather than
-- made up with a burst; the achieved rate is printed next to the target. Prints one RESULT line
-- for the script to parse.
local key = os.getenv("ARSENAL_KEY") or ""
local path = os.getenv("BENCH_PATH") or ""
local processes = tonumber(os.getenv("BENCH_PROCESSES") or "1000")
local rate = tonumber(os.getenv("BENCH_RATE") or "")
local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
local slot_ms = rate and (threads * 1000 / rate) or 0

-- wrk runs LuaJIT: a monotonic clock through its FFI.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local next_slot = nil

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
  if not rate then return 0 end
  local now = now_ms()
  -- Late by less than a slot (millisecond rounding, a busy loop): stay on the timetable.
  if next_slot == nil or next_slot < now - slot_ms then next_slot = now end
  local wait = math.max(next_slot - now, 0)
  next_slot = next_slot + slot_ms
  return math.floor(wait + 0.5)
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
