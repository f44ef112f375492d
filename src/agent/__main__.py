import os

# gRPC's C core logs routine events (e.g. a controller's GOAWAY) as raw lines on stderr;
# the agent logs connection changes itself. Must be set before grpc is imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from agent.app import main

main()
