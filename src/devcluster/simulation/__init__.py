"""Fleet simulation: thousands of simulated agents in one process against a real controller.

Each simulated host speaks the real agent protocol (its own gRPC stream to the controller,
its own RabbitMQ command queue) over a SimulatedHypervisor that keeps domains in memory.
Everything it reports is simulation, and its metrics samples say so (`simulated=true`).
Run it as `python -m devcluster.simulation --hosts 5000 --controller HOST:PORT`.
"""
