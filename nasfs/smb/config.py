"""smb.conf as a pure function of the policy: `render(snapshot, site) -> {file: text}`.

Safe protocol defaults (SMB1 off, NTLMv2 only, signing required, encryption offered), one
section per share pointing at the share's folder in the FUSE mount, and who may connect
computed from the gate's own decisions (so the two can never disagree about a user). The
gate still decides every operation inside the share; there is no vfs_recycle because the
gate's trash already catches deletes and overwrites.

Hidden shares must answer a user without access exactly like a share that does not exist
(`NT_STATUS_BAD_NETWORK_NAME`), which `valid users` cannot do (Samba answers
`NT_STATUS_ACCESS_DENIED`). So the main file defines only the visible shares; each user with
a password gets a file of their own, `users/NAME.conf`, with the hidden shares that user may
read, pulled in by `include = .../users/%U.conf`. smbd re-reads its configuration (with %U
set to the session's user) after every session setup, so a hidden share simply does not
exist in the smbd process serving anyone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nasfs.policy.records import ShareRecord
from nasfs.policy.snapshot import ADMIN_UID, PolicySnapshot
from nasfs.smb.previous import share_dir

# A share name Samba accepts in a section header and nasfs can create.
_FORBIDDEN = set('[]\n\r%"\\')
MAIN = "smb.conf"
USERS_DIR = "users"
# A name no NAS user can have (names are checked by nasfs.policy.names): nobody matches it.
NOBODY = "@nasfs-nobody-may-connect"
# The system account Samba runs guest sessions as. It is no NAS user (with os.accounts on,
# a NAS account that clashes with a system one is refused), so the gate sees a guest.
GUEST_ACCOUNT = "nobody"


@dataclass(frozen=True)
class Site:
    """Where this smbd lives: the mount it serves and its own directories."""

    mountpoint: Path
    state_dir: Path  # private/, lock/, state/, cache/, pid/, users/ and the log go below it
    port: int = 445
    interfaces: tuple[str, ...] = ()  # empty: all interfaces
    netbios_name: str = "NASFS"

    @property
    def conf(self) -> Path:
        return self.state_dir / MAIN

    @property
    def log_dir(self) -> Path:
        """smbd's log and output: they name shares, hidden ones too (mode 0700)."""
        return self.state_dir / "log"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "log.smbd"

    @property
    def users_dir(self) -> Path:
        return self.state_dir / USERS_DIR


def directories(site: Site) -> list[Path]:
    """The directories smbd needs below `site.state_dir` (the applier creates them, mode
    0700: their files name hidden shares — the per-user files, the lock and state
    databases, the log — and only smbd, as root, reads them). The state directory itself
    is 0711 and `previous/` is the one place below it sessions' users read."""
    return [site.state_dir / name
            for name in ("private", "lock", "state", "cache", "pid", "ncalrpc", USERS_DIR,
                         "log")]


def samba_users(snapshot: PolicySnapshot) -> list[str]:
    """The NAS users who may log in over SMB: everyone with a password but the administrator."""
    return sorted(u.name for u in snapshot.users.values()
                  if u.uid != ADMIN_UID and u.pw_hash is not None)


def allowed_users(snapshot: PolicySnapshot, share: ShareRecord) -> list[str]:
    """The NAS users the gate lets read `share` (the administrator is not served over SMB)."""
    names = []
    for name in samba_users(snapshot):
        who = snapshot.principal_named(name)
        if who is not None and snapshot.decide(who, share).can_read:
            names.append(name)
    return names


def guests_welcome(snapshot: PolicySnapshot) -> bool:
    """Whether any share Samba serves to everyone allows guests."""
    return any(s.guest and not s.hidden and not s.homes for s in snapshot.shares.values())


