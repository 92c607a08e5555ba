"""`nasfs recovery`: the maintenance shell for an array that is not mounted (see
docs/recovery.md). Interactive by default; `--run "COMMAND ARGS"` (repeatable) runs
commands one-shot for scripts, with exit status 0 clean, 1 findings or failure, 2 usage."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from nasfs.config import load_config
from nasfs.errors import UsageError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "recovery", help="maintenance shell for an unmounted, degraded or damaged array",
        description="Check, scrub, rebuild, restore metadata, salvage files and unlock "
                    "accounts with the array unmounted. Refuses while a daemon serves the "
                    "array. Type 'help' in the shell for its commands.")
    parser.add_argument("--array", nargs="+", type=Path, metavar="MEMBER",
                        help="the array's member directories (any order; missing ones too)")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="config file (default /etc/nasfs/nasfs.toml)")
    parser.add_argument("--run", action="append", metavar="COMMAND",
                        help="run this shell command and exit (repeatable, in order)")
    parser.set_defaults(func=cmd_recovery)


def cmd_recovery(args: argparse.Namespace) -> int:
    from nasfs.recovery import RecoverySession, RecoveryShell, run_commands

    config = load_config(args.config).with_overrides(members=args.array)
    if not config.members:
        raise UsageError("no array given: name its member directories with --array")
    with RecoverySession(list(config.members), config.run_dir) as session:
        if args.run:
            return run_commands(session, args.run)
        shell = RecoveryShell(session)
        shell.cmdloop()
        return 0
