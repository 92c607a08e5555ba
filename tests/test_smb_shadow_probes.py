"""Adversarial probes of hidden shares over SMB, through a real smbd on a real mount, right
after a user with access used them: for bob (no access) and for guests, a hidden share must
answer exactly as a share name nobody has — share lists, tree connects (also under names
Samba folds into another user's), Previous Versions and `@GMT-…` paths, change notify of a
homes share's folder — and the files smbd reads its configuration from must not name it to
local users either."""

from __future__ import annotations

import functools
import operator
import os
import stat
from collections.abc import Iterator

import pytest
from smbprotocol.change_notify import CompletionFilter, FileSystemWatcher
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.tree import TreeConnect

from nasfs.client.snapshots import SnapshotClient
from nasfs.smb import previous
from tests.smb_util import EVERYONE_RW, HOST, SmbNas, smb_nas
from tests.test_smb_shares import _open, enumerate_snapshots
from tests.user_process import UserProcess

ALICE, BOB = 46171, 46172
# A name with capitals: smbd picks the per-user file by the lowercased session name.
USERS = {"alice": (ALICE, "alice-pw"), "bob": (BOB, "bob-pw"), "Carol": (46174, "Carol-pw")}


@pytest.fixture(scope="module")
def nas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmbNas]:
    with smb_nas(tmp_path_factory.mktemp("smb"), USERS) as nas:
        nas.share("docs", EVERYONE_RW)
        nas.share("lobby", ("user", "alice", "rw"), guest=True)
        nas.share("secret", ("user", "alice", "rw"), hidden=True)
        nas.share("carols", ("user", "Carol", "rw"), hidden=True)
        nas.share("homes", EVERYONE_RW, homes=True)
        (nas.mnt / "docs" / "plan.txt").write_text("plan\n")
        (nas.mnt / "secret" / "inside.txt").write_text("secret\n")
        SnapshotClient(nas.client).create()  # type: ignore[arg-type]
        # alice uses her hidden share over SMB first (smbd caches, the kernel's caches).
        done = nas.smbclient("secret", "alice", "alice-pw", "ls", "get inside.txt /dev/null")
        assert done.returncode == 0, done.stdout + done.stderr
        yield nas


def tree(nas: SmbNas, user: str, password: str, share: str) -> str:
    guest = user not in USERS or USERS[user][1] != password
    with nas.session(user, password, signing=not guest) as session:
        return nas.tree_status(session, share)


def test_share_lists_name_no_hidden_share(nas: SmbNas) -> None:
    assert "secret" not in nas.share_list("bob", "bob-pw")
    # Even its user does not see it listed (browseable = no), but reaches it by name.
    assert "secret" not in nas.share_list("alice", "alice-pw")
    assert tree(nas, "alice", "alice-pw", "secret") == "OK"


@pytest.mark.parametrize("share", ["secret", "SECRET", "Secret", "secret "])
def test_tree_connects_to_hidden_names_answer_as_absent_ones(nas: SmbNas, share: str) -> None:
    absent = tree(nas, "bob", "bob-pw", "no-such-share")
    assert absent == "BadNetworkName"
    assert tree(nas, "bob", "bob-pw", share) == absent
    assert tree(nas, "visitor", "x", share) == tree(nas, "visitor", "x", "no-such-share")


@pytest.mark.parametrize("name", ["alice ", " alice", "ALICE ", "alice\t", "alice.x"])
def test_a_guest_under_a_name_samba_folds_into_alices_finds_nothing(
        nas: SmbNas, name: str) -> None:
    """smbd takes the per-user file by the session's name as Samba sanitizes it (trimmed,
    lowercased): a guest who picks a name that folds into alice's must not get her shares."""
    assert tree(nas, name, "x", "lobby") == "OK"  # a guest session
    assert tree(nas, name, "x", "secret") == tree(nas, name, "x", "no-such-share") \
        == "BadNetworkName"