def global_section(site: Site, *, guests: bool = False) -> list[str]:
    """[global]: everything but the shares (also the configuration the passdb tools use).
    `guests`: some share allows guests, so a login with a name Samba does not know becomes
    a guest session (`map to guest = Bad User`); a known name with a wrong password still
    fails. Without such a share no session is a guest."""
    d = site.state_dir
    lines = [
        "[global]",
        f"   netbios name = {site.netbios_name}",
        "   server role = standalone server",
        f"   passdb backend = tdbsam:{d / 'private' / 'passdb.tdb'}",
        # Protocol safety: no SMB1, no LM/NTLMv1, signing required, encryption offered.
        "   server min protocol = SMB2_10",
        "   ntlm auth = ntlmv2-only",
        "   server signing = mandatory",
        "   server smb encrypt = if_required",
        # Guests only where a share allows them; never anonymous share lists.
        f"   map to guest = {'bad user' if guests else 'never'}",
        f"   guest account = {GUEST_ACCOUNT}",
        "   restrict anonymous = 2",
        "   load printers = no",
        "   printing = bsd",
        "   printcap name = /dev/null",
        "   disable spoolss = yes",
        "   disable netbios = yes",
        f"   smb ports = {site.port}",
        f"   private dir = {d / 'private'}",
        f"   lock directory = {d / 'lock'}",
        f"   state directory = {d / 'state'}",
        f"   cache directory = {d / 'cache'}",
        f"   pid directory = {d / 'pid'}",
        f"   ncalrpc dir = {d / 'ncalrpc'}",
        f"   log file = {site.log_file}",
        "   logging = file",
        # Authentication audit events (JSON, one per login) for the lock-out and the log.
        "   log level = 1 auth_json_audit:3",
        "   max log size = 10000",
        # The FUSE mount has no ACL xattrs of Samba's: POSIX modes and the gate decide.
        "   nt acl support = no",
        "   store dos attributes = no",
        "   unix extensions = no",
        # Change notify names what changed below the watched folder, and Samba sends it to
        # every watcher without asking whether they may see it: a watch of a homes share's
        # folder (with its subtree) named the files other users made in their home folders.
        # So clients are told of no changes (they refresh when asked); docs/smb.md.
        "   change notify = no",
        "   kernel change notify = no",
    ]
    if site.interfaces:
        lines += [f"   interfaces = {' '.join(site.interfaces)}", "   bind interfaces only = yes"]
    return lines


def user_files(snapshot: PolicySnapshot) -> dict[str, list[str]]:
    """{key: users} of the per-user files: smbd names the file by the session's name
    lowercased (%U), so a file serves every user whose name folds into it (new names cannot
    fold into another since user add refuses them; arrays made before may hold some)."""
    folded: dict[str, list[str]] = {}
    for user in samba_users(snapshot):
        folded.setdefault(user.lower(), []).append(user)
    return folded


