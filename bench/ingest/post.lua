-- wrk script: POSTs pre-generated gzip batches in turn (same bodies for nginx and vigil).
-- BENCH_DIR holds batch-1.gz .. batch-N.gz; BENCH_KEY is the ingest key (nginx ignores it).
-- With BENCH_RATE, wrk's BENCH_THREADS threads together send BENCH_RATE requests/s (bench/pace.lua).
local dir = os.getenv("BENCH_DIR")
local n = tonumber(os.getenv("BENCH_BODIES"))
local key = os.getenv("BENCH_KEY")
local rate = tonumber(os.getenv("BENCH_RATE") or "")
local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
local bodies = {}
local i = 0

init = function(args)
  for k = 1, n do
    local f = assert(io.open(dir .. "/batch-" .. k .. ".gz", "rb"))
    bodies[k] = f:read("*a")
    f:close()
  end
end

request = function()
  i = i % n + 1
  return wrk.format("POST", "/v1/events",
    {["X-Vigil-Key"] = key, ["Content-Type"] = "application/json", ["Content-Encoding"] = "gzip"},
    bodies[i])
end

if rate then
  package.path = package.path .. ";bench/?.lua"
  delay = require("pace").delay(rate, threads)
end
