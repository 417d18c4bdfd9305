-- wrk script for the load tests: POSTs forecast requests and prints one machine-readable result line at the end.
--   wrk -t2 -c64 -d20s --latency -s scripts/load-test/forecast.lua http://127.0.0.1:PORT -- models=a,b steps=50 input=8 [mix=1] [seed=1]
-- models: the model names, taken in turn request by request (the paths are /v1/models/NAME/forecast, which the
--   parse baseline app serves too, so one script measures both).
-- steps, input: time steps per sequence and features per step (one sequence per request).
-- mix=1: besides that single sequence, also send 2 and 4 sequences and a sequence of twice as many steps, in turn,
--   so a soak exercises more than one buffer size.
-- Bodies are built once per thread in init(), with fixed random numbers, so the generator spends no time on them.

local requests = {}
local next_request = 1

local function parse_args(args)
  local options = { models = "load-test", steps = "50", input = "8", mix = "0", seed = "1" }
  for _, arg in ipairs(args) do
    local key, value = arg:match("^([%w_]+)=(.*)$")
    if key == nil or options[key] == nil then
      error("forecast.lua: unknown argument '" .. arg .. "' (models=, steps=, input=, mix=, seed=)")
    end
    options[key] = value
  end
  return options
end

-- {"inputs":[[[x, ...input], ...steps], ...sequences]} with values in [-2, 2) to three decimals, like scaled sensor data.
local function body(sequences, steps, input)
  local parts = {}
  for s = 1, sequences do
    local rows = {}
    for t = 1, steps do
      local values = {}
      for i = 1, input do values[i] = string.format("%.3f", math.random() * 4 - 2) end
      rows[t] = "[" .. table.concat(values, ",") .. "]"
    end
    parts[s] = "[" .. table.concat(rows, ",") .. "]"
  end
  return '{"inputs":[' .. table.concat(parts, ",") .. "]}"
end

function init(args)
  local options = parse_args(args)
  local steps, input = tonumber(options.steps), tonumber(options.input)
  math.randomseed(tonumber(options.seed))
  local shapes = { { 1, steps } }
  if options.mix == "1" then
    shapes = { { 1, steps }, { 2, steps }, { 4, steps }, { 1, 2 * steps } }
  end
  local headers = { ["Content-Type"] = "application/json" }
  -- Shapes outside, models inside: consecutive requests go to different models.
  for _, shape in ipairs(shapes) do
    for name in options.models:gmatch("[^,]+") do
      requests[#requests + 1] = wrk.format("POST", "/v1/models/" .. name .. "/forecast", headers, body(shape[1], shape[2], input))
    end
  end
end

function request()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end

-- One line, "LOADTEST_RESULT {json}", for the calling script; latencies in microseconds.
function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'LOADTEST_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"requests_per_second":%.1f,' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes, summary.requests / summary.duration * 1e6,
    latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
