"""Entry point of the `nasfs` command: builds the parser from the subcommand modules.

Each subcommand module exposes `register(subparsers)` which adds its parsers and sets
`func` (a callable taking the parsed `argparse.Namespace` and returning an exit code).
Expected failures are `NasfsError`s: printed on one line as `nasfs: <message>`, exit code
from the exception. `--json` is a global flag that subcommands honour for scripting.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import select
import signal
import sys
from collections.abc import Sequence

from nasfs.errors import NasfsError

log = logging.getLogger(__name__)

# Modules under nasfs.cli that contribute subcommands, in the order they appear in --help.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "mount", "array", "users", "shares", "log", "auth", "trash", "snapshot", "backup", "mail",
    "recovery", "smb",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's default prints the whole usage block; one clear line is friendlier.
        self.exit(2, f"nasfs: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nasfs", description="Manage and mount a nasfs array.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        module = importlib.import_module(f"nasfs.cli.{name}")
        module.register(subparsers)
    _accept_json_everywhere(parser)
    _describe_every_command(parser)
    return parser


def _describe_every_command(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand without its own description the line `nasfs --help` lists it
    with, so `nasfs COMMAND ACTION --help` always says what the command does."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                line = listed.get(name)
                if not sub.description and line:
                    sub.description = line[0].upper() + line[1:] + "."
                _describe_every_command(sub)


def _accept_json_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let `--json` follow any subcommand too (`nasfs status --json`), not only precede it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if "--json" not in sub._option_string_actions:
                    sub.add_argument(
                        "--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output",
                    )
                _accept_json_everywhere(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = args.func(args)
    except NasfsError as exc:
        print(f"nasfs: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("nasfs: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise
        # `nasfs status | head -1`: the reader has all it wanted. Nothing more can be said
        # on stdout, and Python's own flush at exit must not fail on it again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    return int(result or 0)


# What a shell reports for a command killed by SIGPIPE, as `cat` or `ls` would be.
SIGPIPE_EXIT = 128 + signal.SIGPIPE


def _stdout_reader_gone() -> bool:
    """stdout is a pipe whose reading end is closed (so the BrokenPipeError was stdout's and
    not some other pipe's, which stays an error worth its traceback)."""
    try:
        fd = sys.stdout.fileno()
        events = select.poll()
        events.register(fd, select.POLLOUT)
        return any(e & select.POLLERR for _, e in events.poll(0))
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())
