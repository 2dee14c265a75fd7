"""The audit key: a secret kept outside the database that the audit chain's MACs are made with.

The key is 32 random bytes, stored hex-encoded in a file readable by its owner only (mode
0600). `triggerpoint setup` creates it; if it is missing when an event is first written, it is
created then, with a loud warning in the log. A key file readable or writable by its group or
by others is refused outright (`AuditKeyError`), before anything is signed with it.

Where it lives (`TRIGGERPOINT_AUDIT_KEY_FILE`), and the checkpoint file
(`TRIGGERPOINT_AUDIT_CHECKPOINT_FILE`), default to `audit.key` and `audit-checkpoints.jsonl`
beside the SQLite database file, or in the data directory for PostgreSQL.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from threading import Lock

from sqlalchemy.engine import URL, make_url

from triggerpoint.config import get_settings
from triggerpoint.errors import SetupError

log = logging.getLogger("triggerpoint.audit")

KEY_BYTES = 32
KEY_FILE = "audit.key"
CHECKPOINT_FILE = "audit-checkpoints.jsonl"
_HEADER = (
    "# triggerpoint audit key: keep it secret (mode 0600), and back it up apart from the\n"
    "# database. Without it the audit chain cannot be verified. See docs/security.md.\n"
)


class AuditKeyError(SetupError):
    """The audit key file is unsafe (group/world access) or unreadable."""


@dataclass(frozen=True)
class AuditKey:
    path: Path
    id: str  # a fingerprint that names the key without revealing it
    created: bool = False  # this call created the file
    _base: hmac.HMAC = field(repr=False, compare=False, kw_only=True)

    def mac(self, data: bytes) -> str:
        h = self._base.copy()
        h.update(data)
        return h.hexdigest()


def _key_from_secret(path: Path, secret: bytes, *, created: bool = False) -> AuditKey:
    key_id = hmac.new(secret, b"triggerpoint audit key id", hashlib.sha256).hexdigest()[:16]
    return AuditKey(path, key_id, created, _base=hmac.new(secret, digestmod=hashlib.sha256))


def _default_dir(url: str | URL | None) -> Path:
    from triggerpoint.db import database_url

    u = make_url(url if url is not None else database_url())
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        return Path(u.database).resolve().parent
    return get_settings().data_dir


def key_path(url: str | URL | None = None) -> Path:
    """The key file for the database at `url` (default: the configured database)."""
    configured = get_settings().audit_key_file
    return configured if configured is not None else _default_dir(url) / KEY_FILE


def checkpoint_path(url: str | URL | None = None) -> Path:
    """The append-only checkpoint file for the database at `url`."""
    configured = get_settings().audit_checkpoint_file
    return configured if configured is not None else _default_dir(url) / CHECKPOINT_FILE


_cache: dict[Path, tuple[tuple[int, int, int, int], AuditKey]] = {}
_create_lock = Lock()


def _check_mode(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise AuditKeyError(f"audit key file {path} is not a regular file")
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise AuditKeyError(
            f"audit key file {path} has mode {mode:04o}: it is open to its group or to others, "
            f"so anyone who can read it could forge the audit chain. Refusing to use it: "
            f"run `chmod 600 {path}` (and check who has read it)."
        )


def _parse(path: Path, text: str) -> bytes:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    try:
        secret = bytes.fromhex(lines[0]) if len(lines) == 1 else b""
    except ValueError:
        secret = b""
    if len(secret) < KEY_BYTES:
        raise AuditKeyError(
            f"audit key file {path} does not hold a key ({KEY_BYTES * 2} or more hex digits "
            f"on one line): restore it from its backup"
        )
    return secret


def load_key(path: Path, *, create: bool = False) -> AuditKey | None:
    """The key in `path`; None if the file is missing (created instead when `create`).

    Re-read whenever the file changes (its inode, size or mtime), so a replaced key is noticed;
    otherwise one `stat` per call. The mode is checked on every call.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return _create(path) if create else None
    except OSError as exc:
        raise AuditKeyError(f"audit key file {path}: {exc.strerror}") from None
    _check_mode(path, st)
    sig = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _cache.get(path)
    if cached is not None and cached[0] == sig:
        return cached[1]
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditKeyError(f"audit key file {path}: cannot read it ({exc})") from None
    key = _key_from_secret(path, _parse(path, text))
    _cache[path] = (sig, key)
    return key


def _create(path: Path) -> AuditKey:
    """Write a new key atomically: a private temporary file, hard-linked into place.

    Two processes creating it at once both end up with the winner's key (link refuses to
    overwrite), and nobody ever reads a half-written file.
    """
    with _create_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_bytes(KEY_BYTES)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (_HEADER + secret.hex() + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        created = True
        try:
            os.link(tmp, path)
        except FileExistsError:
            created = False  # another process won the race: use its key
        except OSError:  # a file system without hard links
            if path.exists():
                created = False
            else:
                os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if created:
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    key = load_key(path)
    assert key is not None
    return replace(key, created=created)


def signing_key(url: str | URL | None = None) -> AuditKey:
    """The key new events are chained with: created (and loudly logged) if it is missing."""
    key = load_key(key_path(url), create=True)
    assert key is not None
    if key.created:
        log.warning(
            "AUDIT KEY CREATED: %s did not exist, so a new audit key was written there (mode "
            "0600). Back it up apart from the database. If this database already holds audit "
            "events chained with another key, they no longer verify: stop the app and restore "
            "that key file instead (docs/security.md). `triggerpoint setup` creates the key "
            "up front.",
            key.path,
        )
    return key
