-- The soak's request mix, as each wrk thread sends it (bench/soak/mix.py decides the mix and
-- passes it in as key=value arguments; wrk calls init() with them).
--
-- Every request is one of these kinds, in a fixed shuffled cycle whose length is the sum of the
-- weights: "small" and "big" (whole downloads), "range" (one range of the big file),
-- "not_modified" (If-None-Match with the small file's ETag), "missing" (a download of an id
-- nobody has), "list" (the file list with a search) and "login" (the login form posted with a
-- CSRF cookie and token fetched beforehand, and no session cookie, so the session every other
-- request carries stays valid).
--
-- wrk does not say which request a response answers (a thread has many connections), so each
-- response is classed by what it is: a download (200 with Content-Disposition, 206, 304, or a
-- 302 to the bucket), a 404, a page, a login (302 to the page LOGIN_REDIRECT_URL names), or
-- something else. Sent minus received per class is what was in flight when wrk stopped.
--
-- Each connection's first request is the big download, and responses are counted per second
-- of the clock, so that requests/s can be taken from the steady state (bench/soak/mix.py): wrk
-- keeps a body buffer per connection and grows it 1 KiB at a time (a realloc, with glibc an
-- mremap and fresh pages) the first time the connection receives a 1 MiB body. With the mix's
-- own order that first time is spread over the whole run, and at 256 connections it cost wrk
-- about half a second of CPU per 15 s run, on the same two cores as the app.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

sent = {}
received = {}
statuses = {}
per_second = {}

local params = {}
local cycle = {}
local position = 0
local prebuilt = {}
local missing_paths = {}
local list_paths = {}
local missing_next = 0
local list_next = 0
local first_requests_left = 0
local connections_per_thread = 0
local connections_started = 0
local ramp_ms = 0

local function split(text)
  local items = {}
  for item in string.gmatch(text, "[^,]+") do
    table.insert(items, item)
  end
  return items
end

function init(args)
  for _, arg in ipairs(args) do
    local key, value = string.match(arg, "^([%w_]+)=(.*)$")
    if key then
      params[key] = value
    end
  end
  for _, item in ipairs(split(params.weights)) do
    local kind, weight = string.match(item, "^([%w_]+):(%d+)$")
    for _ = 1, tonumber(weight) do
      table.insert(cycle, kind)
    end
    sent[kind] = 0
  end
  -- The same order every run, a different one per thread.
  math.randomseed(7919 * thread_number)
  for i = #cycle, 2, -1 do
    local j = math.random(i)
    cycle[i], cycle[j] = cycle[j], cycle[i]
  end
  position = math.random(#cycle) - 1
  connections_per_thread = tonumber(params.connections_per_thread or "0")
  first_requests_left = connections_per_thread
  ramp_ms = tonumber(params.ramp_ms or "0")
  if thread_number == 1 then
    -- wrk asks the first thread for one request before the run, to check it.
    first_requests_left = first_requests_left + 1
  end

  local session = { Cookie = params.cookie }
  prebuilt.small = wrk.format("GET", params.small_path, session)
  prebuilt.big = wrk.format("GET", params.big_path, session)
  prebuilt.range = wrk.format(
    "GET", params.big_path, { Cookie = params.cookie, Range = params.range }
  )
  prebuilt.not_modified = wrk.format(
    "GET", params.small_path, { Cookie = params.cookie, ["If-None-Match"] = params.etag }
  )
  prebuilt.login = wrk.format(
    "POST",
    params.login_path,
    {
      Cookie = "csrftoken=" .. params.csrf_token,
      ["Content-Type"] = "application/x-www-form-urlencoded",
    },
    params.login_body
  )
  for _, path in ipairs(split(params.missing_paths)) do
    table.insert(missing_paths, wrk.format("GET", path, session))
  end
  for _, path in ipairs(split(params.list_paths)) do
    table.insert(list_paths, wrk.format("GET", path, session))
  end
end

-- wrk asks before every request once a script has delay(). The connections' first requests are
-- spread evenly over the ramp, as users arrive: all at once, each one's first answer (the big
-- download) waited behind every other's, and those waits were the slowest 1% of a 15 s run at
-- 256 connections. After the ramp: none.
function delay()
  if connections_started < connections_per_thread then
    connections_started = connections_started + 1
    return math.floor(ramp_ms * (connections_started - 1) / connections_per_thread)
  end
  return 0
