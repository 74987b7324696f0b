"""Tests of the configuration file (linkname.config)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.linkname.protocol.config import (
    DEFAULT_CONFIG_PATH,
    KEYS,
    Config,
    ConfigError,
    config_path,
    load_config,
    merge,
    parse_config,
    runtime_dir,
)

FULL = """
name = "kitchen-pi"
interfaces = ["eth0", "wlan0", "eth0"]
exclude = ["wg*", "tap?"]
interval = 30
key_file = "/etc/linkname/key"
details = false
runtime_dir = "/run/lk"
model = "Raspberry Pi 4 Model B Rev 1.4"
manufacturer = "Raspberry Pi Foundation"
os = "Debian GNU/Linux 12 (bookworm)"
"""


def test_full_file_is_read() -> None:
    config = parse_config(FULL, "x.toml")
    assert config == Config(
        name="kitchen-pi",
        interfaces=("eth0", "wlan0"),  # duplicates dropped, order kept
        exclude=("wg*", "tap?"),
        interval=30.0,
        key_file="/etc/linkname/key",
        details=False,
        runtime_dir="/run/lk",
        model="Raspberry Pi 4 Model B Rev 1.4",
        manufacturer="Raspberry Pi Foundation",
        os="Debian GNU/Linux 12 (bookworm)",
    )
    assert isinstance(config.interval, float)


def test_empty_file_is_all_defaults() -> None:
    assert parse_config("", "x.toml") == Config()
    assert parse_config("# only a comment\n", "x.toml") == Config()


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ("nmae = 'x'", "nmae", "allowed: name, interfaces"),
        ("[section]\nname = 'x'", "section", "allowed:"),
        ("name = ''", "name", "valid linkname name"),
        ("name = 'a.b'", "name", "valid linkname name"),
        ("name = 5", "name", "a string"),
        ("interfaces = 'eth0'", "interfaces", "a list of interface names"),
        ("interfaces = ['a/b']", "interfaces", "'a/b' is not allowed"),
        ("interfaces = ['sixteen-chars-xx']", "interfaces", "1 to 15 bytes"),
        ("interfaces = ['']", "interfaces", "1 to 15 bytes"),
        ("interfaces = [1]", "interfaces", "a list of interface names"),
        ("exclude = ['']", "exclude", "1 to 64 printable"),
        ("interval = 4", "interval", "5 to 3600 seconds"),
        ("interval = 3601", "interval", "5 to 3600 seconds"),
        ("interval = nan", "interval", "5 to 3600 seconds"),
        ("interval = inf", "interval", "5 to 3600 seconds"),
        ("interval = true", "interval", "a number of seconds"),
        ("interval = '60'", "interval", "a number of seconds"),
        ("details = 'no'", "details", "true or false"),
        ("details = 0", "details", "true or false"),
        ("runtime_dir = 'run/x'", "runtime_dir", "absolute directory"),
        ("key_file = ''", "key_file", "a file path"),
        ("model = ''", "model", "1 to 64 bytes"),
        ("model = '" + "x" * 65 + "'", "model", "1 to 64 bytes"),
        ('os = "a\\u0007b"', "os", "without control characters"),
        ('manufacturer = "evil\\u202e"', "manufacturer", "without control"),
    ],
)
def test_bad_value_is_one_line_naming_file_and_key(
    text: str, key: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "/etc/linkname/linkname.toml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("/etc/linkname/linkname.toml: ")
    assert repr(key) in message
    assert allowed in message


@pytest.mark.parametrize("text", ["name = ", "name = 'x", "= 1", "\x00", "a b c"])
def test_not_toml_is_one_line(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "f.toml")
    assert str(info.value).startswith("f.toml: not valid TOML: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 30000 + "]" * 30000,
        "a = " + "{b=" * 10000 + "1" + "}" * 10000,
        "a." * 20000 + "b = 1",
    ],
)
def test_deep_nesting_is_a_config_error_not_a_crash(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^f\.toml: not valid TOML: "):
        parse_config(text, "f.toml")


def test_unknown_key_lists_every_allowed_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("colour = 'red'", "f.toml")
    for key in KEYS:
        assert key in str(info.value)


def test_missing_default_file_is_defaults_missing_named_file_is_error(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nope.toml"
    assert load_config(missing) == Config()
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read"):
        load_config(missing, required=True)


def test_file_checks(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("name = 'x'\n", encoding="utf-8")
    assert load_config(good).name == "x"
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(fifo)  # does not hang: opened non-blocking, then refused
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 70000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="larger than 64 KiB"):
        load_config(big)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"name = '\xe9'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(latin)


def test_dev_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(Path("/dev/zero"), required=True)


def test_config_path_precedence() -> None:
    assert config_path(None, {}) == (DEFAULT_CONFIG_PATH, False)
    assert config_path(None, {"LINKNAME_CONFIG": "/e.toml"}) == (Path("/e.toml"), True)
    assert config_path("/f.toml", {"LINKNAME_CONFIG": "/e.toml"}) == (
        Path("/f.toml"),
        True,
    )


def test_flags_override_the_file() -> None:
    config = parse_config(FULL)
    merged = merge(
        config, name="other", interfaces=["eth1"], exclude=None, interval=None
    )
    assert merged.name == "other"
    assert merged.interfaces == ("eth1",)
    assert merged.exclude == ("wg*", "tap?")  # not given: the file's value
    assert merged.interval == 30.0
    assert merge(config, interfaces=[]).interfaces == ("eth0", "wlan0")
    assert merge(config, details=True).details is True
    with pytest.raises(TypeError):
        merge(config, colour="red")


def test_runtime_dir_precedence() -> None:
    config = Config(runtime_dir="/run/file")
    env = {"LINKNAME_RUNTIME_DIR": "/run/env"}
    assert runtime_dir("/run/flag", config, env) == Path("/run/flag")
    assert runtime_dir(None, config, env) == Path("/run/env")
    assert runtime_dir(None, config, {}) == Path("/run/file")
    assert runtime_dir(None, None, {}) == Path("/run/linkname")


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    message = ""
    try:
        parse_config(text, "f.toml")
    except ConfigError as err:
        message = str(err)
    if message:
        assert "\n" not in message
        assert message.startswith("f.toml: ")
