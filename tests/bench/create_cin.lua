-- wrk script: contentInstance CREATE (POST, ty=4) into the container given
-- by the request path (run.sh passes .../cse-in/bench/data in the URL).
wrk.method = "POST"
wrk.headers["X-M2M-Origin"] = "Cbench"
wrk.headers["X-M2M-RI"] = "bench-create"
wrk.headers["X-M2M-RVI"] = "3"
wrk.headers["Content-Type"] = "application/json;ty=4"
wrk.body = '{"m2m:cin":{"cnf":"text/plain:0","con":"21.5"}}'

-- Count non-2xx answers so that run.sh can refuse a run that measured errors.
local bad = 0
function response(status, headers, body)
  if status ~= 201 then bad = bad + 1 end
end