end

function request()
  -- wrk asks for each connection's first request as the connection opens, before any answer.
  if first_requests_left > 0 then
    first_requests_left = first_requests_left - 1
    sent.big = sent.big + 1
    return prebuilt.big
  end
  position = position % #cycle + 1
  local kind = cycle[position]
  sent[kind] = sent[kind] + 1
  if kind == "missing" then
    missing_next = missing_next % #missing_paths + 1
    return missing_paths[missing_next]
  elseif kind == "list" then
    list_next = list_next % #list_paths + 1
    return list_paths[list_next]
  end
  return prebuilt[kind]
end

local function header(headers, wanted)
  for name, value in pairs(headers) do
    if string.lower(name) == wanted then
      return value
    end
  end
  return nil
end

local function class_of(status, headers)
  if status == 206 or status == 304 then
    return "download"
  elseif status == 200 then
    if header(headers, "content-disposition") then
      return "download"
    end
    return "page"
  elseif status == 302 then
    local location = header(headers, "location") or ""
    if location == params.login_redirect then
      return "login"
    elseif string.match(location, "^https?://") then
      return "download"
    end
    return "redirect"
  elseif status == 404 then
    return "not_found"
  end
  return "other"
end

function response(status, headers, body)
  local second = os.time()
  per_second[second] = (per_second[second] or 0) + 1
  local code = tostring(status)
  statuses[code] = (statuses[code] or 0) + 1
  local class = class_of(status, headers)
  received[class] = (received[class] or 0) + 1
end

local function add_into(totals, counts)
  for key, count in pairs(counts) do
    totals[key] = (totals[key] or 0) + count
  end
end

local function json_counts(counts)
  local parts = {}
  for key, count in pairs(counts) do
    table.insert(parts, string.format("%q:%d", key, count))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- Responses per second of the clock as "second:count" pairs, in order.
local function seconds_counts(counts)
  local seconds = {}
  for second in pairs(counts) do
    table.insert(seconds, second)
  end
  table.sort(seconds)
  local parts = {}
  for _, second in ipairs(seconds) do
    table.insert(parts, string.format("%d:%d", second, counts[second]))
  end
  return table.concat(parts, ",")
end

-- The latency distribution as "percent:microseconds" pairs, finer in the tail, for merging the
-- slices of one connection count and for taking out the requests wrk adds for coordinated
-- omission (bench/soak/mix.py, omission.py), which land between the mean and the slowest
-- latencies. wrk's Lua gives percentiles, each a scan of the histogram from its fastest latency.
local function quantiles(latency)
  local parts = {}
  local function add(percent)
    table.insert(parts, string.format("%g:%d", percent, latency:percentile(percent)))
  end
  for step = 1, 160 do add(step / 2) end -- 0.5 .. 80
  for step = 1, 190 do add(80 + step / 10) end -- 80.1 .. 99
  for step = 1, 99 do add(99 + step / 100) end -- 99.01 .. 99.99
  -- wrk ranks a percentile p of n requests at round(p * n + 0.5): 100 would be past the last.
  table.insert(parts, string.format("100:%d", latency.max))
  return table.concat(parts, ",")
end

function done(summary, latency, requests)
  local totals = { sent = {}, received = {}, statuses = {}, per_second = {} }
  for _, thread in ipairs(threads) do
    for name, counts in pairs(totals) do
      add_into(counts, thread:get(name))
    end
  end
  local errors = summary.errors
  io.write(
    "SOAK-RESULT ",
    "{",
    string.format('"duration_us":%d,"requests":%d,"bytes":%d,', summary.duration, summary.requests, summary.bytes),
    string.format(
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},',
      errors.connect, errors.read, errors.write, errors.status, errors.timeout
    ),
    string.format(
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f},',
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean
    ),
    '"latency_quantiles":"', quantiles(latency), '",',
    '"sent":', json_counts(totals.sent), ",",
    '"received":', json_counts(totals.received), ",",
    '"statuses":', json_counts(totals.statuses), ",",
    '"per_second":"', seconds_counts(totals.per_second), '"',
    "}\n"
  )
end
