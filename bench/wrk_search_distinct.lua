-- SPDX-License-Identifier: EUPL-1.2
-- wrk script for bench/run.py: a long tail of distinct searches, so the per-process cache
-- of recent result pages rarely helps and the search engine itself is measured. Each
-- request combines two words from the list below (in an order set by a counter), drops a
-- letter from some (typos the engine must correct) and varies the language and page.
-- Usage: wrk -t2 -c32 -d10s --latency -s bench/wrk_search_distinct.lua http://127.0.0.1:PORT

local words = {
  "licence", "permit", "grant", "allowance", "registration", "certificate", "badge",
  "pass", "exemption", "discount", "refund", "appeal", "inspection", "collection",
  "repair", "assessment", "allotment", "tenancy", "parking", "waste", "recycling",
  "housing", "school", "transport", "benefit", "pension", "tax", "rebate", "fishing",
  "boat", "trading", "alcohol", "taxi", "dog", "tree", "hedge", "footpath",
  "streetlight", "pothole", "flooding", "drainage", "noise", "pollution", "asbestos",
  "planning", "building", "demolition", "market", "street", "event", "driving",
  "council", "birth", "death", "marriage", "vote", "carer", "meals", "kerb", "bin",
  "residents", "businesses", "carers", "students", "pensioners", "landlords",
  "tenants", "drivers", "charities", "schools", "farmers", "traders", "visitors",
  "families", "veterans", "renew", "apply", "report", "register", "book",
}
local welsh = {
  "trwydded", "treth", "gyngor", "cofrestru", "genedigaeth", "bathodyn", "glas",
  "budd-dal", "tai", "ysgol", "parcio", "gwastraff", "adnewyddu", "priodas",
}

local counter = 0

function setup(thread)
  thread:set("offset", math.random(100000))
end

local function typo(word, n)
  if n % 3 ~= 0 or #word < 5 then
    return word
  end
  local at = (n % (#word - 2)) + 2
  return word:sub(1, at - 1) .. word:sub(at + 1)
end

function request()
  counter = counter + 1
  local n = counter + (offset or 0)
  local path
  if n % 5 == 0 then
    local a = welsh[(n % #welsh) + 1]
    local b = welsh[((n * 7) % #welsh) + 1]
    path = "/cy/search?q=" .. typo(a, n) .. "+" .. b
  else
    local a = words[(n % #words) + 1]
    local b = words[((n * 13 + n // #words) % #words) + 1]
    path = "/en/search?q=" .. typo(a, n) .. "+" .. b
  end
  if n % 7 == 0 then
    path = path .. "&page=2"
  end
  return wrk.format("GET", path)
end
