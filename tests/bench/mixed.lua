-- wrk script: alternates a contentInstance CREATE into the container named by
-- the URL with a RETRIEVE of its latest instance (.../la). Used by the memory
-- flatness run and the leak check, where every code path should be exercised.
local create, latest
local n = 0

function init(args)
  local path = wrk.path
  local h = { ["X-M2M-Origin"] = "Cbench", ["X-M2M-RI"] = "bench-mixed", ["X-M2M-RVI"] = "3" }
  latest = wrk.format("GET", path .. "/la", h)
  h["Content-Type"] = "application/json;ty=4"
  create = wrk.format("POST", path, h, '{"m2m:cin":{"cnf":"text/plain:0","con":"21.5"}}')
end

function request()
  n = n + 1
  if n % 2 == 0 then return latest end
  return create
end
