"""Every error code of the control protocol, as explicit constants: the one table.

A code is part of the protocol (programs compare it; the console picks its advice by it;
the system log records it as the result of a failed administrative call), so it is
written here once and never derived from a class name: renaming an exception class changes
nothing on the wire. Each nasfs.errors.NasfsError subclass names its code in its class
body (`wire_code = codes.JOB_BUSY`); a subclass that names none answers its parent's.
docs/control-protocol.md lists them all with when each is sent; tests/test_wire_codes.py
checks that list and this module agree.

This module imports nothing: every layer may use it.
"""

from __future__ import annotations

# -- produced by the control server itself ---------------------------------------------
PARSE_ERROR = "parse_error"  # the line is not JSON
BAD_REQUEST = "bad_request"  # JSON, but not a request object
UNKNOWN_METHOD = "unknown_method"
PERMISSION_DENIED = "permission_denied"  # the peer is not root
MESSAGE_TOO_LONG = "message_too_long"
SHUTTING_DOWN = "shutting_down"
INTERNAL = "internal"  # a bug: the daemon logged a traceback
# An operating-system error answers its errno's lower-case name; the one a front end
# explains has its constant.
ENOSPC = "enospc"

# -- expected failures, raised by the methods (the class that carries each) -------------
NASFS = "nasfs"  # a bare NasfsError: no more specific code
BAD_PARAMS = "bad_params"  # nasfs.errors.BadParams: a parameter missing or mistyped

# base (nasfs.errors)
USAGE = "usage"  # UsageError

# the run directory (nasfs.registry)
ARRAY_BUSY = "array_busy"  # ArrayBusy

# the config file
CONFIG = "config"  # ConfigError

# replicated databases
METADATA_LOST = "metadata_lost"  # MetadataLostError
WRITE_FAILED = "write_failed"  # WriteFailed: no copy could take a change

# the store
ASSEMBLY = "assembly"  # AssemblyError
CHUNK_LOST = "chunk_lost"  # ChunkLostError
CHUNK_NOT_FOUND = "chunk_not_found"  # ChunkNotFoundError
MKFS = "mkfs"  # MkfsError
REBUILD = "rebuild"  # RebuildError
REBUILD_ARGUMENT = "rebuild_argument"  # RebuildArgumentError
SPLIT_ARRAY = "split_array"  # SplitArrayError
STALE_MEMBER = "stale_member"  # StaleMemberError
STORE = "store"  # StoreError
STORE_CLOSED = "store_closed"  # StoreClosedError
STORE_FULL = "store_full"  # StoreFullError
STORE_I_O = "store_i_o"  # StoreIOError

# the filesystem
CLOSE_FAILED = "close_failed"  # CloseFailed
FILE_TOO_BIG = "file_too_big"  # FileTooBig
FS = "fs"  # FsError
INVALID_ARGUMENT = "invalid_argument"  # InvalidArgument
INVALID_SNAPSHOT_NAME = "invalid_snapshot_name"  # InvalidSnapshotName
IS_A_DIRECTORY = "is_a_directory"  # IsADirectory
NAME_TOO_LONG = "name_too_long"  # NameTooLong
NO_SPACE = "no_space"  # NoSpace
NO_SUCH_ATTRIBUTE = "no_such_attribute"  # NoSuchAttribute
NOT_A_DIRECTORY = "not_a_directory"  # NotADirectory
NOT_EMPTY = "not_empty"  # NotEmpty
NOT_PERMITTED = "not_permitted"  # NotPermitted
NOT_SUPPORTED = "not_supported"  # NotSupported
READ_ONLY = "read_only"  # ReadOnly: the fail-safe state
COMMIT_FAILED = "commit_failed"  # CommitFailed
BAD_DESCRIPTOR = "bad_descriptor"  # BadDescriptor
NO_SUCH_OFFSET = "no_such_offset"  # NoSuchOffset
SNAPSHOT_EXISTS = "snapshot_exists"  # SnapshotExists
SNAPSHOT_LIMIT = "snapshot_limit"  # SnapshotLimit
SNAPSHOT_LOCKED = "snapshot_locked"  # SnapshotLocked
SNAPSHOT_NOT_FOUND = "snapshot_not_found"  # SnapshotNotFound
TOO_MANY_LINKS = "too_many_links"  # TooManyLinks

