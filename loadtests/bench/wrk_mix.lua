-- wrk script for the incident replay and the outage: a mix of storefront
-- pages, a fresh TCP connection per request, every status counted (503s
-- without Retry-After apart, and answers the page cache marked stale), and
-- one JSON line at the end for loadtests/bench/incident.py.
--   wrk -s wrk_mix.lua URL -- paths.txt

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(paths, line) end
  end
  statuses = {}
  stale = 0
  math.randomseed(os.time() + #threads)
end

function request()
  local path = paths[math.random(#paths)]
  return wrk.format("GET", path, { ["Connection"] = "close" })
end

function response(status, headers, body)
  local key = tostring(status)
  if status == 503 and headers["Retry-After"] == nil then
    key = "503-no-retry-after"
  end
  statuses[key] = (statuses[key] or 0) + 1
  local cache_status = headers["Cache-Status"]
  if cache_status ~= nil and string.find(cache_status, "stale", 1, true) then
    stale = stale + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  local stale_total = 0
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get("statuses")) do
      total[key] = (total[key] or 0) + count
    end
    stale_total = stale_total + thread:get("stale")
  end
  local parts = {}
  for key, count in pairs(total) do
    table.insert(parts, string.format('"%s": %d', key, count))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "statuses": {%s}, "stale": %d, '
    .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
    .. '"p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, table.concat(parts, ", "), stale_total,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
