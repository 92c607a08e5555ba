"""`nasfs backup add|edit|del|list|run|cancel|status|verify|generations|restore|key|disks|
host-keys|remotes`:
backups of shares off the array (docs/backup.md). Always through the array's daemon: runs
copy from snapshots of the mounted array.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import Any

from nasfs.cli.session import array_arguments, required_daemon
from nasfs.cli.users import emit
from nasfs.client.backup import BackupClient, BackupJob, BackupStatus, RunOutcome
from nasfs.errors import NasfsError, UsageError
from nasfs.wire import codes


class BackupFailed(NasfsError):
    """A run or verification did not succeed (exit code 1, the reason on one line)."""

    wire_code = codes.BACKUP_FAILED


def _client(args: argparse.Namespace) -> tuple[Any, BackupClient]:
    client = required_daemon(args, "backups run")
    return client, BackupClient(client)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{datetime.datetime.fromtimestamp(seconds, datetime.UTC):%Y-%m-%d %H:%M} UTC"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def _destination(args: argparse.Namespace) -> dict[str, Any] | None:
    given = [k for k in ("usb", "folder", "ssh", "cloud") if getattr(args, k) is not None]
    if len(given) > 1:
        raise UsageError("give one destination: --usb, --folder, --ssh or --cloud")
    if not given:
        return None
    if args.usb is not None:
        return {"kind": "usb", "uuid": args.usb, "path": args.usb_folder or "nasfs-backup"}
    if args.folder is not None:
        return {"kind": "folder", "path": args.folder}
    if args.ssh is not None:
        user, at, rest = args.ssh.rpartition("@")
        host, colon, path = rest.partition(":")
        if not colon:
            raise UsageError("--ssh is [USER@]HOST:/PATH (a share of the other box)")
        dest: dict[str, Any] = {"kind": "ssh", "host": host, "path": path,
                                "user": user if at else "root", "port": args.ssh_port}
        if args.ssh_host_key:
            dest["host_key"] = args.ssh_host_key
        return dest
    return {"kind": "cloud", "remote": args.cloud, "path": args.cloud_path or "",
            "crypt": bool(args.crypt)}


def _extras(args: argparse.Namespace) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if args.ssh_fingerprint:
        extra["ssh_fingerprint"] = args.ssh_fingerprint
    if args.cloud_option:
        settings = {}
        for item in args.cloud_option:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise UsageError(f"--cloud-option is KEY=VALUE, not {item!r}")
            settings[key] = value
        extra["cloud"] = settings
    if args.cloud_from:
        extra["cloud_from"] = args.cloud_from
    if args.crypt_password_stdin:
        extra["crypt_password"] = sys.stdin.readline().rstrip("\n")
    return extra


def _changes(args: argparse.Namespace, *, adding: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if args.source is not None:
        body["source"] = args.source
    dest = _destination(args)
    if dest is not None:
        body["destination"] = dest
    if args.schedule is not None:
        body["schedule"] = args.schedule
    if args.keep_last is not None and args.smart:
        raise UsageError("give --keep-last N or --smart, not both")
    if args.keep_last is not None:
        body["retention"] = {"keep_last": args.keep_last, "smart": False}
    elif args.smart:
        body["retention"] = {"keep_last": None, "smart": True}
    options: dict[str, Any] = {}
    if args.include is not None:
        options["include"] = args.include
    if args.exclude is not None:
        options["exclude"] = args.exclude
    if args.bwlimit is not None:
        options["bwlimit_kib"] = args.bwlimit or None
    for flag in ("verify", "eject"):
        if getattr(args, flag) is not None:
            options[flag] = getattr(args, flag)
    if args.verify_schedule is not None:
        options["verify_schedule"] = None if args.verify_schedule in ("", "off") \
            else args.verify_schedule
    if getattr(args, "new_name", None) is not None:
        body["name"] = args.new_name
    if options:
        body["options"] = options
    if adding and ("source" not in body or "destination" not in body):
        raise UsageError("a new job needs --source and a destination (--usb, --folder, "
                         "--ssh or --cloud)")
    return body


def _job_line(j: BackupJob, *, last: bool = True) -> str:
    result = j.last_run.result if j.last_run is not None else "never run"
    return (f"{j.name}: {j.source} → {j.destination_words}; "
            f"schedule {j.schedule or 'by hand'} (next {_when(j.next_run_s)}); "
            f"{j.retention_words}; last run: {result if last else 'never run'}")


def _cloud_from(args: argparse.Namespace, backups: BackupClient) -> None:
    """--cloud-from alone: the destination is a cloud one of that remote's backend type."""
    if args.cloud_from is None or args.cloud is not None:
        return
    found = [r for r in backups.remotes() if r.key == args.cloud_from]
    if not found:
        raise UsageError(f"there is no cloud remote {args.cloud_from!r} (nasfs backup "
                         "remotes lists them)")
    args.cloud = found[0].type
    if args.crypt is None:
        args.crypt = found[0].crypt


