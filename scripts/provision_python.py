#!/usr/bin/env python3
"""Provision a private, relocatable CPython 3.14 from Debian's binary packages.

Used by ``scripts/setup`` on Debian-based machines that have no Python >= 3.14.2.
Nothing is installed into the system: the ``.deb`` files of ``python3.14`` and
``python3.14-venv`` and their dependency closure are taken from the Debian
archive's *forky* suite and unpacked with ``dpkg -x`` under PREFIX; the
interpreter is then pointed at the unpacked loader and libraries with
``patchelf``.  Runs on any Python >= 3.8 (the system one), stdlib only.

Usage: provision_python.py PREFIX
Prints the path of the interpreter on success.  Exits 1 with one sentence on
stderr on failure.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from typing import NoReturn

MIRROR = os.environ.get("LINKNAME_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = os.environ.get("LINKNAME_DEBIAN_SUITE", "forky")
# libpython3.14-dev: headers, so that sdists with C extensions (pulled in at
# run time by some of Home Assistant's own integrations) can build.
# libturbojpeg0: what Home Assistant's camera integration (always loaded)
# looks for; scripts/develop points it there.
ROOTS = ("python3.14", "python3.14-venv", "libpython3.14-dev", "libturbojpeg0")
MARKER = ".complete-v3"  # bump when ROOTS or the layout below change
# Packages whose files the interpreter does not need (maintainer-script and
# system plumbing); pulling them in would drag perl and dpkg into the closure.
SKIP = {
    "debconf",
    "debconf-2.0",
    "dpkg",
    "perl-base",
    "install-info",
    "tzdata",
    "media-types",
    "mime-support",
    "netbase",
    "readline-common",
    "sensible-utils",
    "libc-bin",
    "base-files",
    "ca-certificates",
    "python3.14-doc",
}


def fail(message: str) -> NoReturn:
    print(f"setup: {message}", file=sys.stderr)
    raise SystemExit(1)


def fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as err:
        fail(
            f"could not download {url} from Debian's package archive ({err}); "
            "network access to it is needed to provision Python 3.14."
        )


def parse_index(text: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    packages: dict[str, dict[str, str]] = {}
    provides: dict[str, str] = {}
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        name = fields.get("Package")
        if not name:
            continue
        packages[name] = fields
        for prov in fields.get("Provides", "").split(","):
            prov_name = prov.strip().split(" ")[0]
            if prov_name:
                provides.setdefault(prov_name, name)
    return packages, provides


def dependencies(fields: dict[str, str]) -> list[list[str]]:
    groups: list[list[str]] = []
    for field in ("Pre-Depends", "Depends"):
        for group in fields.get(field, "").split(","):
            alternatives = [
                re.sub(r"[ (].*", "", alt.strip()).split(":")[0]
                for alt in group.split("|")
                if alt.strip()
            ]
            if alternatives:
                groups.append(alternatives)
    return groups


def closure(packages: dict[str, dict[str, str]], provides: dict[str, str]) -> list[str]:
    wanted: list[str] = []
    seen: set[str] = set()
    queue = list(ROOTS)
    while queue:
        name = queue.pop()
        if name in seen or name in SKIP:
            continue
        seen.add(name)
        real = name if name in packages else provides.get(name)
        if real is None:
            fail(f"package {name} is not in Debian {SUITE}'s index.")
        if real != name:
            queue.append(real)
            continue
        wanted.append(real)
        for alternatives in dependencies(packages[real]):
            if any(alt in seen or alt in SKIP for alt in alternatives):
                continue
            choice = next(
                (alt for alt in alternatives if alt in packages or alt in provides),
                None,
            )
            if choice is None:
                wanted_any = " | ".join(alternatives)
                fail(f"no package satisfies {wanted_any} in Debian {SUITE}.")
            queue.append(choice)
    return sorted(wanted)


def main() -> None:
    if len(sys.argv) != 2:
        fail("usage: provision_python.py PREFIX")
    prefix = os.path.abspath(sys.argv[1])
    python = os.path.join(prefix, "usr", "bin", "python3.14")
    if os.path.exists(os.path.join(prefix, MARKER)):
        print(python)
        return
    for tool in ("dpkg", "patchelf"):
        if shutil.which(tool) is None:
            fail(f"'{tool}' is needed to provision Python 3.14 (apt-get install it).")
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], check=True, capture_output=True, text=True
    ).stdout.strip()
    index = lzma.decompress(
        fetch(f"{MIRROR}/dists/{SUITE}/main/binary-{arch}/Packages.xz")
    ).decode("utf-8", "replace")
    packages, provides = parse_index(index)
    names = closure(packages, provides)
    shutil.rmtree(prefix, ignore_errors=True)
    os.makedirs(prefix)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            deb = os.path.join(tmp, f"{name}.deb")
            with open(deb, "wb") as handle:
                handle.write(fetch(f"{MIRROR}/{packages[name]['Filename']}"))
            subprocess.run(["dpkg", "-x", deb, prefix], check=True)
    libdir = os.path.join(prefix, "usr", "lib", f"{gnu_triplet(arch)}")
    loader = next(
        (
            os.path.join(libdir, entry)
            for entry in sorted(os.listdir(libdir))
            if entry.startswith("ld-linux")
        ),
        None,
    )
    if loader is None:
        fail(f"the unpacked libc6 has no dynamic loader under {libdir}.")
    subprocess.run(
        [
            "patchelf",
            "--set-interpreter",
            loader,
            "--force-rpath",
            "--set-rpath",
            libdir,
            python,
        ],
        check=True,
    )
    probe = (
        "import ssl, sqlite3, ctypes, lzma, bz2, zlib, venv, sys; print(sys.version)"
    )
    check = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        last = check.stderr.strip().splitlines()[-1:]
        fail(f"the provisioned Python 3.14 does not run: {last}")
    # Debian's generic pyconfig.h includes <TRIPLET/python3.14/pyconfig.h>,
    # found through -I/usr/include on Debian; make it resolve from the
    # include directory that sysconfig reports for this relocated prefix.
    include = os.path.join(prefix, "usr", "include")
    os.symlink(
        os.path.join("..", gnu_triplet(arch)),
        os.path.join(include, "python3.14", gnu_triplet(arch)),
    )
    # Debian ships no .pyc files: compile the standard library once, so that
    # every start of the interpreter does not parse it again.
    stdlib = os.path.join(prefix, "usr", "lib", "python3.14")
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j0", stdlib],
        capture_output=True,
        check=False,
    )
    with open(os.path.join(prefix, MARKER), "w") as handle:
        handle.write(" ".join(names) + "\n")
    print(python)


def gnu_triplet(arch: str) -> str:
    return {
        "amd64": "x86_64-linux-gnu",
        "arm64": "aarch64-linux-gnu",
    }.get(arch) or fail(f"architecture {arch} is not supported for provisioning.")


if __name__ == "__main__":
    main()