def test_names_with_capitals_reach_their_hidden_shares_and_cannot_fold(nas: SmbNas) -> None:
    assert tree(nas, "Carol", "Carol-pw", "carols") == "OK"
    assert tree(nas, "bob", "bob-pw", "carols") == "BadNetworkName"
    # A second name Samba would take for Carol's (one login, one file of hidden shares).
    from nasfs.errors import NasfsError

    with pytest.raises(NasfsError, match="differ only in case"):
        nas.admin.user_add("carol", 46175, password="x")


def test_previous_versions_of_a_visible_share_hold_only_that_share(nas: SmbNas) -> None:
    with nas.session("bob", "bob-pw") as session:
        t = TreeConnect(session, rf"\\{HOST}\docs")
        t.connect()
        folder = _open(t, "", directory=True)
        names = enumerate_snapshots(t, folder)
        folder.close()
        t.disconnect()
    assert names, "the snapshot is a Previous Version of docs"
    gmt = names[0]
    listing = nas.smbclient("docs", "bob", "bob-pw", f'ls "{gmt}\\*"')
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "plan.txt" in listing.stdout and "secret" not in listing.stdout
    # Walks out of the version into the hidden share answer as into an absent one.
    for escape in (f"{gmt}\\..\\..\\secret\\*", f"{gmt}\\..\\secret\\*", "..\\secret\\*",
                   f"{gmt}\\#snapshot\\*"):
        hidden = nas.smbclient("docs", "bob", "bob-pw", f'ls "{escape}"')
        absent = nas.smbclient("docs", "bob", "bob-pw",
                               f'ls "{escape.replace("secret", "nosuch")}"')
        assert "inside.txt" not in hidden.stdout
        assert hidden.stdout.replace("secret", "nosuch") == absent.stdout, escape


def test_gmt_paths_into_a_hidden_share(nas: SmbNas) -> None:
    gmt = sorted(os.listdir(previous.share_dir(nas.state_dir, "docs", "bob")))[0]
    for user, password in (("bob", "bob-pw"), ("visitor", "x")):
        for share in ("secret", f"secret\\{gmt}", f"{gmt}"):
            assert tree(nas, user, password, share) == \
                tree(nas, user, password, share.replace("secret", "nosuch"))
    done = nas.smbclient("secret", "alice", "alice-pw", f'ls "{gmt}\\*"')
    assert "inside.txt" in done.stdout, done.stdout + done.stderr


def test_local_users_cannot_read_hidden_share_names_from_smbs_files(nas: SmbNas) -> None:
    """smb.conf and the per-user files, the Previous Versions directories: what a local
    process of bob's may read there names no hidden share."""
    with UserProcess(BOB) as bob:
        for path in sorted(nas.state_dir.rglob("*")):
            if path.is_symlink() or not path.exists():
                continue
            if path.is_dir():
                names = bob.run(f"os.listdir({str(path)!r})")
                assert isinstance(names, str) or not any("secret" in n for n in names), path
            elif stat.S_ISREG(path.stat().st_mode):
                text = bob.run(f"open({str(path)!r}, 'rb').read().decode('utf-8', 'replace')")
                assert text in ("EACCES", "ENOENT") or "secret" not in text, path
        folder = nas.state_dir / "previous"
        assert bob.run(f"os.listdir({str(folder)!r})") == "EACCES"
        for guess in ("secret", "docs"):  # the names are no share names
            assert bob.run(f"os.stat({str(folder / guess)!r}).st_mode") == "ENOENT"


def test_other_users_homes_over_smb_look_absent(nas: SmbNas) -> None:
    local = nas.outer / "hers.txt"
    local.write_text("hers\n")
    done = nas.smbclient("homes", "alice", "alice-pw", f"put {local} alice\\hers.txt",
                         "ls alice\\*")
    assert done.returncode == 0 and "hers.txt" in done.stdout, done.stdout + done.stderr
    listing = nas.smbclient("homes", "bob", "bob-pw", "ls")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert " bob " in listing.stdout and "alice" not in listing.stdout
    for command in ("ls alice\\*", "get alice\\hers.txt /dev/null", "cd alice",
                    "allinfo alice", "mkdir alice\\x"):
        hidden = nas.smbclient("homes", "bob", "bob-pw", command)
        absent = nas.smbclient("homes", "bob", "bob-pw", command.replace("alice", "nosuch"))
        assert hidden.stdout.replace("alice", "nosuch") == absent.stdout, command
        assert hidden.returncode == absent.returncode, command


