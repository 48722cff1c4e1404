-- wrk script: RETRIEVE of the container's latest instance (GET .../la).
wrk.method = "GET"
wrk.headers["X-M2M-Origin"] = "Cbench"
wrk.headers["X-M2M-RI"] = "bench-la"
wrk.headers["X-M2M-RVI"] = "3"
wrk.headers["Accept"] = "application/json"
