"""The host ID state file of the ``linkname`` command.

The host ID (16 random bytes) identifies this host across renames, address
changes and reboots, so it is kept in a small JSON file::

    {"version": 1, "host_id": "<32 hex digits>"}

Where (first match wins), see :func:`default_state_path`:

1. ``$STATE_DIRECTORY/host-id.json`` (systemd's ``StateDirectory=``);
2. as root: ``/var/lib/linkname/host-id.json``;
3. ``$XDG_STATE_HOME/linkname/host-id.json``;
4. ``~/.local/state/linkname/host-id.json``.

All interfaces of a host share the file (one host ID per host; the boot ID
and the sequence numbers, shared by the interfaces too, start anew with
every start and are not stored, see :class:`linkname.host.Host`).  The file
is read only if it is a regular file of at most 64 KiB.  The file is
created atomically with mode 0600 (its directory 0700) and two processes that
start at the same time agree on one ID.  A file that exists but cannot be
read or parsed is an error, never silently replaced: replacing it would
change the host's identity.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

STATE_FILE_NAME = "host-id.json"
STATE_VERSION = 1
HOST_ID_LEN = 16
MAX_STATE_BYTES = 64 * 1024  # a state file is ~70 bytes


class StateError(Exception):
    """The state file cannot be read, parsed or created."""


def os_error_text(err: OSError) -> str:
    """An OSError as words ("Permission denied"), without "[Errno 13]"."""
    return err.strerror or str(err)


def read_small_file(path: str | Path, limit: int) -> tuple[bytes, int]:
    """The bytes of a small regular file and its mode (``st_mode``).

    Raises OSError (FileNotFoundError when it does not exist) or ValueError
    with a one-line reason: not a regular file (a directory, a FIFO, a
    device such as /dev/zero), or more than ``limit`` bytes.  It never
    blocks on a FIFO (opened non-blocking, then refused) and never reads
    more than ``limit + 1`` bytes.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError(f"larger than {limit} bytes")
        return b"".join(chunks), info.st_mode
    finally:
        os.close(fd)


def default_state_path(environ: dict[str, str] | None = None) -> Path:
    """Where the host ID is kept by default (see the module docstring)."""
    env = os.environ if environ is None else environ
    systemd_dir = env.get("STATE_DIRECTORY")
    if systemd_dir:
        # systemd may pass several directories separated by ':'.
        return Path(systemd_dir.split(":", 1)[0]) / STATE_FILE_NAME
    if os.geteuid() == 0:
        return Path("/var/lib/linkname") / STATE_FILE_NAME
    xdg = env.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else None
    if base is None:
        home = env.get("HOME") or str(Path.home())
        base = Path(home) / ".local" / "state"
    return base / "linkname" / STATE_FILE_NAME


def parse_state(text: str) -> bytes:
    """The host ID held by a state file's text; ValueError if malformed."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    value = data.get("host_id")
    if not isinstance(value, str):
        raise ValueError("no host_id")
    try:
        host_id = bytes.fromhex(value)
    except ValueError:
        raise ValueError("host_id is not hex") from None
    if len(host_id) != HOST_ID_LEN:
        raise ValueError(f"host_id is {len(host_id)} bytes, not {HOST_ID_LEN}")
    return host_id


def format_state(host_id: bytes) -> str:
    """The text of a state file holding ``host_id``."""
    return json.dumps({"version": STATE_VERSION, "host_id": host_id.hex()}) + "\n"


def read_host_id(path: Path) -> bytes | None:
    """The host ID in ``path``; None when the file does not exist.

    Read with a size limit and only from a regular file (a FIFO, device or
    directory is a :class:`StateError`, never a hang or a MemoryError).
    """
    try:
        text = read_small_file(path, MAX_STATE_BYTES)[0].decode("utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StateError(
            f"cannot read state file {path}: {os_error_text(err)}"
        ) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise StateError(f"cannot read state file {path}: {err}") from None
    try:
        return parse_state(text)
    except ValueError as err:
        raise StateError(f"state file {path} is damaged: {err}") from None


def _create(path: Path, host_id: bytes) -> None:
    """Write a new state file atomically; FileExistsError if one appeared."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(format_state(host_id))
            handle.flush()
            os.fsync(handle.fileno())
        # link() never replaces: if another process won the race, keep its ID.
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load_or_create_host_id(path: Path | None = None) -> bytes:
    """The host ID from ``path`` (default :func:`default_state_path`).

    Creates the file with a fresh random ID when it does not exist.
    """
    path = default_state_path() if path is None else path
    host_id = read_host_id(path)
    if host_id is not None:
        return host_id
    try:
        _create(path, os.urandom(HOST_ID_LEN))
    except FileExistsError:
        pass  # created concurrently: use that one
    except OSError as err:
        raise StateError(
            f"cannot create state file {path}: {os_error_text(err)}"
        ) from None
    host_id = read_host_id(path)
    if host_id is None:
        raise StateError(f"state file {path} vanished while being created")
    return host_id
