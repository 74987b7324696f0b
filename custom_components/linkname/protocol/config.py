"""The configuration file of the ``linkname`` daemon (TOML, read with tomllib).

Default path ``/etc/linkname/linkname.toml`` (``--config FILE`` or
``$LINKNAME_CONFIG`` name another).  A missing default file means "all
defaults"; a file named explicitly must exist.  Every key is optional::

    name = "kitchen-pi"            # default: the host name, made valid
    interfaces = ["eth0", "wlan0"] # default: every suitable interface
    exclude = ["wg*", "tap*"]      # fnmatch patterns, skipped in the scan
    interval = 60                  # seconds between announcements, 5..3600
    key_file = "/etc/linkname/key" # shared key: signed mode
    details = true                 # false: announce only name and addresses
    runtime_dir = "/run/linkname"  # where the control socket lives
    model = "..."                  # override what hostinfo finds
    manufacturer = "..."
    os = "..."

The file is checked as a whole when it is read: a syntax error, an unknown
key or a bad value is one :class:`ConfigError` whose message names the file,
the key and what is allowed (the command prints it and exits with status
2).  Command-line flags override the file (see :func:`merge`).
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .announcer import validate_attribute
from .codec import validate_name
from .const import MAX_ATTRIBUTE_BYTES, MAX_INTERVAL, MIN_INTERVAL

DEFAULT_CONFIG_PATH = Path("/etc/linkname/linkname.toml")
DEFAULT_RUNTIME_DIR = "/run/linkname"
ENV_CONFIG = "LINKNAME_CONFIG"
ENV_RUNTIME_DIR = "LINKNAME_RUNTIME_DIR"
MAX_CONFIG_BYTES = 64 * 1024
MAX_LIST = 64  # interfaces or exclude patterns
_IFNAMSIZ = 16


class ConfigError(Exception):
    """The configuration file is unusable; the message is one line."""


@dataclass(frozen=True, slots=True)
class Config:
    """The daemon's settings (None or empty: the built-in default)."""

    name: str | None = None
    interfaces: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    interval: float | None = None
    key_file: str | None = None
    details: bool = True
    runtime_dir: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    os: str | None = None


KEYS = tuple(f.name for f in fields(Config))


def check_interface_name(text: str) -> str:
    """``text`` if it can be a Linux interface name, else ValueError."""
    raw = text.encode("utf-8", "surrogateescape")
    if not 0 < len(raw) < _IFNAMSIZ:
        raise ValueError(f"1 to {_IFNAMSIZ - 1} bytes")
    if any(c in text for c in "/:") or any(c.isspace() for c in text):
        raise ValueError("no '/', ':' or white space")
    if not text.isprintable():
        raise ValueError("no control characters")
    return text


def check_attribute(text: str) -> str:
    """An announced text attribute (model, manufacturer, OS): 1..64 bytes,
    printable, no bidirectional controls; else ValueError."""
    size = len(text.encode("utf-8"))
    if not 0 < size <= MAX_ATTRIBUTE_BYTES:
        raise ValueError(f"1 to {MAX_ATTRIBUTE_BYTES} bytes of UTF-8")
    if not text.isprintable() or any(
        "\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069" for c in text
    ):
        raise ValueError("printable text without control characters")
    try:
        validate_attribute("text", text)
    except ValueError as err:
        raise ValueError(f"text the protocol can carry ({err})") from None
    return text


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("a string")
    return value


def _name(value: object) -> str:
    text = _string(value)
    try:
        return validate_name(text)
    except ValueError as err:
        raise ValueError(f"a valid linkname name ({err})") from None


def _string_list(check: Callable[[str], str], what: str) -> Callable[[object], Any]:
    def parse(value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"a list of {what}")
        if len(value) > MAX_LIST:
            raise ValueError(f"at most {MAX_LIST} {what}")
        out: list[str] = []
        for item in value:
            try:
                check(item)
            except ValueError as err:
                raise ValueError(f"{what}: {item!r} is not allowed ({err})") from None
            if item not in out:
                out.append(item)
        return tuple(out)

    return parse


def _pattern(text: str) -> str:
    if not text or len(text) > 64 or not text.isprintable():
        raise ValueError("1 to 64 printable characters")
    return text


def _interval(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a number of seconds, {MIN_INTERVAL:g} to {MAX_INTERVAL:g}")
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:  # also rejects nan and inf
        raise ValueError(f"{MIN_INTERVAL:g} to {MAX_INTERVAL:g} seconds")
    return float(value)


def _path(value: object) -> str:
    text = _string(value)
    if not text or "\0" in text:
        raise ValueError("a file path")
    return text


def _absolute_dir(value: object) -> str:
    text = _path(value)
    if not text.startswith("/"):
        raise ValueError("an absolute directory path")
    return text


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _attribute(value: object) -> str:
    return check_attribute(_string(value))


_PARSERS: dict[str, Callable[[object], Any]] = {
    "name": _name,
    "interfaces": _string_list(check_interface_name, "interface names"),
    "exclude": _string_list(_pattern, "patterns"),
    "interval": _interval,
    "key_file": _path,
    "details": _bool,
    "runtime_dir": _absolute_dir,
    "model": _attribute,
    "manufacturer": _attribute,
    "os": _attribute,
}
assert set(_PARSERS) == set(KEYS)


def parse_config(text: str, source: str = "<config>") -> Config:
    """Check and convert the TOML ``text``; raises :class:`ConfigError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        detail = str(err).splitlines()[0] if str(err) else "syntax error"
        raise ConfigError(f"{source}: not valid TOML: {detail}") from None
    except RecursionError:  # tomllib recurses on nesting (arrays, keys)
        raise ConfigError(f"{source}: not valid TOML: nested too deeply") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        parser = _PARSERS.get(key)
        if parser is None:
            raise ConfigError(
                f"{source}: unknown key {key!r} (allowed: {', '.join(KEYS)})"
            )
        try:
            values[key] = parser(value)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{source}: key {key!r}: must be {err}") from None
    return Config(**values)


def read_config_text(path: Path) -> str:
    """The file's text: a regular file of at most 64 KiB, UTF-8; ConfigError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{path}: not a regular file")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 16384):
            size += len(chunk)
            if size > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB")
            chunks.append(chunk)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None


def config_path(
    explicit: str | None, environ: Mapping[str, str] | None = None
) -> tuple[Path, bool]:
    """The file to read and whether it must exist (named explicitly)."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit), True
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]), True
    return DEFAULT_CONFIG_PATH, False


def load_config(path: Path, *, required: bool = False) -> Config:
    """Read and check ``path``; a missing optional file gives the defaults."""
    if not required and not os.path.lexists(path):
        return Config()
    return parse_config(read_config_text(path), str(path))


def merge(config: Config, **overrides: Any) -> Config:
    """``config`` with the command-line values that were given (not None).

    Lists given on the command line replace the file's lists; an empty list
    or None means "not given".
    """
    given: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list | tuple) else v
        for k, v in overrides.items()
        if v is not None and v not in ([], ())
    }
    unknown = set(given) - set(KEYS)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}")
    return replace(config, **given)


def runtime_dir(
    explicit: str | None,
    config: Config | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The runtime directory: flag, then $LINKNAME_RUNTIME_DIR, then the
    file's ``runtime_dir``, then /run/linkname."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get(ENV_RUNTIME_DIR):
        return Path(env[ENV_RUNTIME_DIR])
    if config is not None and config.runtime_dir:
        return Path(config.runtime_dir)
    return Path(DEFAULT_RUNTIME_DIR)