def test_another_users_name_as_a_share_shows_only_ones_own_home(nas: SmbNas) -> None:
    """Samba makes a share of any user's name when a section [homes] exists (its auto-home:
    the user's home from the system's account), so bob connecting to `alice` gets a tree —
    which tells him alice is a user, as a failed login under her name does when guests are
    allowed. Its folder is the homes share's: the gate shows bob his own folder only."""
    assert tree(nas, "bob", "bob-pw", "alice") == "OK"
    listing = nas.smbclient("alice", "bob", "bob-pw", "ls")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert " bob " in listing.stdout and "alice" not in listing.stdout
    assert "hers.txt" not in nas.smbclient("alice", "bob", "bob-pw", "ls alice\\*").stdout


def test_names_in_another_case_tell_nothing_of_hidden_folders(nas: SmbNas) -> None:
    """The real-name attribute smbd asks for (any case) answers bob as a lookup would: his
    own home is found, alice's answers as a name nobody has, and the root (share names) is
    never answered, so smbd lists it and the gate's listing hides what it hides."""
    key = "glusterfs.get_real_filename:"
    done = nas.smbclient("homes", "alice", "alice-pw", "ls alice\\*")  # her home exists
    assert done.returncode == 0, done.stdout + done.stderr
    homes = nas.mnt / "homes"
    with UserProcess(BOB) as bob:
        assert bob.run(f"os.stat({str(homes / 'bob')!r}).st_mode") != "ENOENT"
        assert bob.run(f"os.getxattr({str(homes)!r}, {key + 'BOB'!r}).decode()") == "bob"
        absent = bob.run(f"os.getxattr({str(homes)!r}, {key + 'nosuch'!r}).decode()")
        assert absent == "ENOENT"
        for name in ("alice", "ALICE", "Alice"):
            assert bob.run(f"os.getxattr({str(homes)!r}, {key + name!r}).decode()") == absent
        root = nas.mnt
        for name in ("secret", "SECRET", "nosuch"):
            assert bob.run(f"os.getxattr({str(root)!r}, {key + name!r}).decode()") \
                in ("EOPNOTSUPP", "ENOTSUP")  # one number, two names
    for command in ("ls ALICE\\*", "get ALICE\\hers.txt /dev/null", "cd Alice"):
        hidden = nas.smbclient("homes", "bob", "bob-pw", command)
        absent_smb = nas.smbclient("homes", "bob", "bob-pw",
                                   command.replace("ALICE", "NOSUCH").replace("Alice", "Nosuch"))
        assert hidden.stdout.replace("ALICE", "NOSUCH").replace("Alice", "Nosuch") \
            == absent_smb.stdout, command



def test_change_notify_of_the_homes_folder_names_no_other_home(nas: SmbNas) -> None:
    """A change notify of the homes share's folder with its subtree: Samba would send bob
    the names of what alice makes in her home folder (and her folder's name when she
    changes it), so change notify is off (smb.conf): the request is refused outright."""
    local = nas.outer / "notified.txt"
    local.write_text("x\n")
    every_change = functools.reduce(operator.or_, (
        getattr(CompletionFilter, f"FILE_NOTIFY_CHANGE_{what}")
        for what in ("FILE_NAME", "DIR_NAME", "ATTRIBUTES", "SIZE", "LAST_WRITE",
                     "LAST_ACCESS", "CREATION", "EA", "SECURITY")))
    with nas.session("bob", "bob-pw") as session:
        t = TreeConnect(session, rf"\\{HOST}\homes")
        t.connect()
        folder = _open(t, "", directory=True)
        watcher = FileSystemWatcher(folder)
        watcher.start(every_change, flags=1)  # SMB2_WATCH_TREE
        done = nas.smbclient("homes", "alice", "alice-pw", f"put {local} alice\\notified.txt",
                             "mkdir alice\\made", "setmode alice +h")
        assert done.returncode == 0, done.stdout + done.stderr
        # Then a change bob may see, so that a watch that works answers at last.
        done = nas.smbclient("homes", "bob", "bob-pw", f"put {local} bob\\mine.txt")
        assert done.returncode == 0, done.stdout + done.stderr
        assert watcher.response_event.wait(120), "smbd never answered the change notify"
        try:
            names = [str(a["file_name"].get_value()) for a in watcher.wait() or []]
        except SMBResponseException as exc:
            assert exc.status == 0xC0000002, exc  # STATUS_NOT_IMPLEMENTED
            names = []
        folder.close()
        t.disconnect()
    assert not [n for n in names if "alice" in n.lower()], names


