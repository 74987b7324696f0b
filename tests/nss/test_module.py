"""The NSS module: its C tests (plain and under ASan/UBSan), and the module
loaded with ctypes answering from files the Python writer made."""

from __future__ import annotations

import ctypes
import ipaddress
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_components.linkname.protocol.hostsfile import (
    HostRecord,
    format_table,
    name_key,
    parse_table,
    write_atomic,
)

from .conftest import make, need

SUCCESS, NOTFOUND, UNAVAIL, TRYAGAIN = 1, 0, -1, -2
ERANGE = 34
NETDB_INTERNAL = -1


def test_build_is_warning_free_and_exports_only_the_entry_points(
    nss_build: Path,
) -> None:
    module = nss_build / "libnss_linkname.so.2"
    need("nm", "readelf")
    symbols = subprocess.run(
        ["nm", "-D", "--defined-only", str(module)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    exported = sorted(s for s in symbols if s.startswith("_nss"))
    assert exported == [
        "_nss_linkname_gethostbyaddr2_r",
        "_nss_linkname_gethostbyaddr_r",
        "_nss_linkname_gethostbyname2_r",
        "_nss_linkname_gethostbyname3_r",
        "_nss_linkname_gethostbyname4_r",
        "_nss_linkname_gethostbyname_r",
    ]
    assert not [s for s in symbols if s.startswith("lnk_")]  # parser is hidden
    dynamic = subprocess.run(
        ["readelf", "-d", str(module)], capture_output=True, text=True, check=True
    ).stdout
    assert "Library soname: [libnss_linkname.so.2]" in dynamic
    # the installed module never reads a path from the environment
    assert b"LINKNAME_TEST_HOSTS_FILE" not in module.read_bytes()
    assert b"/run/linkname/hosts" in module.read_bytes()


def test_c_tests(nss_build: Path) -> None:
    output = make(nss_build, "test")
    match = re.search(r"(\d+) checks, 0 failed", output)
    assert match, output
    assert int(match.group(1)) > 10_000
    assert "wrong during renames" not in output


def test_c_tests_under_address_and_undefined_behaviour_sanitizers(
    nss_build: Path,
) -> None:
    output = make(nss_build, "asan", timeout=600)
    assert re.search(r"\d+ checks, 0 failed", output), output
    assert "ERROR: AddressSanitizer" not in output
    assert "runtime error" not in output  # UBSan


def test_install_honours_destdir_and_libdir(nss_build: Path, tmp_path: Path) -> None:
    make(nss_build, "install", f"DESTDIR={tmp_path}", "LIBDIR=/usr/lib/test-triplet")
    installed = tmp_path / "usr/lib/test-triplet/libnss_linkname.so.2"
    assert installed.read_bytes() == (nss_build / "libnss_linkname.so.2").read_bytes()
    assert installed.stat().st_mode & 0o777 == 0o644


# -- the module through ctypes -------------------------------------------------


class Tuple(ctypes.Structure):
    pass


Tuple._fields_ = [
    ("next", ctypes.POINTER(Tuple)),
    ("name", ctypes.c_char_p),
    ("family", ctypes.c_int),
    ("addr", ctypes.c_uint32 * 4),
    ("scopeid", ctypes.c_uint32),
]


class Module:
    """The test build of the module (reads $LINKNAME_TEST_HOSTS_FILE)."""

    def __init__(self, path: Path, hosts: Path) -> None:
        self.lib = ctypes.CDLL(str(path))
        self.hosts = hosts
        fn = self.lib._nss_linkname_gethostbyname4_r
        fn.restype = ctypes.c_int
        fn.argtypes = [
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.POINTER(Tuple)),
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int32),
        ]

    def lookup(self, name: bytes, buflen: int = 8192) -> tuple[int, list[str], int]:
        """(status, addresses as text with %scope, errno) of gethostbyname4_r."""
        pat = ctypes.POINTER(Tuple)()
        buf = ctypes.create_string_buffer(max(1, buflen))
        err, herr, ttl = ctypes.c_int(), ctypes.c_int(), ctypes.c_int32()
        status = self.lib._nss_linkname_gethostbyname4_r(
            name,
            ctypes.byref(pat),
            buf,
            buflen,
            ctypes.byref(err),
            ctypes.byref(herr),
            ctypes.byref(ttl),
        )
        out = []
        node = pat
        while status == SUCCESS and node:
            t = node.contents
            raw = bytes(t.addr)
            if t.family == socket.AF_INET6:
                text = socket.inet_ntop(socket.AF_INET6, raw)
                out.append(f"{text}%{t.scopeid}" if t.scopeid else text)
            else:
                out.append(socket.inet_ntop(socket.AF_INET, raw[:4]))
            node = t.next
        if status == TRYAGAIN:
            assert herr.value == NETDB_INTERNAL
        return status, out, err.value