# the trash
TRASH = "trash"  # TrashError

# the policy layer and the gate
ACCESS_DENIED = "access_denied"  # AccessDenied
ACLS_NOT_SUPPORTED = "acls_not_supported"  # AclsNotSupported
ALREADY_EXISTS = "already_exists"  # fs and policy AlreadyExists
CROSS_SHARE = "cross_share"  # CrossShare
GROUP_IN_USE = "group_in_use"  # GroupInUse
INODE_SPACE_EXHAUSTED = "inode_space_exhausted"  # InodeSpaceExhausted
INVALID_NAME = "invalid_name"  # InvalidName
INVALID_VALUE = "invalid_value"  # InvalidValue
NOT_FOUND = "not_found"  # fs and policy NotFound
POLICY = "policy"  # PolicyError
SHARE_BUSY = "share_busy"  # ShareBusy
SHADOWED = "shadowed"  # Shadowed
SNAPSHOT_READ_ONLY = "snapshot_read_only"  # SnapshotReadOnly

# snapshot schedules
INVALID_SCHEDULE = "invalid_schedule"  # InvalidSchedule
SCHEDULE_NOT_FOUND = "schedule_not_found"  # ScheduleNotFound

# mail
MAIL = "mail"  # MailError
MAIL_NOT_CONFIGURED = "mail_not_configured"  # MailNotConfigured

# the SMB export
SAMBA_PASSWORD = "samba_password"  # SambaPasswordError
SMB_CONFIG = "smb_config"  # SmbConfigError
SMBD = "smbd"  # SmbdError

# backups
BACKUP = "backup"  # BackupError
DESTINATION_FULL = "destination_full"  # DestinationFull
DESTINATION_MISSING = "destination_missing"  # DestinationMissing
INVALID_JOB = "invalid_job"  # InvalidJob
JOB_EXISTS = "job_exists"  # JobExists
JOB_NOT_FOUND = "job_not_found"  # JobNotFound

# the FUSE mount
MOUNT = "mount"  # MountError

# recovery
DAEMON_RUNNING = "daemon_running"  # DaemonRunning
RECOVERY = "recovery"  # RecoveryError

# the daemon and its methods
DAEMON_START_FAILED = "daemon_start_failed"  # DaemonStartFailed
JOB_BUSY = "job_busy"  # JobBusy
MEMBER_MISSING = "member_missing"  # MemberMissing
MOUNT_BUSY = "mount_busy"  # MountBusy
MOUNTPOINT = "mountpoint"  # MountpointError
NO_JOB = "no_job"  # NoJob
NOT_MOUNTED = "not_mounted"  # NotMounted (and the CLI's NotMountedError)
POLICY_UNAVAILABLE = "policy_unavailable"  # ArrayNotOpen: starting or stopping
RECLAIM_STOPPED = "reclaim_stopped"  # ReclaimStopped
SCRUB_CANCELLED = "scrub_cancelled"  # ScrubCancelled
SOCKET_PATH_TOO_LONG = "socket_path_too_long"  # SocketPathTooLong
TRASH_UNAVAILABLE = "trash_unavailable"  # TrashUnavailable

# the client side (raised in the caller's process, never sent)
ARRAY_NOT_NAMED = "array_not_named"  # ArrayNotNamed
DAEMON = "daemon"  # DaemonError
DAEMON_GONE = "daemon_gone"  # DaemonGone
DAEMON_NOT_RUNNING = "daemon_not_running"  # DaemonNotRunning
DAEMON_TIMEOUT = "daemon_timeout"  # DaemonTimeout

# the command line (raised offline, never sent)
BACKUP_FAILED = "backup_failed"  # BackupFailed
MEMBER_IN_USE = "member_in_use"  # MemberInUse
UNMOUNTED_UNCLEANLY = "unmounted_uncleanly"  # UnmountedUncleanly


def all_codes() -> dict[str, str]:
    """Constant name → code, for every code in this module."""
    return {name: value for name, value in globals().items()
            if name.isupper() and isinstance(value, str)}
