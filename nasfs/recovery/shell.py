"""The interactive shell (Python's `cmd`) and the one-shot runner of `nasfs recovery`.

Plain text only, so it works on a serial console. Each command sets an exit status:
0 done and clean, 1 done with findings (or a failure), 2 a usage mistake. One-shot mode
runs its commands in order, stops at the first that fails outright, and returns the
highest status seen. Errors are one line each: `nasfs: <message>`.
"""

from __future__ import annotations

import argparse
import cmd
import logging
import shlex
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from nasfs.errors import NasfsError, UsageError
from nasfs.recovery import repair, restore, sides, status
from nasfs.recovery.check import run_check
from nasfs.recovery.copies import DATABASES
from nasfs.recovery.salvage import ChunkReader, Salvager, outside_array, resolve
from nasfs.recovery.session import RecoverySession
from nasfs.store.disks import disk_index, disk_name
from nasfs.store.events import Progress
from nasfs.units import rate, size
from nasfs.wire.types import UnlockReport, from_dict

log = logging.getLogger(__name__)

OK, FINDINGS, USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see 'help {self.prog}')")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"{self.prog}: bad arguments")


def _parser(name: str, *arguments: tuple[Sequence[str], dict[str, Any]]) -> _Parser:
    parser = _Parser(prog=name, add_help=False)
    for flags, options in arguments:
        parser.add_argument(*flags, **options)
    return parser


PARSERS = {
    "status": _parser("status"),
    "check": _parser("check", (["--full"], {"action": "store_true"})),
    "scrub": _parser("scrub", (["--resume"], {"action": "store_true"}),
                     (["--no-repair"], {"action": "store_true"})),
    "rebuild": _parser("rebuild", (["--disk"], {"type": disk_index, "required": True,
                                                 "dest": "member"}),
                       (["--onto"], {"type": Path, "required": True})),
    "metadata": _parser("metadata", (["action"], {"nargs": "?", "default": "list",
                                                   "choices": ("list", "restore")}),
                        (["--from"], {"type": disk_index, "dest": "source"}),
                        (["--db"], {"action": "append", "choices": DATABASES})),
    "salvage": _parser("salvage", (["dest"], {"type": Path}),
                       (["path"], {"nargs": "?", "default": "/"})),
    "repair": _parser("repair", (["what"], {"choices": ("refs",)})),
    "unlock": _parser("unlock", (["user"], {"nargs": "?"}), (["--source"], {})),
    "choose-side": _parser("choose-side", (["disk"], {"type": disk_index})),
    "fsck": _parser("fsck", (["--repair"], {"action": "store_true"}),
                    (["--full"], {"action": "store_true"})),
}




HELP_WIDTH = 79  # one column short of 80: a terminal wraps a line that fills the last one