@pytest.fixture
def module(nss_build: Path, tmp_path: Path) -> Iterator[Module]:
    hosts = tmp_path / "hosts"
    old = os.environ.get("LINKNAME_TEST_HOSTS_FILE")
    os.environ["LINKNAME_TEST_HOSTS_FILE"] = str(hosts)
    try:
        yield Module(nss_build / "test" / "libnss_linkname.so.2", hosts)
    finally:
        if old is None:
            del os.environ["LINKNAME_TEST_HOSTS_FILE"]
        else:
            os.environ["LINKNAME_TEST_HOSTS_FILE"] = old


def _order(addresses: tuple[str, ...], ifindex: int) -> list[str]:
    def cls(text: str) -> int:
        if ":" not in text:
            return 1
        return 2 if ipaddress.IPv6Address(text).is_link_local else 0

    return [
        f"{a}%{ifindex}" if cls(a) == 2 else a
        for a in sorted(addresses, key=cls)  # stable: file order within a class
    ]


def test_module_answers_from_the_writers_file(module: Module) -> None:
    now = int(time.time())
    write_atomic(
        module.hosts,
        format_table(
            [
                HostRecord(
                    "Kitchen-Pi", ("fe80::1", "192.0.2.7", "2001:db8::1"), now + 60, 3
                ),
                HostRecord("Küche", ("fe80::2",), now + 60, 4),
                HostRecord("gone", ("fe80::3",), now - 1, 4),
            ]
        ),
    )
    assert module.lookup(b"kitchen-pi") == (
        SUCCESS,
        ["2001:db8::1", "192.0.2.7", "fe80::1%3"],
        0,
    )
    assert module.lookup(b"KITCHEN-PI")[0] == SUCCESS
    assert module.lookup("küche".encode())[1] == ["fe80::2%4"]
    assert module.lookup("Küche".encode())[1] == ["fe80::2%4"]  # ASCII K folds
    assert module.lookup("KÜCHE".encode())[0] == NOTFOUND  # documented limit
    assert module.lookup(b"gone")[0] == NOTFOUND
    assert module.lookup(b"kitchen-pi.local")[0] == NOTFOUND
    # ERANGE, then success with the buffer glibc would grow to
    status, _, err = module.lookup(b"kitchen-pi", buflen=16)
    assert (status, err) == (TRYAGAIN, ERANGE)
    module.hosts.unlink()
    assert module.lookup(b"kitchen-pi")[0] == UNAVAIL


names = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "S"]),
    min_size=1,
    max_size=16,
).filter(lambda s: s == s.strip() and "." not in name_key(s))
address_lists = st.lists(
    st.one_of(
        st.ip_addresses(v=6).map(str),
        st.ip_addresses(v=4).map(str),
        st.integers(1, 2**32).map(lambda i: f"fe80::{i:x}"),
    ),
    min_size=1,
    max_size=18,
    unique=True,
)


@given(
    st.lists(
        st.tuples(names, address_lists, st.integers(1, 2**31), st.booleans()),
        min_size=1,
        max_size=10,
    )
)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_module_agrees_with_the_reference_parser(
    module: Module, items: list[tuple[str, list[str], int, bool]]
) -> None:
    now = int(time.time())
    records = [
        HostRecord(n, tuple(a), now + 100 if alive else now - 100 - e % 1000, 1 + e % 9)
        for n, a, e, alive in items
    ]
    data = format_table(records)
    module.hosts.write_bytes(data)
    parsed = {name_key(r.name): r for r in parse_table(data, now)}
    for name, *_ in items:
        key = name_key(name)
        status, got, _ = module.lookup(key.encode())
        record = parsed.get(key)
        if record is None:
            assert status == NOTFOUND, (key, got)
            continue
        assert status == SUCCESS
        assert got == _order(record.addresses, record.ifindex)
        if key.isascii():
            assert module.lookup(key.upper().encode())[1] == got
