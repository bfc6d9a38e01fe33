-- wrk script for bench/query: the dashboard's queries in turn, paced so that wrk's BENCH_THREADS
-- threads together send BENCH_RATE requests/s (bench/pace.lua).
local token = os.getenv("BENCH_TOKEN")
local app = os.getenv("BENCH_APP")
local from = os.getenv("BENCH_FROM")
local to = os.getenv("BENCH_TO")
local rate = tonumber(os.getenv("BENCH_RATE"))
local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
local base = "/v1/apps/" .. app
local range = "from=" .. from .. "&to=" .. to
local paths = {
  base .. "/metrics?name=app_loads&granularity=day&" .. range,
  base .. "/metrics?name=dau&granularity=day&" .. range,
  base .. "/metrics?name=crash_free_users&granularity=day&" .. range,
  base .. "/metrics?name=crashes&granularity=day&version=3.0.0&" .. range,
  base .. "/crash-groups?limit=10&" .. range,
  base .. "/crash-groups?limit=10&sort=users&" .. range,
  base .. "/network?limit=10&" .. range,
  base .. "/metrics?name=network_latency_p95&granularity=day&" .. range,
}
local headers = { ["Authorization"] = "Bearer " .. token }
local i = 0

request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], headers)
end

package.path = package.path .. ";bench/?.lua"
delay = require("pace").delay(rate, threads)

response = function(status, hdrs, body)
  if status ~= 200 then
    io.stderr:write("bench/query: HTTP " .. status .. " " .. body .. "\n")
  end
end
