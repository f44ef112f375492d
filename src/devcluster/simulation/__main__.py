import os

# As the agent: gRPC's C core would log routine connection events as raw lines on stderr.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from devcluster.simulation.fleet import main

main()
