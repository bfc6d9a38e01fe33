-- wrk script: POSTs pre-generated gzip batches in turn (same bodies for nginx and vigil).
-- BENCH_DIR holds batch-1.gz .. batch-N.gz; BENCH_KEY is the ingest key (nginx ignores it).
-- With BENCH_RATE (and BENCH_CONNECTIONS), all connections together send about BENCH_RATE
-- requests/s: each waits CONNECTIONS*1000/RATE ms between its requests.
local dir = os.getenv("BENCH_DIR")
local n = tonumber(os.getenv("BENCH_BODIES"))
local key = os.getenv("BENCH_KEY")
local rate = tonumber(os.getenv("BENCH_RATE") or "")
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "")
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

if rate and connections then
  delay = function()
    return connections * 1000 / rate
  end
end
