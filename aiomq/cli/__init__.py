"""The ``aiomq`` command line: one click group; each command is a module of this package
(``demo``) or an entry point in the ``aiomq.commands`` group, loaded only when it runs.

``aiomq kafka start|stop|status|fetch`` (a local broker for development) comes from
``aiomq.testing`` through that entry point: the runtime never imports the test support.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import click

from .. import __version__
from ._demo import demo

__all__ = ["main"]

COMMANDS_GROUP = "aiomq.commands"


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}


class _Commands(click.Group):
    """A click group whose plugin commands are imported only when they are run or listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        plugin = _plugins().get(cmd_name)
        if plugin is None:
            return None
        loaded = plugin.load()
        if not isinstance(loaded, click.Command):
            raise click.ClickException(f"entry point {plugin.value!r} is not a click command")
        return loaded


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="aiomq")
def main() -> None:
    """aiomq: Go's concurrency toolkit and a sarama-style Kafka client, for coroutines."""


main.add_command(demo)


if __name__ == "__main__":
    main()
