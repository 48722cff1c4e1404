-- wrk script: contentInstance CREATE (POST, ty=4) into the container named by
-- the URL (run.py passes .../cse-in/bench/data). Failures show up in wrk's
-- "Non-2xx or 3xx responses" line, which run.py turns into an error.
wrk.method = "POST"
wrk.headers["X-M2M-Origin"] = "Cbench"
wrk.headers["X-M2M-RI"] = "bench-create"
wrk.headers["X-M2M-RVI"] = "3"
wrk.headers["Content-Type"] = "application/json;ty=4"
wrk.body = '{"m2m:cin":{"cnf":"text/plain:0","con":"21.5"}}'
