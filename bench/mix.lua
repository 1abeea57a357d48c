-- wrk script: the standard request mix of the benchmarks. Out of every 100
-- requests: 55 small JSON, 10 small JSON behind a proxy (X-Forwarded-For),
-- 12 of 4 KB, 2 of 64 KB, 11 chunked (gzip), 6 not found, 4 server errors.
local plan = {}
local function add(n, path, headers)
  for _ = 1, n do plan[#plan + 1] = {path, headers} end
end
add(55, "/json", {})
add(10, "/json", {["X-Forwarded-For"] = "203.0.113.7, 10.0.0.2"})
add(12, "/static/4k.bin", {})
add(2, "/static/64k.bin", {})
add(11, "/chunked/page.txt", {["Accept-Encoding"] = "gzip"})
add(6, "/missing", {})
add(4, "/error", {})

local n = 0
request = function()
  n = n + 1
  local p = plan[(n * 37) % #plan + 1] -- 37 is prime to 100: all kinds interleave
  return wrk.format("GET", p[1] .. "?n=" .. n, p[2])
end
