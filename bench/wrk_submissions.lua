-- SPDX-License-Identifier: EUPL-1.2
-- wrk script for bench/submissions.py: POST the same JSON body with a new Idempotency-Key
-- on every request, so each request is a new application (or a new row for the insert
-- floor). Counts the responses by status and prints them as "status <code>: <count>".
--
--   wrk ... -s bench/wrk_submissions.lua http://127.0.0.1:<port>/<path> -- \
--       <body file> <key prefix> <bearer secret or "-">

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  body = file:read("*a")
  file:close()
  prefix = args[2]
  secret = args[3]
  counter = 0
  statuses = {}
end

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. "-" .. thread_id .. "-" .. counter,
  }
  if secret ~= "-" then
    headers["Authorization"] = "Bearer " .. secret
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("status %d: %d\n", status, count))
  end
end
