-- Open-loop pacing for wrk scripts: request slots at a fixed rate, whatever the latency.
--
-- wrk calls delay() before each request of a connection. A fixed per-connection delay makes the
-- rate fall as latency grows (each connection waits delay + latency), so "1,000 req/s" ran at
-- 680. Here each wrk thread hands out request slots every THREADS*1000/RATE ms on the monotonic
-- clock (LuaJIT FFI) and delays each request until its slot. When every connection is busy, the
-- slots that passed are sent at once on the next free connections, at most 100 ms' worth.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } vigil_pace_timespec;
int clock_gettime(int clock_id, vigil_pace_timespec *tp);
]]
local ts = ffi.new("vigil_pace_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local pace = {}

-- Returns a delay() for wrk: `rate` requests/s over all of wrk's `threads` threads.
function pace.delay(rate, threads)
  local interval = threads * 1000 / rate
  local next_slot = nil
  return function()
    local now = now_ms()
    if next_slot == nil or next_slot < now - 100 then next_slot = now end
    local slot = next_slot
    next_slot = next_slot + interval
    return math.max(0, slot - now)
  end
end

return pace
