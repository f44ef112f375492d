"""Property-based fuzzing of the public API (Hypothesis), from outside: every RPC a running
controller lists, with random and malformed requests drawn from the protobuf descriptors.

- `surface`: the public methods, found through server reflection;
- `messages`, `vocabulary`, `payloads`: what is sent (strategies from the descriptors, the
  words fields are named for, malformed bytes);
- `calls`: one call over a generic channel, raw bytes both ways;
- `expected`: the status codes each method may answer;
- `inventory`: rows, domains and files, what accepted calls made, the clean-up;
- `campaign`: every method in turn, judged as it goes.
Used by tests/integration/test_fuzz.py.
"""
