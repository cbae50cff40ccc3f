-- wrk script for the Data API bench. Environment:
--   MODE     findOne (by a random _id from IDS_FILE) or find (filter {}, limit 10)
--   APP_PATH /app/<app>/endpoint/data/v1/action
--   IDS_FILE one ObjectId hex per line
--   API_KEY  sent as the `apiKey` header when set (the bare floor takes none)
local mode = os.getenv("MODE") or "findOne"
local base = os.getenv("APP_PATH") or "/app/todo/endpoint/data/v1/action"
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do
  ids[#ids + 1] = line
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("API_KEY")
if key and key ~= "" then
  wrk.headers["apiKey"] = key
end

local namespace = '"dataSource":"mongodb-atlas","database":"todo","collection":"items"'

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(seed or os.time())
end

request = function()
  if mode == "find" then
    return wrk.format(nil, base .. "/find", nil,
      "{" .. namespace .. ',"filter":{},"limit":10}')
  end
  local id = ids[math.random(#ids)]
  return wrk.format(nil, base .. "/findOne", nil,
    "{" .. namespace .. ',"filter":{"_id":{"$oid":"' .. id .. '"}}}')
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f requests=%d failed=%d\n",
    summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, bad))
end
