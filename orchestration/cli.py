"""``sfload``: the operations CLI. Subcommand groups from other packages plug in by entry point."""

from __future__ import annotations

from importlib.metadata import entry_points

import click


@click.group(help="sfload: keep Salesforce Opportunities in step with Data Cloud.")
def main() -> None:
    pass


def _register_plugins() -> None:
    # The emulator registers itself this way, so orchestration never imports it.
    for entry in entry_points(group="sfload.commands"):
        main.add_command(entry.load(), name=entry.name)


_register_plugins()
