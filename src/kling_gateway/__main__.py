"""Run the command line as `python -m kling_gateway`."""

from kling_gateway.cli import app

app()
