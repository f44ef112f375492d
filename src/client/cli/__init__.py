"""The `overcast` command line interface (typer + rich) over `client.Client`."""
