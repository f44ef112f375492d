"""`make config-docs`: write docs/configuration.md from the settings models, so the reference
cannot drift from the code (tests/unit/test_settings_conventions.py fails when it is stale).
`--check` only says whether the committed file is current."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.settings import AgentSettings
from controller.settings import ControllerSettings
from daemon.settings import CONFIG_VARIABLE
from daemon.settings_docs import markdown
from devcluster.simulation.settings import FleetSettings

ROOT = Path(__file__).resolve().parents[1]
PATH = ROOT / "docs" / "configuration.md"
COMMAND = "make config-docs"

HEADER = f"""# Configuration

<!-- Generated from the settings models by `{COMMAND}` (scripts/config_docs.py): edit the
models in src/*/settings.py, not this file. -->

The controller, the agent and the fleet simulation are configured the same way
(`src/daemon/settings.py`). Every setting has a name, and from it:

- a flag, `--NAME`;
- an environment variable, `OVERCAST_NAME` in upper snake case (the fleet simulation's own
  settings: `OVERCAST_SIM_NAME`);
- a key in a TOML config file given by `--config FILE` or `{CONFIG_VARIABLE}`: the field in its
  group's section, as the tables' headings say (`[heartbeats]` then `interval_s = 2.0`).

A flag wins over a variable, a variable over the config file, the file over the default.
Durations are in seconds (their fields end in `_s`). Every value, wherever it comes from, is
checked the same way: a bad one stops the process with exit status 2 and one line that names
the flag, the variable and what is allowed, e.g.

```
overcast controller: --heartbeat-interval / OVERCAST_HEARTBEAT_INTERVAL: must be greater than 0 (got -3)
```

`python -m controller --help` (or `agent`, `devcluster.simulation`) lists the same settings.
The controller hands its child processes (the scheduler, the outbox relay) its settings as the
same model, checked again on their side.

A config file for a controller:

```toml
[database]
url = "postgresql://postgres@db.example:5432/overcast"

[heartbeats]
interval_s = 2.0

[placement]
strategy = "pack"
```
"""


def render() -> str:
    return "\n".join([HEADER, markdown(ControllerSettings), markdown(AgentSettings), markdown(FleetSettings)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--check", action="store_true", help="exit 1 if the committed file is stale")
    args = p.parse_args()
    text = render()
    if args.check:
        if not PATH.is_file() or PATH.read_text() != text:
            sys.exit(f"{PATH.relative_to(ROOT)} is stale: run `{COMMAND}`")
        return
    PATH.parent.mkdir(exist_ok=True)
    PATH.write_text(text)
    print(f"wrote {PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
