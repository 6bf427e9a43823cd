-- The one wrk script of bench/run.sh, configured by environment variables (run wrk with -t1):
--   BENCH_METHOD  GET (default) or POST         BENCH_BODY   request body (POST)
--   BENCH_CTYPE   Content-Type of the body      BENCH_PATH   the path of every request
--   BENCH_PATHS   file of paths, one a line, taken in turn (instead of BENCH_PATH)
--   BENCH_TOKEN   bearer token of every request
--   BENCH_TOKENS  file of tokens, one a line; the next one is used after each full pass over
--                 BENCH_PATHS (so with distinct paths every request is a distinct pair)
--   BENCH_LIMIT   stop after this many responses (to create an exact-ish number of actions)
-- done() prints one line: BENCH_RESULT {json} with the counts bench.py reads.

local function lines(file)
  local t = {}
  if file and file ~= "" then
    for l in io.lines(file) do
      if l ~= "" then t[#t + 1] = l end
    end
  end
  return t
end

local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
local ctype = os.getenv("BENCH_CTYPE")
local path = os.getenv("BENCH_PATH") or "/"
local paths = lines(os.getenv("BENCH_PATHS"))
local token = os.getenv("BENCH_TOKEN")
local tokens = lines(os.getenv("BENCH_TOKENS"))
local limit = tonumber(os.getenv("BENCH_LIMIT") or "")

local function headers_for(tok)
  local h = {}
  if tok and tok ~= "" then h["Authorization"] = "Bearer " .. tok end
  if ctype and ctype ~= "" then h["Content-Type"] = ctype end
  return h
end

wrk.method = method
wrk.body = body
wrk.path = path
wrk.headers = headers_for(token)

if #paths > 0 or #tokens > 0 then
  local n = 0
  local per_token = math.max(#paths, 1)
  local cache = {}
  request = function()
    local p = #paths > 0 and paths[(n % #paths) + 1] or path
    local t = token
    if #tokens > 0 then
      t = tokens[(math.floor(n / per_token) % #tokens) + 1]
    end
    n = n + 1
    local h = cache[t or ""]
    if not h then
      h = headers_for(t)
      cache[t or ""] = h
    end
    return wrk.format(method, p, h, body)
  end
end

if limit then
  local seen = 0
  response = function(status, headers, body)
    seen = seen + 1
    if seen >= limit then wrk.thread:stop() end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "status": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, "lat_mean_us": %.1f, "lat_p50_us": %d, "lat_p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99)))
end
