"""`make bench-http`: linker over real HTTP, one process per part, on one machine.

- `tenant`: a zero-latency stand-in for the Auth0 tenant, with only the endpoints a link flow
  calls; it counts the calls per endpoint (`GET /_stats`).
- `loadgen`: a closed-loop load generator that plays the browser and the Action shim through
  complete link flows.
- `run`: starts the tenant, `linker serve` (1 worker, then 2 workers with Redis) and a load
  generator per phase, and prints what each phase cost linker (`python -m benchmarks.http`).
"""
