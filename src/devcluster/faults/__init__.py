"""Fault runs: a burst of mixed operations against a real cluster, one fault injected in its
middle (RabbitMQ stopped and started, PostgreSQL restarted or down for 10 s), then what a
user would check. Used by tests/faults (marker `faults`) and bench/faults.py.

- `services`: a PostgreSQL and a RabbitMQ of the run's own, always stopped afterwards;
- `workload`: the burst (`Burst`, `Call`) and what the user sees (`Tracker`, over WatchServers);
- `checks`: the judgement (`judge`: lost, duplicated, phantoms, capacity, events...);
- `run`: one fault run end to end (`FaultRun`, `FAULTS`, `RunSpec`).
"""
