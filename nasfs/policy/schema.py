"""Schemas of `policy.db` (accounts, shares, ACLs, settings, lock-out state) and `audit.db`
(the access log and the system log), as named sqlite-utils migrations.

Both are `nasfs.db.ReplicatedDB`s with a copy on every member. Only
`nasfs.policy.repository` and `nasfs.policy.auditstore` run SQL against them.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

POLICY_MIGRATIONS = Migrations("nasfs.policy")
AUDIT_MIGRATIONS = Migrations("nasfs.audit")


@POLICY_MIGRATIONS()
def m001_accounts_shares(db: Database) -> None:
    """Users, groups, memberships, shares, ACL entries, settings, lock-out state."""
    db.execute(
        """
        CREATE TABLE user (
            name       TEXT PRIMARY KEY,   -- login name (validated by nasfs.policy.names)
            uid        INTEGER NOT NULL UNIQUE,  -- the uid the kernel reports for this person;
                                               -- 0 is root, the administrator
            pw_hash    TEXT,               -- Argon2id PHC string; NULL = no password (cannot
                                           -- log in at the console, may still use files)
            created_ns INTEGER NOT NULL    -- when the account was made, UTC ns
        )
        """
    )
    db.execute(
        """
        CREATE TABLE "group" (
            name       TEXT PRIMARY KEY,         -- group name
            gid        INTEGER NOT NULL UNIQUE,  -- the gid files carry
            created_ns INTEGER NOT NULL          -- when the group was made, UTC ns
        )
        """
    )
    db.execute(
        """
        CREATE TABLE membership (
            group_name TEXT NOT NULL REFERENCES "group"(name) ON DELETE CASCADE,  -- the group
            user_name  TEXT NOT NULL REFERENCES user(name) ON DELETE CASCADE,     -- a member
            PRIMARY KEY (group_name, user_name)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX membership_user ON membership (user_name)")
    db.execute(
        """
        CREATE TABLE share (
            name             TEXT PRIMARY KEY,  -- top-level folder name (nasfs.policy.names)
            hidden           INTEGER NOT NULL,  -- 1: shadow share, invisible without access
            trash_days       INTEGER,           -- days deleted items stay in the trash;
                                                -- NULL = no trash (deletes are final)
            homes            INTEGER NOT NULL,  -- 1: the homes share (homes/<user> per user)
            force_group      TEXT,              -- group new entries get (Samba 'force group');
                                                -- NULL = the creator's group as usual
            create_mode      INTEGER,           -- mode bits new files get; NULL = caller's
            dir_mode         INTEGER,           -- mode bits new folders get; NULL = caller's
            keep_overwritten INTEGER NOT NULL,  -- 1: truncating/overwriting a non-empty file
                                                -- keeps the old content in the trash
            created_ns       INTEGER NOT NULL   -- when the share was made, UTC ns
        )
        """
    )
    db.execute(
        """
        CREATE TABLE share_acl (
            share     TEXT NOT NULL REFERENCES share(name) ON DELETE CASCADE,  -- the share
            kind      TEXT NOT NULL CHECK (kind IN ('user', 'group', 'everyone')),  -- who
            principal TEXT NOT NULL,  -- user or group name; '' for everyone. Entries naming a
                                      -- deleted user/group are removed with it
            access    TEXT NOT NULL CHECK (access IN ('rw', 'ro', 'none')),  -- the grant;
                                      -- 'none' is a deny that wins over every grant
            PRIMARY KEY (share, kind, principal)
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE setting (
            key   TEXT PRIMARY KEY,  -- a key of nasfs.policy.settings.SETTINGS
            value TEXT NOT NULL      -- JSON of the value; absent row = the default
        )
        """
    )
    db.execute(
        """
        CREATE TABLE auth_failure (
            id      INTEGER PRIMARY KEY,  -- insertion order
            kind    TEXT NOT NULL CHECK (kind IN ('user', 'source')),  -- what is counted
            subject TEXT NOT NULL,        -- the login name tried (existing or not), or the
                                          -- source (terminal name or remote address)
            time_ns INTEGER NOT NULL      -- when it failed, UTC ns; rows older than the
                                          -- window are ignored and pruned
        )
        """
    )
    db.execute("CREATE INDEX auth_failure_subject ON auth_failure (kind, subject, time_ns)")
    db.execute(
        """
        CREATE TABLE auth_lock (
            kind     TEXT NOT NULL CHECK (kind IN ('user', 'source')),  -- what is locked
            subject  TEXT NOT NULL,     -- login name or source
            since_ns INTEGER NOT NULL,  -- when it was locked, UTC ns
            until_ns INTEGER,           -- when it unlocks by itself; NULL = only an
                                        -- administrator unlocks it (permanent mode)
            PRIMARY KEY (kind, subject)
        ) WITHOUT ROWID
        """
    )


@POLICY_MIGRATIONS()
def m002_lock_names(db: Database) -> None:
    """Which login names a terminal's failures were for, so unlocking a user can also lift
    a source lock that only that user's failures caused."""
    db.execute("ALTER TABLE auth_failure ADD COLUMN name TEXT")  # the name tried (source rows)
    db.execute("ALTER TABLE auth_lock ADD COLUMN names TEXT")  # JSON list (source locks)


@POLICY_MIGRATIONS()
def m003_backup_jobs(db: Database) -> None:
    """Backup jobs (nasfs.backup) and the history of their runs."""
    db.execute(
        """
        CREATE TABLE backup_job (
            name        TEXT PRIMARY KEY,  -- job name (nasfs.backup.model.check_name)
            source      TEXT NOT NULL,     -- 'SHARE' or 'SHARE/folder' (no slashes around)
            destination TEXT NOT NULL,     -- JSON of nasfs.backup.model.Destination
            schedule    TEXT,              -- five-field cron, UTC; NULL = only by hand
            retention   TEXT NOT NULL,     -- JSON of nasfs.backup.model.Retention
            options     TEXT NOT NULL,     -- JSON of nasfs.backup.model.Options
            created_ns  INTEGER NOT NULL,  -- when the job was added, UTC ns
            last_fire_s REAL               -- newest cron fire time handled (seconds, UTC);
                                           -- NULL = not yet seen by the scheduler
        )
        """
    )
    db.execute(
        """
        CREATE TABLE backup_run (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- run order
            job         TEXT NOT NULL,     -- job name (rows stay when the job is deleted)
            started_ns  INTEGER NOT NULL,  -- UTC ns
            finished_ns INTEGER,           -- NULL = running, or the daemon died during it
            result      TEXT NOT NULL,     -- 'running', 'ok', 'vanished', 'partial',
                                           -- 'destination_full', 'destination_missing',
                                           -- 'cancelled', 'failed' (nasfs.backup.results)
            generation  TEXT,              -- the generation's name (its UTC stamp)
            files       INTEGER,           -- files in the generation
            bytes       INTEGER,           -- bytes in the generation
            sent_bytes  INTEGER,           -- bytes copied by this run
            detail      TEXT               -- the reason, in words, for people
        )
        """
    )
    db.execute("CREATE INDEX backup_run_job ON backup_run (job, id)")


@POLICY_MIGRATIONS()
def m004_time_machine(db: Database) -> None:
    """Shares that are Time Machine targets over SMB, and their size limit."""
    # time_machine_gib: NULL = not a Time Machine target; N = offered to Macs, N GiB at most.
    db.execute("ALTER TABLE share ADD COLUMN time_machine_gib INTEGER")


@POLICY_MIGRATIONS()
def m005_share_guest(db: Database) -> None:
    """Shares guests may read (over SMB: sessions Samba maps to its guest account)."""
    db.execute("ALTER TABLE share ADD COLUMN guest INTEGER NOT NULL DEFAULT 0")


@POLICY_MIGRATIONS()
def m006_share_case_sensitive(db: Database) -> None:
    """Shares whose names SMB looks up exactly (faster creates in big folders)."""
    db.execute("ALTER TABLE share ADD COLUMN case_sensitive INTEGER NOT NULL DEFAULT 0")


@POLICY_MIGRATIONS()
def m007_backup_fire_times(db: Database) -> None:
    """Backup fire times that outlive the daemon (scheduled verifies, the digest), and each
    job's destination space measured at the end of its last good run."""
    db.execute(
        """
        CREATE TABLE backup_fire (
            name     TEXT PRIMARY KEY,  -- 'verify/JOB' or 'digest'
            schedule TEXT NOT NULL,     -- the cron it was handled for (another starts afresh)
            fire_s   REAL NOT NULL      -- newest fire time handled (seconds, UTC)
        )
        """
    )
    # JSON {"free_bytes", "total_bytes", "at_s"}; NULL = never measured.
    db.execute("ALTER TABLE backup_job ADD COLUMN last_space TEXT")


@AUDIT_MIGRATIONS()
def m001_logs(db: Database) -> None:
    """The access log and the system log (same shape) and their hash-chain anchors."""
    for table in ("access_log", "system_log"):
        db.execute(
            f"""
            CREATE TABLE {table} (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- row order; never reused
                time_ns     INTEGER NOT NULL,  -- when it happened, UTC ns
                user        TEXT,              -- NAS user name; NULL = guest / unknown
                uid         INTEGER,           -- uid of the caller (the control peer's uid
                                               -- for administrative actions)
                pid         INTEGER,           -- process id of the caller
                process     TEXT,              -- process name (comm) of the caller
                share       TEXT,              -- share the operation touched; NULL = none
                path        BLOB,              -- path inside the share (or the object an
                                               -- administrative action names), exact bytes
                second_path BLOB,              -- rename/link target, exact bytes; NULL = none
                operation   TEXT NOT NULL,     -- e.g. 'open-read', 'rename', 'user.add'
                result      TEXT NOT NULL,     -- 'OK' or an errno name / error code
                bytes       INTEGER,           -- bytes read or written; NULL = not applicable
                admin       INTEGER NOT NULL,  -- 1: allowed only because the caller is an
                                               -- administrator (administrator access)
                detail      TEXT,              -- free text for people (what changed, why)
                prev_hash   BLOB NOT NULL,     -- `hash` of the previous row (or the anchor)
                hash        BLOB NOT NULL      -- BLAKE3(prev_hash + canonical row encoding)
            )
            """
        )
        db.execute(f"CREATE INDEX {table}_time ON {table} (time_ns)")
    db.execute(
        """
        CREATE TABLE chain (
            kind        TEXT PRIMARY KEY CHECK (kind IN ('access', 'system')),  -- which log
            anchor_id   INTEGER NOT NULL,  -- id of the last pruned row (0: none pruned)
            anchor_hash BLOB NOT NULL,     -- its hash: the first kept row's prev_hash
            head_id     INTEGER NOT NULL,  -- id of the newest row written
            head_hash   BLOB NOT NULL      -- its hash (catches rows cut off the end)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE audit_meta (
            key   TEXT PRIMARY KEY,  -- 'last_export_day': newest day (YYYY-MM-DD, UTC)
                                     -- already written by the daily export
            value TEXT NOT NULL      -- per key
        )
        """
    )


@AUDIT_MIGRATIONS()
def m002_client(db: Database) -> None:
    """The network client a row came from (an SMB session's address)."""
    for table in ("access_log", "system_log"):
        # client: the network client's address (an SMB session's); NULL = a local process.
        # (No SQL comment: SQLite splices this text into the stored CREATE TABLE.)
        db.execute(f"ALTER TABLE {table} ADD COLUMN client TEXT")
