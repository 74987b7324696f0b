"""Tests of host description (linkname.hostinfo), on fake file trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from custom_components.linkname.protocol.hostinfo import (
    HostInfo,
    clean,
    describe,
    detect,
    parse_os_release,
)


def make_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'


def test_pc_from_dmi(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "sys/class/dmi/id/sys_vendor": "Dell Inc.\n",
            "sys/class/dmi/id/product_name": "OptiPlex 7070\n",
            "sys/class/dmi/id/board_name": "0YNVJG\n",
            "etc/os-release": DEBIAN,
        },
    )
    assert detect(root) == HostInfo(
        model="OptiPlex 7070",
        manufacturer="Dell Inc.",
        os="Debian GNU/Linux 12 (bookworm)",
    )


def test_oem_placeholders_are_filtered(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "sys/class/dmi/id/sys_vendor": "To Be Filled By O.E.M.\n",
            "sys/class/dmi/id/board_vendor": "ASRock\n",
            "sys/class/dmi/id/product_name": "System Product Name\n",
            "sys/class/dmi/id/board_name": "B450M Pro4\n",
        },
    )
    info = detect(root)
    assert info.manufacturer == "ASRock"
    assert info.model == "B450M Pro4"
    assert info.os is None


def test_all_junk_gives_nothing(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "sys/class/dmi/id/sys_vendor": "Default string\n",
            "sys/class/dmi/id/board_vendor": "To be filled by O.E.M.\n",
            "sys/class/dmi/id/product_name": "  Default   string ",
            "sys/class/dmi/id/board_name": "0000000000\n",
        },
    )
    assert detect(root) == HostInfo()


def test_lenovo_model_is_in_product_version(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "sys/class/dmi/id/sys_vendor": "LENOVO\n",
            "sys/class/dmi/id/product_name": "20XW0026GE\n",
            "sys/class/dmi/id/product_version": "ThinkPad X1 Carbon Gen 9\n",
        },
    )
    assert detect(root).model == "ThinkPad X1 Carbon Gen 9"


def test_raspberry_pi_from_device_tree(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "proc/device-tree/model": b"Raspberry Pi 4 Model B Rev 1.4\x00",
            "proc/device-tree/compatible": b"raspberrypi,4-model-b\x00brcm,bcm2711\x00",
            "etc/os-release": 'PRETTY_NAME="Raspbian GNU/Linux 11 (bullseye)"\n',
        },
    )
    assert detect(root) == HostInfo(
        model="Raspberry Pi 4 Model B Rev 1.4",
        manufacturer="Raspberry Pi",
        os="Raspbian GNU/Linux 11 (bullseye)",
    )


def test_unknown_board_vendor_gives_no_manufacturer(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "proc/device-tree/model": b"Some Board\x00",
            "proc/device-tree/compatible": b"acme,board\x00",
        },
    )
    assert detect(root) == HostInfo(model="Some Board")


def test_os_release_fallbacks(tmp_path: Path) -> None:
    make_tree(tmp_path, {"usr/lib/os-release": "NAME=Alpine\nVERSION=3.20\n"})
    assert detect(tmp_path).os == "Alpine 3.20"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('PRETTY_NAME="Ubuntu 24.04.1 LTS"', "Ubuntu 24.04.1 LTS"),
        ("PRETTY_NAME='Fedora Linux 41'", "Fedora Linux 41"),
        ("# comment\nPRETTY_NAME=Arch", "Arch"),
        ('PRETTY_NAME="say \\"hi\\""', 'say "hi"'),
        ('NAME="Gentoo"', "Gentoo"),
        ("", None),
        ("garbage without equals\n=\n", None),
        ('PRETTY_NAME=""\nNAME=Void', "Void"),
    ],
)
def test_parse_os_release(text: str, expected: str | None) -> None:
    assert parse_os_release(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        ("  \n", None),
        ("Not Specified", None),
        ("NOT SPECIFIED", None),
        ("xxxxxxxx", None),
        ("FFFFFFFF", None),
        ("a\tb\nc", "a b c"),
        ("evil\u202etxt", "eviltxt"),
        ("bell\x07", "bell"),
        ("é" * 40, "é" * 32),  # 80 bytes cut to 64 at a character boundary
    ],
)
def test_clean(text: str | None, expected: str | None) -> None:
    assert clean(text) == expected


def test_special_files_are_not_read(tmp_path: Path) -> None:
    (tmp_path / "sys/class/dmi/id").mkdir(parents=True)
    os.mkfifo(tmp_path / "sys/class/dmi/id/product_name")  # would hang if read
    (tmp_path / "sys/class/dmi/id/sys_vendor").symlink_to("/dev/zero")
    assert detect(tmp_path) == HostInfo()


def test_describe_overrides_and_details(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "sys/class/dmi/id/sys_vendor": "Dell Inc.\n",
            "sys/class/dmi/id/product_name": "OptiPlex 7070\n",
            "etc/os-release": DEBIAN,
        },
    )
    assert describe(root=root, model="My Box") == HostInfo(
        model="My Box", manufacturer="Dell Inc.", os="Debian GNU/Linux 12 (bookworm)"
    )
    assert describe(root=root, details=False, model="My Box") == HostInfo()