class RecoveryShell(cmd.Cmd):
    intro = ("nasfs recovery shell: the array is locked for maintenance. Type 'help' for the "
             "commands, 'quit' to leave.")
    prompt = "recovery> "

    def __init__(self, session: RecoverySession, stdout: IO[str] | None = None,
                 stderr: IO[str] | None = None, stdin: IO[str] | None = None) -> None:
        super().__init__(stdin=stdin, stdout=stdout or sys.stdout)
        self.session = session
        self.err = stderr or sys.stderr
        self.status = OK
        self.errored = False  # the last command failed outright (not merely found things)
        if stdin is not None:
            self.use_rawinput = False

    # -- plumbing --------------------------------------------------------------------------

    def say(self, line: str) -> None:
        self.stdout.write(line + "\n")
        self.stdout.flush()

    def fail(self, message: str, code: int) -> None:
        self.err.write(f"nasfs: {message}\n")
        self.err.flush()
        self.status = code
        self.errored = True

    def run_line(self, line: str) -> int:
        """Run one command line; its exit status."""
        self.status = OK
        self.errored = False
        self.onecmd(line)
        return self.status

    def onecmd(self, line: str) -> bool:
        if line == "EOF":  # cmd.Cmd's word for the end of input (Ctrl-D): leave quietly.
            self.say("")  # Handled here, not as do_EOF, so 'help' does not list it.
            return True
        # Command names are spelled with dashes (choose-side); cmd.Cmd wants identifiers.
        words = line.split(maxsplit=2)
        if words and "-" in words[0] and not words[0].startswith("-"):
            line = line.replace(words[0], words[0].replace("-", "_"), 1)
        elif len(words) > 1 and words[0] == "help" and "-" in words[1]:
            line = f"help {words[1].replace('-', '_')}"
        try:
            return bool(super().onecmd(line))
        except UsageError as exc:
            self.fail(str(exc), USAGE)
        except NasfsError as exc:
            self.fail(str(exc), max(exc.exit_code, FINDINGS))
        except OSError as exc:
            self.fail(f"{exc.filename or 'the system'}: {exc.strerror or exc}", FINDINGS)
        except KeyboardInterrupt:
            self.fail("interrupted (scrub and rebuild resume where they stopped)", FINDINGS)
        return False

    def do_help(self, arg: str) -> bool | None:
        """help [COMMAND]
    List the commands, or explain one."""
        method = getattr(self, f"do_{arg.strip()}", None) if arg.strip() else None
        if method is None or not method.__doc__:
            return super().do_help(arg)
        self.say(help_text(method.__doc__))
        return None

    def emptyline(self) -> bool:
        return False  # never repeat the last command: it may have been a rebuild

    def default(self, line: str) -> None:
        self.fail(f"unknown command {line.split()[0]!r} (type 'help' for the list)", USAGE)

    def _args(self, name: str, arg: str) -> argparse.Namespace:
        try:
            words = shlex.split(arg)
        except ValueError as exc:
            raise UsageError(f"{name}: {exc}") from None
        return PARSERS[name].parse_args(words)

    def _progress(self, what: str) -> Callable[[Progress], None]:
        last = [-1.0]

        def show(p: Progress) -> None:
            pct = 100.0 * p.done_bytes / p.total_bytes if p.total_bytes else 100.0
            if pct - last[0] < 5.0 and pct < 100.0:
                return  # a line per 5 %: readable on a 9600-baud console
            last[0] = pct
            eta = f", about {p.eta_s:.0f} s left" if p.eta_s is not None and pct < 100 else ""
            self.say(f"{what}: {pct:5.1f}%  {size(p.done_bytes)} of {size(p.total_bytes)}, "
                     f"{rate(p.rate_bytes_per_s)}{eta}")

        return show

    # -- commands --------------------------------------------------------------------------

    def do_status(self, arg: str) -> None:
        """status
    Members found, missing, stale or foreign (with the reason), every metadata database's
    copies with generation and health (SQLite quick_check), and the store catalog."""
        self._args("status", arg)
        for line in (*status.member_lines(self.session), *status.copy_lines(self.session),
                     *status.catalog_lines(self.session)):
            self.say(line)

    def do_check(self, arg: str) -> None:
        """check [--full]
    Look for damage without changing anything: members, metadata copies that disagree,
    entries naming missing inodes, inodes no path reaches (the trash counts as a root),
    orphans, extents naming unknown chunks, reference counts, and stripes (a sample of 64;
    --full reads every stripe). Exit status 1 when something was found."""
        args = self._args("check", arg)
        findings = run_check(self.session, full=args.full, say=self.say)
        for f in findings:
            self.say("FOUND " + f.line())
        if findings:
            self.say(f"check: {len(findings)} finding(s)"
                     + ("; 'fsck --repair' fixes those marked" if any(f.fixable for f in findings)
                        else ""))
            self.status = FINDINGS
        else:
            self.say("check: clean")

    def do_fsck(self, arg: str) -> None:
        """fsck [--repair] [--full]
    Without --repair, the same as 'check'. With --repair, fix what is safe to fix: purge
    orphan inodes, remove entries naming missing inodes, reconcile reference counts. Each
    fix is reported; the rest of check's findings need a person (restore, salvage)."""
        args = self._args("fsck", arg)
        if not args.repair:
            self.do_check("--full" if args.full else "")
            return
        fixes = repair.fsck_repair(self.session, self.say)
        self.say(f"fsck: {fixes} fix(es) made")

    def do_scrub(self, arg: str) -> None:
        """scrub [--resume] [--no-repair]
    Read every stripe, check every chunk and parity, rewrite what parity can rebuild.
    --resume goes on from an interrupted scrub; --no-repair only reports."""
        args = self._args("scrub", arg)
        with self.session.open_store("scrub") as store:
            report = store.scrub(resume=args.resume, repair=not args.no_repair,
                                 progress=self._progress("scrub"))
        self.say(f"scrub: {report.stripes} stripes, {report.repaired_shards} shard(s) "
                 f"repaired, {report.degraded_stripes} degraded, "
                 f"{len(report.unrecoverable)} unrecoverable")
        for line in report.unrecoverable:
            self.say(f"  unrecoverable: {line}")
        if report.unrecoverable:
            self.status = FINDINGS

    def do_rebuild(self, arg: str) -> None:
        """rebuild --disk N --onto DIR
    Recreate missing disk N (numbered from 1, as 'status' lists them) on the
    empty directory DIR (a new disk's mount point) from the other disks. An
    interrupted rebuild resumes when run again onto the same DIR."""
        args = self._args("rebuild", arg)
        onto = args.onto.absolute()
        with self.session.open_store("rebuild") as store:
            report = store.rebuild(args.member, onto, progress=self._progress("rebuild"))
        self.session.resurvey([onto])
        restore.fill_missing_copies(self.session, report.member, self.say)
        self.say(f"rebuild: {disk_name(report.member)} onto {report.onto}: {report.stripes} "
                 f"stripes, {report.bytes_written} bytes written, "
                 f"{len(report.unrecoverable)} unrecoverable")
        for line in report.unrecoverable:
            self.say(f"  unrecoverable: {line}")
        if report.unrecoverable:
            self.status = FINDINGS

    def do_choose_side(self, arg: str) -> None:
        """choose-side DISK
    After a split (parts of the array mounted and written apart; 'status' lists the
    sides), keep the side that holds disk DISK (counted from 1). Only that side's labels
    are rewritten; the other side's disks become stale and are never read: empty them and
    rebuild onto them."""
        args = self._args("choose-side", arg)
        sides.choose_side(self.session, args.disk, self.say)

    def do_metadata(self, arg: str) -> None:
        """metadata [list]
metadata restore --from N [--db NAME]...
    List every copy of store.db, fs.db, policy.db and audit.db with generation and health.
    'restore' makes disk N's copies the source for all others (all four databases, or
    those named with --db); each replaced copy is kept as NAME.db.before-restore-<time>."""
        args = self._args("metadata", arg)
        if args.action == "list":
            if args.source is not None or args.db:
                raise UsageError("metadata: --from and --db go with 'restore'")
            for line in status.copy_lines(self.session):
                self.say(line)
            return
        if args.source is None:
            raise UsageError("metadata restore: --from N (a disk number) is required "
                             "(see 'metadata')")
        databases = args.db or [d for d, copies in self.session.copies().items()
                                if any(c.exists for c in copies)]
        backups = restore.restore_from(self.session, args.source, databases, self.say)
        self.say(f"metadata: {', '.join(databases)} restored from {disk_name(args.source)}; "
                 f"{len(backups)} old copie(s) kept beside them")

    def do_salvage(self, arg: str) -> None:
        """salvage DEST [PATH]
    Copy PATH (default: everything) out of the array into DEST, a directory on another
    disk, straight from the metadata and the member disks: works when the array cannot be
    mounted or assembled. Keeps modes, owners, times, symlinks and hard links. Files with
    a lost record are not written; they are listed (exit status 1). Existing names in DEST
    are left alone, so a second run only adds what is missing."""
        args = self._args("salvage", arg)
        dest = args.dest.absolute()
        outside_array(dest, self.session.members)
        with self.session.read_metadata() as conn:
            ino = resolve(conn, args.path)
            reader = ChunkReader(conn, self.session.present, self.session.member_count,
                                 self.session.nparity)
            name = args.path.rstrip("/").rsplit("/", 1)[-1] or "/"
            report = Salvager(conn, reader, self.say).run(ino, name, dest)
        for line in report.lost:
            self.say(f"  LOST {line}")
        for line in report.skipped:
            self.say(f"  skipped {line}")
        self.say(f"salvage: {report.files} file(s) ({report.bytes} bytes), "
                 f"{report.directories} director(ies), {report.symlinks} symlink(s), "
                 f"{report.others} other(s) copied to {dest}; {len(report.lost)} lost, "
                 f"{len(report.skipped)} skipped")
        if report.lost:
            self.status = FINDINGS

    def do_repair(self, arg: str) -> None:
        """repair refs
    Recount every chunk's references from fs.db (live files, snapshots and trash: one per
    extent row) and set the store's counts to match, reporting each change."""
        self._args("repair", arg)
        repair.repair_refs(self.session, self.say)

    def do_unlock(self, arg: str) -> None:
        """unlock [USER] [--source SOURCE]
    Lift the login lock-out of USER (or of a terminal/address with --source). Without
    arguments, list the locks in force."""
        args = self._args("unlock", arg)
        if args.user is None and args.source is None:
            found = repair.locks(self.session)
            for lock in found:
                self.say(f"locked {lock.kind} {lock.subject}")
            if not found:
                self.say("unlock: nothing is locked")
            return
        result = repair.unlock(self.session, args.user, args.source)
        self.say(f"unlock: {from_dict(UnlockReport, result).sentence()}")

    def do_quit(self, arg: str) -> bool:
        """quit
    Leave the shell (the array lock is released)."""
        return True

    do_exit = do_quit



def help_text(doc: str, width: int = HELP_WIDTH) -> str:
    """A command's docstring as help: its usage lines as written, the explanation reflowed
    to fit `width` columns (the box's screen and a serial terminal are 80 wide)."""
    usage: list[str] = []
    body: list[str] = []
    for line in doc.splitlines():
        (body if line.startswith(" ") or body else usage).append(line.strip())
    text = textwrap.fill(" ".join(w for w in body if w), width=width,
                         initial_indent="    ", subsequent_indent="    ")
    return "\n".join([*usage, text] if text else usage)


def run_commands(session: RecoverySession, lines: Sequence[str], *,
                 stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """One-shot mode: run each line; stop at the first outright failure."""
    shell = RecoveryShell(session, stdout=stdout, stderr=stderr)
    worst = OK
    for line in lines:
        code = shell.run_line(line)
        worst = max(worst, code)
        if shell.errored:
            break
    return worst
