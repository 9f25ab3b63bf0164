-- wrk script for the incident replay: a mix of storefront pages, a fresh TCP
-- connection per request, every status counted (503s without Retry-After
-- apart), and one JSON line at the end for loadtests/bench/incident.py.
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
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for key, count in pairs(thread:get("statuses")) do
      total[key] = (total[key] or 0) + count
    end
  end
  local parts = {}
  for key, count in pairs(total) do
    table.insert(parts, string.format('"%s": %d', key, count))
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "statuses": {%s}, '
    .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
    .. '"p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
