"""Runs a local Overcast cluster (controller and agents as real processes on libvirt's test
driver) for the demo, the tests and the benchmarks. Development tooling, not a product API."""
