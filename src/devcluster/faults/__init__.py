"""Fault runs: a burst of mixed operations against a real cluster, one fault injected in its
middle (a service stopped or restarted, a process killed or paused, the agents' links cut),
then what a user would check. Used by tests/faults (marker `faults`) and bench/faults.py.

- `services`: a PostgreSQL and a RabbitMQ of the run's own, always stopped afterwards;
- `workload`: the burst (`Burst`, `Call`) and what the user sees (`Tracker`, over WatchServers);
- `checks`: the judgement (`judge`: lost, duplicated, phantoms, capacity, events...);
- `catalogue`: the faults (`FAULTS`) and how they find what they strike;
- `run`: one fault run end to end (`FaultRun`, `RunSpec`).
"""
