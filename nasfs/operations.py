"""The names of the access log's operations: one list for the gate that writes the rows,
`nasfs log show --op` and its --help, and the console's log filter.

Rows say what the filesystem did in these words; a person filtering may also type the
everyday word for some of them (`unlink`, `read`, `write`), which `access_operation` turns
into the name the rows carry. System-log rows name administrative actions instead
(`user.add`, `share.acl`, ...), which are not checked here.
"""

from __future__ import annotations

# Rows the box made by itself carry this name as their user (the daemon fills it in); the
# policy layer writes it and the client's log-row wording reads it: one constant for both.
SYSTEM_ACTOR = "nasfs"

# Name → what it records, in the order a person thinks of them.
ACCESS_OPERATIONS: dict[str, str] = {
    "create": "a new file",
    "mkdir": "a new folder",
    "mknod": "a new special file",
    "symlink": "a new symbolic link",
    "link": "a new hard link",
    "open-read": "a file opened for reading (bytes read are on the row)",
    "open-write": "a file opened for writing (bytes written are on the row)",
    "opendir": "a folder listed",
    "lookup": "a name looked up (denied attempts only)",
    "getattr": "attributes read (denied attempts only: a held inode the caller may no longer see)",
    "readlink": "a symbolic link read (denied attempts only)",
    "getxattr": "an extended attribute read (denied attempts only)",
    "listxattr": "extended attributes listed (denied attempts only)",
    "setxattr": "an extended attribute set",
    "removexattr": "an extended attribute removed",
    "truncate": "a file cut or emptied",
    "fallocate": "space allocated in a file, a hole punched or a range zeroed (fallocate)",
    "chmod": "permissions changed",
    "chown": "owner or group changed",
    "utimens": "times changed",
    "rename": "a file or folder moved or renamed",
    "delete": "a file deleted (it went to the trash)",
    "rmdir": "a folder removed",
    "restore": "an item put back from the trash",
    "purge": "a trash item deleted for good (by hand or by the share's retention)",
}

# Everyday words for some operations → the name rows carry.
ALIASES: dict[str, str] = {"unlink": "delete", "rm": "delete", "remove": "delete",
                           "read": "open-read", "write": "open-write", "mv": "rename"}


class UnknownOperation(ValueError):
    """A filter named an operation the access log never records."""


def access_operation(text: str) -> str:
    """The access-log name for what a person typed (UnknownOperation if there is none)."""
    word = text.strip().lower()
    word = ALIASES.get(word, word)
    if word not in ACCESS_OPERATIONS:
        raise UnknownOperation(f"the access log has no operation {text!r}; it records: "
                               f"{', '.join(ACCESS_OPERATIONS)}")
    return word


def operations_help() -> str:
    """One line for --help and the console: every name, comma-separated."""
    return ", ".join(ACCESS_OPERATIONS)