def _share(snapshot: PolicySnapshot, share: ShareRecord, site: Site,
           viewer: str | None = None) -> list[str]:
    if _FORBIDDEN & set(share.name):
        raise ValueError(f"share name {share.name!r} cannot be exported over SMB")
    users = allowed_users(snapshot, share)
    guest = share.guest and not share.hidden and not share.homes
    if guest:
        users.append(GUEST_ACCOUNT)  # the session user of every guest
    path = site.mountpoint / share.name
    # A Time Machine target: vfs_fruit speaks Apple's SMB extensions, streams_xattr keeps
    # the named streams Macs write in the mount's extended attributes.
    tm = share.time_machine_gib
    modules = "fruit streams_xattr shadow_copy2" if tm else "shadow_copy2"
    if not share.case_sensitive:
        # Names in another case: asked of the folder (one query in the daemon) instead of
        # found by listing it whole before every new name (nasfs.policy.gate.real_names).
        modules += " glusterfs_fuse"
    fruit = ["   fruit:time machine = yes", f"   fruit:time machine max size = {tm}G",
             "   fruit:metadata = stream"] if tm else []
    return [
        "",
        f"[{share.name}]",
        f"   path = {path}",
        # Previous Versions: links named @GMT-YYYY.MM.DD-HH.MM.SS (UTC) to the snapshots in
        # the share's #snapshot folder, whatever their names, one folder per user with the
        # snapshots that user may browse (nasfs.smb.previous); reading them goes through
        # the gate as the user.
        f"   vfs objects = {modules}",
        *fruit,
        _snapdir(site, share.name, viewer),
        f"   shadow:basedir = {path}",
        "   shadow:format = @GMT-%Y.%m.%d-%H.%M.%S",
        "   shadow:localtime = no",
        "   shadow:sort = desc",
        "   read only = no",
        # Hidden shares stay out of browse lists even for the users who may use them.
        f"   browseable = {'no' if share.hidden else 'yes'}",
        # Nobody listed: an impossible name, so the share refuses every session.
        f"   valid users = {' '.join(users) if users else NOBODY}",
        f"   guest ok = {'yes' if guest else 'no'}",
        # Names as given, looked up exactly: a create no longer makes smbd list the whole
        # folder for a name differing only in case (Windows clients then must use the
        # names' exact case). The default: case-insensitive, as Windows expects.
        *(["   case sensitive = yes"] if share.case_sensitive else []),
    ]


def _snapdir(site: Site, share: str, viewer: str | None) -> str:
    return f"   shadow:snapdir = {share_dir(site.state_dir, share, viewer)}"


def render(snapshot: PolicySnapshot, site: Site, denied: tuple[str, ...] = (),
           unknown: frozenset[str] = frozenset()) -> dict[str, str]:
    """Every file of the configuration, by path relative to `site.state_dir` (the same
    policy renders the same bytes): smb.conf and one users/NAME.conf per SMB user.
    `denied`: client addresses the lock-out has locked (refused when they connect).
    `unknown`: names Samba's passdb does not hold (the lock-out took them out, or their
    password was set before Samba could learn it). Their files list no hidden share: with
    guests allowed, a login under a name Samba does not know becomes a guest session that
    still carries that name (`%U`), and must not find the name's shares."""
    deny = [f"   hosts deny = {' '.join(denied)}"] if denied else []
    main = ["# Generated by nasfs from its policy database: edits here are overwritten.",
            *global_section(site, guests=guests_welcome(snapshot)), *deny]
    for name in sorted(snapshot.shares):
        share = snapshot.shares[name]
        if not share.hidden:
            main += _share(snapshot, share, site)
    # Last: the session user's file (see above), read after the shares it adds to.
    main += ["", "# The session user's hidden shares and Previous Versions.",
             f"include = {site.users_dir}/%U.conf"]
    files = {MAIN: "\n".join(main) + "\n"}
    # A file lists only the hidden shares all of its users may read, so none learns of
    # another's share; it names again each share they may read, with the Previous Versions
    # all of them may browse (a section named again replaces the one above).
    for key, users in sorted(user_files(snapshot).items()):
        lines = [f"# Generated by nasfs: the hidden shares {', '.join(users)} may use, "
                 "and their Previous Versions."]
        if not any(u in unknown for u in users):
            for name in sorted(snapshot.shares):
                share = snapshot.shares[name]
                if not all(u in allowed_users(snapshot, share) for u in users):
                    continue
                # The whole section, also for a visible share: a section named again keeps
                # the plain parameters of the first but not its `module:option` ones.
                lines += _share(snapshot, share, site, key)
        files[f"{USERS_DIR}/{key}.conf"] = "\n".join(lines) + "\n"
    return files


def passdb_config(site: Site) -> str:
    """A configuration with only [global]: what smbpasswd and pdbedit need to find the
    passdb (usable before the mount exists, e.g. by the CLI without a daemon)."""
    return "\n".join(["# Generated by nasfs for its Samba password tools.",
                      *global_section(site)]) + "\n"
