"""The systemd units and the default configuration file in contrib/.

``systemd-analyze verify`` runs on the installed units inside Debian 12
and 13 (test_roots.py); here: the sandbox opens exactly the socket families
the code uses, and the shipped linkname.toml agrees with the daemon's
configuration schema.
"""

from __future__ import annotations

import configparser
import importlib
import re
import tomllib

import pytest

from tests.packaging.conftest import REPO

CONTRIB = REPO / "contrib"
CORE = REPO / "custom_components" / "linkname" / "protocol"
UNITS = ("linkname.service", "linkname@.service")


def unit(name: str) -> configparser.ConfigParser:
    """A unit file parsed (repeated keys: the last wins, as far as we need)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((CONTRIB / name).read_text())
    return parser


def families_in_code() -> set[str]:
    """The address families the core opens sockets of."""
    used = set()
    for path in CORE.glob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r"socket\.socket\(\s*socket\.(AF_\w+)", text))
        if "start_unix_server" in text or "open_unix_connection" in text:
            used.add("AF_UNIX")
    return used


@pytest.mark.parametrize("name", UNITS)
def test_units_allow_only_the_socket_families_in_use(name: str) -> None:
    """AF_UNIX is always allowed: glibc's if_nametoindex() opens one, and the
    control socket is one; every other family must be opened by the code."""
    allowed = set(unit(name)["Service"]["RestrictAddressFamilies"].split())
    used = families_in_code()
    assert "AF_INET6" in used
    assert used | {"AF_UNIX"} <= allowed
    assert allowed == used | {"AF_UNIX"}


@pytest.mark.parametrize("name", UNITS)
def test_units_are_unprivileged_and_sandboxed(name: str) -> None:
    service = unit(name)["Service"]
    assert service["DynamicUser"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes"
    assert service["NoNewPrivileges"] == "yes"
    assert service["CapabilityBoundingSet"] == ""
    assert service["StateDirectory"] == "linkname"  # the host ID (state.py)
    assert service["ExecStart"].startswith("/usr/bin/linkname announce")


def test_the_all_interfaces_unit_reloads_and_has_its_runtime_directory() -> None:
    service = unit("linkname.service")["Service"]
    assert service["ExecStart"] == "/usr/bin/linkname announce"
    assert "kill -HUP $MAINPID" in service["ExecReload"]
    assert service["RuntimeDirectory"] == "linkname"
    assert service["RuntimeDirectoryMode"] == "0755"  # the NSS module reads it
    assert unit("linkname.service")["Install"]["WantedBy"] == "multi-user.target"


SHIPPED_KEYS = {
    "name",
    "interfaces",
    "exclude",
    "interval",
    "key_file",
    "details",
    "runtime_dir",
    "model",
    "manufacturer",
    "os",
}


def test_default_config_is_all_commented_out() -> None:
    text = (CONTRIB / "linkname.toml").read_text()
    active = [
        line for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert active == []
    keys = set(re.findall(r"^#(\w+) = ", text, re.MULTILINE))
    assert keys == SHIPPED_KEYS


def test_default_config_matches_the_daemons_schema() -> None:
    """Parsed by the daemon's own reader: as shipped (all defaults) and with
    every example line uncommented (each value valid)."""
    try:
        config = importlib.import_module("custom_components.linkname.protocol.config")
    except ModuleNotFoundError:
        pytest.skip(
            "the daemon's configuration reader (protocol/config.py) is not here"
        )
    text = (CONTRIB / "linkname.toml").read_text()
    assert config.parse_config(text, "linkname.toml") == config.Config()
    assert set(config.KEYS) == SHIPPED_KEYS
    uncommented = re.sub(r"^#(\w+ = )", r"\1", text, flags=re.MULTILINE)
    parsed = config.parse_config(uncommented, "linkname.toml")
    for key, value in tomllib.loads(uncommented).items():
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(parsed, key) == expected, key
