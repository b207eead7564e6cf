"""The `ragcli` command's entry point: the CLI, and a Ctrl-C while it is still being imported.

Importing the CLI (typer, rich, numpy, the pipeline) takes a few tenths of a second, before
cli.run installs its handlers: a Ctrl-C then ended in a 30-60 line traceback from the import
machinery. Here it is the same one line, and exit code, as any other interruption.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from ragcli.cli import run
    except KeyboardInterrupt:
        from ragcli.errors import Interrupted

        print("Fejl: afbrudt (Ctrl-C)", file=sys.stderr)
        raise SystemExit(Interrupted.exit_code) from None
    run()