def test_previous_versions_of_homes_hold_only_ones_own_home(nas: SmbNas) -> None:
    local = nas.outer / "versioned.txt"
    local.write_text("hers\n")
    done = nas.smbclient("homes", "alice", "alice-pw", f"put {local} alice\\versioned.txt")
    assert done.returncode == 0, done.stdout + done.stderr
    assert nas.smbclient("homes", "bob", "bob-pw", "ls").returncode == 0  # his home
    SnapshotClient(nas.client).create()  # type: ignore[arg-type]
    gmt = sorted(os.listdir(previous.share_dir(nas.state_dir, "homes", "bob")))[-1]
    listing = nas.smbclient("homes", "bob", "bob-pw", f'ls "{gmt}\\*"')
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert " bob " in listing.stdout and "alice" not in listing.stdout
    for command in (f'ls "{gmt}\\alice\\*"', f'allinfo "{gmt}\\alice"',
                    f'get "{gmt}\\alice\\versioned.txt" /dev/null',
                    f'ls "{gmt}\\ALICE\\*"'):
        hidden = nas.smbclient("homes", "bob", "bob-pw", command)
        absent_command = command.replace("alice", "nosuch").replace("ALICE", "NOSUCH")
        absent = nas.smbclient("homes", "bob", "bob-pw", absent_command)
        assert hidden.returncode == absent.returncode, command
        assert hidden.stdout.replace("alice", "nosuch").replace("ALICE", "NOSUCH") \
            == absent.stdout, command


# (command template, what {n}, {p} and {q} are for a hidden home and for an absent name).
ODD_NAMES = ['allinfo "{n}:x"', 'allinfo "{n}::$DATA"', 'allinfo "{n}."', 'allinfo "{n} "',
             'ls "{n}.\\*"', 'ls "{n} \\*"', 'ls "{p}*"', 'ls "?{q}"', 'ls "{n}~1"',
             'geteas "{n}"', 'notify "{n}"', 'ls "{n}\\hers.txt"',
             'hardlink bob\\odd.txt {n}\\y', 'rename bob\\odd.txt {n}\\y', 'mkdir "{n}"']


@pytest.mark.parametrize("template", ODD_NAMES)
def test_odd_names_for_another_users_home_answer_as_absent_ones(nas: SmbNas,
                                                                template: str) -> None:
    """Streams, trailing dots and spaces, wildcards, 8.3 names, extended attributes, an
    open for change notify, links and renames into it: alice's home answers bob as a name
    nobody has."""
    local = nas.outer / "odd.txt"
    local.write_text("odd\n")
    for user, target in (("alice", "alice\\hers.txt"), ("bob", "bob\\odd.txt")):
        done = nas.smbclient("homes", user, f"{user}-pw", f"put {local} {target}")
        assert done.returncode == 0, done.stdout + done.stderr
    hidden = nas.smbclient("homes", "bob", "bob-pw", template.format(n="alice", p="ali", q="lice"))
    absent = nas.smbclient("homes", "bob", "bob-pw", template.format(n="nosuc", p="nos", q="osuc"))
    seen = hidden.stdout.replace("alice", "nosuc").replace("ali", "nos").replace("lice", "osuc")
    assert (hidden.returncode, seen) == (absent.returncode, absent.stdout)
