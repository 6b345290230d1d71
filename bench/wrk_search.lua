-- SPDX-License-Identifier: EUPL-1.2
-- wrk script for bench/run.py: rotate realistic catalogue searches, one per request.
-- English and Welsh, whole titles and single words, misspellings (the engine offers
-- corrections), prefixes (search as you type) and words that match thousands of the
-- synthetic services. Usage:
--   wrk -t2 -c32 -d10s --latency -s bench/wrk_search.lua http://127.0.0.1:PORT

local paths = {
  "/en/search?q=driving+licence",
  "/en/search?q=renew+driving+licence",
  "/en/search?q=council+tax",
  "/en/search?q=pay+council+tax",
  "/en/search?q=housing+benefit",
  "/en/search?q=register+a+birth",
  "/en/search?q=blue+badge",
  "/en/search?q=school+place",
  "/en/search?q=free+school+meals",
  "/en/search?q=planning+permission",
  "/en/search?q=pothole",
  "/en/search?q=fly+tipping",
  "/en/search?q=bulky+waste+collection",
  "/en/search?q=fishing+licence",
  "/en/search?q=premises+licence",
  "/en/search?q=parking+permit",
  "/en/search?q=funeral+costs",
  "/en/search?q=register+to+vote",
  "/en/search?q=drivng+licence",
  "/en/search?q=councl+tax",
  "/en/search?q=recyclng+bin",
  "/en/search?q=regis",
  "/en/search?q=licen",
  "/en/search?q=taxi+permit",
  "/en/search?q=allotment+for+tenants",
  "/en/search?q=dog+licence",
  "/en/search?q=pension",
  "/en/search?q=council+tax&page=2",
  "/cy/search?q=trwydded+yrru",
  "/cy/search?q=treth+gyngor",
  "/cy/search?q=cofrestru+genedigaeth",
  "/cy/search?q=adnewyddu",
}

local counter = 0

function setup(thread)
  thread:set("offset", math.random(#paths))
end

function request()
  counter = counter + 1
  local index = ((counter + (offset or 0)) % #paths) + 1
  return wrk.format("GET", paths[index])
end
