"""Tests of linkname.state: the host ID state file."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from custom_components.linkname.protocol.state import (
    MAX_STATE_BYTES,
    StateError,
    default_state_path,
    format_state,
    load_or_create_host_id,
    parse_state,
    read_host_id,
    read_small_file,
)


def test_created_once_then_stable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "host-id.json"
    first = load_or_create_host_id(path)
    assert len(first) == 16
    assert load_or_create_host_id(path) == first
    data = json.loads(path.read_text())
    assert data == {"version": 1, "host_id": first.hex()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["host-id.json"]  # no temp


def test_two_files_differ(tmp_path: Path) -> None:
    assert load_or_create_host_id(tmp_path / "a") != load_or_create_host_id(
        tmp_path / "b"
    )


def test_concurrent_creators_agree(tmp_path: Path) -> None:
    path = tmp_path / "host-id.json"
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(load_or_create_host_id(path))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert read_host_id(path) == results[0]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "not JSON"),
        ("[]", "not a JSON object"),
        ("{}", "no host_id"),
        ('{"host_id": "xyz"}', "not hex"),
        ('{"host_id": "00ff"}', "2 bytes"),
    ],
)
def test_damaged_file_is_an_error_not_replaced(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "host-id.json"
    path.write_text(text)
    with pytest.raises(StateError, match=problem):
        load_or_create_host_id(path)
    assert path.read_text() == text  # identity never silently replaced


def test_impossible_path_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StateError, match=r"state file .*Not a directory"):
        load_or_create_host_id(blocker / "host-id.json")


def test_round_trip() -> None:
    host_id = bytes(range(16))
    assert parse_state(format_state(host_id)) == host_id


def test_default_path_order(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"STATE_DIRECTORY": "/var/lib/private/linkname:/other"}
    assert default_state_path(env) == Path("/var/lib/private/linkname/host-id.json")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_state_path({}) == Path("/var/lib/linkname/host-id.json")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert default_state_path({"XDG_STATE_HOME": "/x/state", "HOME": "/h"}) == Path(
        "/x/state/linkname/host-id.json"
    )
    # A relative XDG_STATE_HOME is invalid per the spec and ignored.
    assert default_state_path({"XDG_STATE_HOME": "rel", "HOME": "/h"}) == Path(
        "/h/.local/state/linkname/host-id.json"
    )
    assert default_state_path({"HOME": "/h"}) == Path(
        "/h/.local/state/linkname/host-id.json"
    )


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "directory", "huge"])
def test_state_file_must_be_a_small_regular_file(tmp_path: Path, kind: str) -> None:
    """Revision 2 / issue 9: /dev/zero gave a MemoryError, a FIFO hung."""
    if kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)  # nobody writes: a plain open() would block forever
    elif kind == "directory":
        path = tmp_path
    else:
        path = tmp_path / "huge"
        path.write_text(" " * (MAX_STATE_BYTES + 1))
    reason = "larger than" if kind == "huge" else "not a regular file"
    with pytest.raises(StateError, match=reason):
        load_or_create_host_id(path)


def test_read_small_file_reads_exactly_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    data, mode = read_small_file(path, 100)
    assert data == b"x" * 100
    assert stat.S_ISREG(mode)
    with pytest.raises(ValueError, match="larger than 99 bytes"):
        read_small_file(path, 99)
    with pytest.raises(FileNotFoundError):
        read_small_file(tmp_path / "missing", 100)
