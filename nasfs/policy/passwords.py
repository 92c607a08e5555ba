"""Password hashing with Argon2id (argon2-cffi), and verification that costs the same whether
the user exists or not.

Hashing and verifying take tens of milliseconds on purpose; callers in the daemon run them
in a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from nasfs.policy.errors import InvalidValue

log = logging.getLogger(__name__)

# argon2-cffi's defaults (RFC 9106 "low memory" profile: t=3, m=64 MiB, p=4), Argon2id.
_HASHER = PasswordHasher(type=Type.ID)
_dummy_lock = threading.Lock()
_dummy_hash: str | None = None
MAX_PASSWORD_BYTES = 1024


def hash_password(password: str) -> str:
    """The Argon2id PHC string for `password` (InvalidValue if empty or absurdly long)."""
    if not password:
        raise InvalidValue("a password cannot be empty")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise InvalidValue(f"a password can be at most {MAX_PASSWORD_BYTES} bytes long")
    return _HASHER.hash(password)


def _dummy() -> str:
    # Made once per process with the same parameters as real hashes, so verifying against it
    # costs what verifying a real user's password costs.
    global _dummy_hash
    with _dummy_lock:
        if _dummy_hash is None:
            _dummy_hash = _HASHER.hash("nasfs dummy password, never matches anything real")
        return _dummy_hash


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches `stored_hash`.

    With no hash (unknown user, or a user without a password) a dummy hash is verified
    instead and the answer is False: the same work, the same answer as a wrong password.
    """
    if stored_hash is None:
        with contextlib.suppress(VerificationError, InvalidHashError):
            _HASHER.verify(_dummy(), password)
        return False
    try:
        # argon2's verify compares digests in constant time.
        return bool(_HASHER.verify(stored_hash, password))
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        log.warning("a stored password hash is not a valid Argon2 hash")
        return False


def is_argon2id(stored_hash: str) -> bool:
    return stored_hash.startswith("$argon2id$")