def cmd_add(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        _cloud_from(args, backups)
        body = _changes(args, adding=True)
        body["name"] = args.name
        job = backups.add(body, **_extras(args))
    emit(args, job.raw, f"backup job {job.name} added: {job.source} → "
                        f"{job.destination_words}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        _cloud_from(args, backups)
        changes = _changes(args, adding=False)
        job = backups.edit(args.name, changes, **_extras(args))
    emit(args, job.raw, f"backup job {job.name} changed: " + _job_line(job, last=False))
    return 0


def cmd_del(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        backups.delete(args.name)
    emit(args, {"name": args.name}, f"backup job {args.name} deleted (its generations stay "
                                    "at the destination)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        jobs = backups.jobs()
    emit(args, [j.raw for j in jobs], "\n".join(map(_job_line, jobs)) or "no backup jobs")
    return 0


def _result_line(name: str, r: RunOutcome) -> str:
    if r.succeeded:
        text = (f"backup {name}: generation {r.generation}, {r.files} files, "
                f"{_size(r.bytes)} ({_size(r.sent_bytes)} copied)")
        if r.removed:
            text += f"; removed {', '.join(r.removed)}"
        if r.removable:
            text += f"; {r.removable}"
        return text
    return f"backup {name} {r.result}: {r.detail}"


def cmd_run(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        r = backups.run(args.name, wait=not args.background)
    if args.background:
        emit(args, r.raw, f"backup {args.name} queued")
        return 0
    emit(args, r.raw, _result_line(args.name, r))
    return 0 if r.succeeded else 1


def cmd_cancel(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        r = backups.cancel(args.name)
    emit(args, r.raw, f"backup {args.name}: cancel requested")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        items = backups.status(args.name)
    emit(args, [s.raw for s in items], "\n".join(map(_status_line, items))
         or "no backup jobs")
    return 0


def _status_line(s: BackupStatus) -> str:
    if s.running and s.progress is not None:
        p = s.progress
        done = _size(p.bytes_done) + (f" of about {_size(p.total_bytes)}" if p.total_bytes
                                      else "")
        left = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
        state = (f"running ({p.phase}, {p.percent}%, {done}, "
                 f"{p.files_done} files, {p.rate or '-'}{left})")
    elif s.running:
        state = "running"
    elif s.queued:
        state = "queued"
    else:
        last = s.last_run
        state = "never run" if last is None else f"last run {last.result}" + (
            f", generation {last.generation}" if last.succeeded else f": {last.detail}")
    return f"{s.name}: {state}; next {_when(s.next_run_s)}"


def cmd_verify(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        r = backups.verify(args.name, args.generation)
    if r.ok:
        text = (f"generation {r.generation} of {args.name}: {r.files} files, "
                f"{_size(r.bytes)}, all match the manifest")
    else:
        found = {"changed": r.changed, "missing": r.missing, "extra": r.extra}
        text = (f"generation {r.generation} of {args.name} does NOT match its manifest: "
                + "; ".join(f"{k} {', '.join(paths[:5])}" for k, paths in found.items()
                            if paths))
    emit(args, r.raw, text)
    return 0 if r.ok else 1


def cmd_generations(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        if args.generation is None and args.path is None:
            gens = backups.generations(args.name)
        else:
            files = backups.files(args.name, args.generation, args.path)
    if args.generation is None and args.path is None:
        lines = [f"{g.name}  " + ("(incomplete: the next run continues it)"
                                  if g.incomplete else f"{g.files} files, {_size(g.bytes)}")
                 for g in gens]
        emit(args, [g.raw for g in gens], "\n".join(lines) or "no generations yet")
    else:
        emit(args, [f.raw for f in files], "\n".join(f"{_size(f.size):>10}  {f.path}"
                                                      for f in files) or "no files there")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        r = backups.restore(args.name, args.path, args.generation, args.to)
    emit(args, r.raw, f"restored {r.files} files ({_size(r.bytes)}) from generation "
                      f"{r.generation} to {r.path}")
    return 0


def cmd_key(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        key = backups.key()
    emit(args, {"public_key": key}, key)
    return 0


def cmd_disks(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        items = backups.disks()
    emit(args, [d.raw for d in items], "\n".join(f"{d.uuid}  {d.device}  {d.describe}"
                                                  for d in items) or "no disks with a filesystem")
    return 0


def cmd_host_keys(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        keys = backups.host_keys(args.host, args.ssh_port)
    emit(args, [k.raw for k in keys], "\n".join(f"{k.type}  {k.fingerprint}" for k in keys))
    return 0


def cmd_remotes(args: argparse.Namespace) -> int:
    client, backups = _client(args)
    with client:
        items = backups.remotes()
    emit(args, [r.raw for r in items], "\n".join(
        f"{r.key}  {r.type}{' (encrypted)' if r.crypt else ''}  {r.where}".rstrip()
        for r in items) or "no cloud remotes")
    return 0


def _job_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", metavar="SHARE[/FOLDER]", help="what to back up")
    dest = p.add_argument_group("destination (one of)")
    dest.add_argument("--usb", metavar="UUID", help="a USB disk, by filesystem UUID "
                                                    "(nasfs backup disks lists them)")
    dest.add_argument("--usb-folder", metavar="FOLDER",
                      help="folder on the disk (default nasfs-backup)")
    dest.add_argument("--folder", metavar="PATH", help="a folder on this box (absolute)")
    dest.add_argument("--ssh", metavar="[USER@]HOST:/PATH",
                      help="another box over ssh (PATH: a share of that box)")
    dest.add_argument("--ssh-port", type=int, default=22, metavar="N")
    dest.add_argument("--ssh-fingerprint", metavar="SHA256:...",
                      help="pin the host key with this fingerprint")
    dest.add_argument("--ssh-host-key", metavar="'TYPE BASE64'",
                      help="pin this host key line")
    dest.add_argument("--cloud", metavar="BACKEND",
                      help="an rclone backend type: s3, b2, webdav, sftp ...")
    dest.add_argument("--cloud-path", metavar="FOLDER", help="folder in the remote")
    dest.add_argument("--cloud-option", action="append", metavar="KEY=VALUE",
                      help="rclone setting of the backend (repeat); secrets stay root-only")
    dest.add_argument("--cloud-from", metavar="REMOTE",
                      help="a cloud destination with a copy of the settings (and crypt) "
                           "of a remote configured already (nasfs backup remotes lists them)")
    dest.add_argument("--crypt", action="store_true", default=None,
                      help="wrap the remote in rclone crypt")
    dest.add_argument("--crypt-password-stdin", action="store_true",
                      help="read the crypt password from standard input")
    p.add_argument("--schedule", metavar="CRON", help="five fields, UTC; 'off' = by hand")
    p.add_argument("--keep-last", type=int, metavar="N", help="keep the newest N (1..256)")
    p.add_argument("--smart", action="store_true",
                   help="hourly for a day, daily for a month, weekly after")
    p.add_argument("--include", action="append", metavar="PATTERN")
    p.add_argument("--exclude", action="append", metavar="PATTERN")
    p.add_argument("--bwlimit", type=int, metavar="KIB_S", help="bandwidth limit (0: none)")
    p.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                   help="re-read each new generation and compare with its manifest")
    p.add_argument("--eject", action=argparse.BooleanOptionalAction, default=None,
                   help="eject the USB disk when done")
    p.add_argument("--verify-schedule", metavar="CRON",
                   help="re-read the newest generation on this schedule (five fields, UTC; "
                        "'off' = never)")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    backup = subparsers.add_parser("backup", help="backups off the array: USB disks, other "
                                                  "boxes, the cloud")
    cmds = backup.add_subparsers(dest="backup_command", metavar="ACTION", required=True)
    add = cmds.add_parser("add", help="add a backup job")
    add.add_argument("name", metavar="JOB")
    _job_options(add)
    add.set_defaults(func=cmd_add)
    edit = cmds.add_parser("edit", help="change a backup job (only what is given)")
    edit.add_argument("name", metavar="JOB")
    edit.add_argument("--name", dest="new_name", metavar="NEW_NAME",
                      help="rename the job (its generations stay its own)")
    _job_options(edit)
    edit.set_defaults(func=cmd_edit)
    delete = cmds.add_parser("del", help="delete a job (its generations stay)")
    delete.add_argument("name", metavar="JOB")
    delete.set_defaults(func=cmd_del)
    listing = cmds.add_parser("list", help="jobs, schedules, last results")
    listing.set_defaults(func=cmd_list)
    run = cmds.add_parser("run", help="run a job now and wait for its result")
    run.add_argument("name", metavar="JOB")
    run.add_argument("--background", action="store_true", help="queue it and return")
    run.set_defaults(func=cmd_run)
    cancel = cmds.add_parser("cancel", help="stop a running job (the next run continues)")
    cancel.add_argument("name", metavar="JOB")
    cancel.set_defaults(func=cmd_cancel)
    status = cmds.add_parser("status", help="running jobs' progress, last results")
    status.add_argument("name", nargs="?", metavar="JOB")
    status.set_defaults(func=cmd_status)
    verify = cmds.add_parser("verify", help="re-read a generation, compare with its manifest")
    verify.add_argument("name", metavar="JOB")
    verify.add_argument("generation", nargs="?", metavar="GEN", help="default: the newest")
    verify.set_defaults(func=cmd_verify)
    gens = cmds.add_parser("generations", help="list generations, or the files of one")
    gens.add_argument("name", metavar="JOB")
    gens.add_argument("generation", nargs="?", metavar="GEN")
    gens.add_argument("--path", metavar="PATH", help="only files under PATH")
    gens.set_defaults(func=cmd_generations)
    restore = cmds.add_parser("restore", help="copy a file or folder back from a generation")
    restore.add_argument("name", metavar="JOB")
    restore.add_argument("path", metavar="PATH",
                         help="inside the job's source ('' or / for all of it)")
    restore.add_argument("--generation", metavar="GEN", help="default: the newest")
    restore.add_argument("--to", metavar="DEST",
                         help="a new path from the volume root; default: the original place, "
                              "or beside it as 'NAME (restored GEN)' when that is taken")
    restore.set_defaults(func=cmd_restore)
    key = cmds.add_parser("key", help="nasfs's ssh public key (for the other box)")
    key.set_defaults(func=cmd_key)
    disks = cmds.add_parser("disks", help="disks that can be destinations (UUID, label, "
                                          "model, size)")
    disks.set_defaults(func=cmd_disks)
    host_keys = cmds.add_parser("host-keys", help="the ssh host keys a box offers, with "
                                                  "their fingerprints (to pin one)")
    host_keys.add_argument("host", metavar="HOST")
    host_keys.add_argument("--ssh-port", type=int, default=22, metavar="N")
    host_keys.set_defaults(func=cmd_host_keys)
    remotes = cmds.add_parser("remotes", help="cloud remotes configured (for --cloud-from)")
    remotes.set_defaults(func=cmd_remotes)
    for p in (add, edit, delete, listing, run, cancel, status, verify, gens, restore, key,
              disks, host_keys, remotes):
        array_arguments(p)
