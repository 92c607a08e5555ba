"""The console against real daemons on real arrays: not running, start, health, jobs.

Each test mounts a real array through `nasfs mount` (the daemon is its own process, as on
the box) using the fixtures of test_cli_mount.py, and drives the real console with Pilot
at 80×24.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import test_cli_mount
from test_cli_mount import Env
from test_console_helpers import assert_on_screen, run, screen_text, wait_for, wait_for_text

from console.app import NasConsole
from console.backend import Backend
from nasfs.config import Config, write_config

SIZE = (80, 24)

# The daemon tests' fixture: member directories, real `nasfs mount`, SIGKILL at teardown.
env = test_cli_mount.env


def console_for(env: Env, mountpoint: Path, **options: object) -> NasConsole:
    options.setdefault("require_login", False)
    return NasConsole(Backend(mountpoint, run_dir=env.run_dir), poll_s=0.2,
                      **options)  # type: ignore[arg-type]


def fill(mountpoint: Path, files: int = 4, size: int = 1 << 20) -> None:
    for i in range(files):
        (mountpoint / f"file{i}.bin").write_bytes(os.urandom(size))


def empty_member(member: Path) -> None:
    shutil.rmtree(member)
    member.mkdir()


def test_not_running_is_said_on_every_screen(env: Env) -> None:
    mnt = env.mountpoint()

    async def scenario() -> None:
        app = console_for(env, mnt, require_login=True)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "not running")
            assert "F11 start the array" in screen_text(app)
            assert "Logging in" not in screen_text(app)
            app.locked = False
            app.pop_screen()
            for key in ("f1", "f2"):
                await pilot.press(key)
                await wait_for_text(pilot, "F11 start the array")
                assert "NO SERVICE" in screen_text(app)

    run(scenario())


def test_start_the_array_from_the_console(env: Env, tmp_path: Path) -> None:
    members = env.members()
    mnt = env.mountpoint()
    config_file = tmp_path / "nasfs.toml"
    write_config(Config(members=tuple(members), mountpoint=mnt, run_dir=env.run_dir,
                        log_file=tmp_path / "daemon.log"), config_file)

    async def scenario() -> None:
        from nasfs.config import load_config

        backend = Backend(load_config(config_file), config_file=config_file)
        app = NasConsole(backend, require_login=False, poll_s=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, f"F11 start the array (nasfs mount --config {config_file}")
            await pilot.press("f11")
            await wait_for_text(pilot, "array HEALTHY")
            await wait_for_text(pilot, f"mounted at {mnt}")
            await wait_for(pilot, lambda: "F11 Start array" not in screen_text(app),
                           "the start key gone from the footer")

    run(scenario())


def test_dashboard_healthy_then_degraded(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)

    async def scenario() -> None:
        app = console_for(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_text(pilot, "Array HEALTHY")
            assert_on_screen(app, "All disks are working")
            lines = screen_text(app).splitlines()
            for i, member in enumerate(members):
                assert any(f"disk {i + 1}  ok" in line and line.rstrip().endswith(member.name)
                           for line in lines), lines
            env.run("umount", mnt)
            await wait_for_text(pilot, "not running")
            empty_member(members[1])
            env.mount(mnt, members, "--degraded")
            await wait_for_text(pilot, "Array DEGRADED")
            assert_on_screen(app, "disk 2  MISSING", "Disk 2 failed or is missing")
            await pilot.press("f2")
            await wait_for_text(pilot, "Disk 2 has failed or was removed")

    run(scenario())


def test_scrub_from_the_disks_screen(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    fill(mnt)

    async def scenario() -> None:
        app = console_for(env, mnt)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f2")
            await wait_for_text(pilot, "All disks are working")
            await pilot.press("c")
            await wait_for(pilot, lambda: app.state.job is not None and app.state.job.finished,
                           "the scrub finishing")
            job = app.state.job
            assert job is not None and not job.failed, job
            assert "All data is readable" in job.outcome
            assert "Scrub of all disks: finished" in screen_text(app)

    run(scenario())


def test_rebuild_shows_its_progress(env: Env) -> None:
    members = env.members()
    mnt = env.mountpoint()
    env.mount(mnt, members)
    fill(mnt, files=6)
    env.run("umount", mnt)
    empty_member(members[2])
    env.mount(mnt, members, "--degraded")
    onto = env.base / "new-disk"
    onto.mkdir()

    async def scenario() -> None:
        app = console_for(env, mnt)
        seen: list[float] = []

        def finished() -> bool:
            job = app.state.job
            if job is not None and job.progress is not None:
                seen.append(job.progress.fraction)
            return job is not None and job.finished

        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f2")
            await wait_for_text(pilot, "Disk 3 has failed")
            # A directory that is not empty: the daemon refuses, the console says what to do.
            await pilot.press("r")
            await wait_for_text(pilot, "Replace a disk and rebuild it")
            await pilot.press(*str(members[0]), "enter")
            await wait_for(pilot, finished, "the refused rebuild")
            assert app.state.job is not None and app.state.job.failed
            assert_on_screen(app, "Rebuild of disk 3 onto", "failed.",
                             "Check the disk number and that the new directory is empty")
            assert "Traceback" not in screen_text(app)
            seen.clear()
            await pilot.press("r")
            await wait_for_text(pilot, "Replace a disk and rebuild it")
            await pilot.press(*str(onto))
            await pilot.press("enter")
            await wait_for(pilot, finished, "the rebuild finishing")
            job = app.state.job
            assert job is not None and not job.failed, job
            assert seen and seen[-1] == 1.0
            assert_on_screen(app, "Rebuild of disk 3 onto", "finished", "100%")
            await pilot.press("f1")
            await wait_for_text(pilot, "Array HEALTHY")
            assert str(onto) in screen_text(app)

    run(scenario())


def test_the_entry_point_is_installed() -> None:
    import subprocess
    import sys

    console = Path(sys.executable).parent / "nasfs-console"
    command = [str(console)] if console.exists() else [
        sys.executable, "-c", "from console.app import main; raise SystemExit(main())"]
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "--idle-lock" in done.stdout and "--config" in done.stdout
