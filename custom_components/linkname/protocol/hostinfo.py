"""What the host is: model, manufacturer and operating system, found locally.

* Model and manufacturer: DMI (``/sys/class/dmi/id/``, PCs and servers),
  else the device tree (``/proc/device-tree/model``, NUL-terminated, and the
  vendor prefix of ``/proc/device-tree/compatible``; Raspberry Pi and other
  boards).  Placeholders firmware vendors leave in DMI ("To Be Filled By
  O.E.M.", "System Product Name", "Default string", ...) count as absent.
* Operating system: ``PRETTY_NAME`` of ``/etc/os-release`` (else
  ``/usr/lib/os-release``; ``NAME VERSION`` when there is no pretty name).

Every value is cleaned to what the protocol can carry (printable, at most
64 bytes of UTF-8) or None.  All file paths hang off ``root``, so tests use
a fake tree; overrides win over what is found (:func:`describe`).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .const import MAX_ATTRIBUTE_BYTES

MAX_FILE_BYTES = 4096
DMI_DIR = "sys/class/dmi/id"
DT_DIR = "proc/device-tree"
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")

# Placeholders seen in the wild, compared after casefold and squeezing spaces.
_JUNK = frozenset(
    s.casefold()
    for s in (
        "To Be Filled By O.E.M.",
        "To be filled by O.E.M.",
        "To Be Filled By OEM",
        "System Product Name",
        "System Manufacturer",
        "System manufacturer",
        "System Version",
        "System Name",
        "Default string",
        "Default",
        "Not Applicable",
        "Not Specified",
        "Not Available",
        "None",
        "N/A",
        "NA",
        "OEM",
        "O.E.M.",
        "OEM Chassis",
        "Unknown",
        "Undefined",
        "Invalid",
        "Empty",
        "Product Name",
        "Base Board Product Name",
        "Chassis Manufacturer",
        "Type1ProductConfigId",
        "All Series",
        "Standard PC (i440FX + PIIX, 1996)",
        "Standard PC (Q35 + ICH9, 2009)",
        "x.x",
        "-",
    )
)
_FILLER = re.compile(r"^[\s0x.f_-]*$", re.IGNORECASE)  # "0000", "xxxx", "FFFF"
# Device-tree vendor prefixes (Documentation/devicetree/bindings/vendor-prefixes)
# of the boards people run at home; other prefixes give no manufacturer.
DT_VENDORS = {
    "raspberrypi": "Raspberry Pi",
    "hardkernel": "Hardkernel",
    "radxa": "Radxa",
    "pine64": "Pine64",
    "friendlyarm": "FriendlyElec",
    "xunlong": "Xunlong",
    "libretech": "Libre Computer",
    "beagle": "BeagleBoard.org",
    "ti": "Texas Instruments",
    "nvidia": "NVIDIA",
    "rockchip": "Rockchip",
    "allwinner": "Allwinner",
    "amlogic": "Amlogic",
    "khadas": "Khadas",
    "solidrun": "SolidRun",
    "turris": "CZ.NIC",
}


@dataclass(frozen=True, slots=True)
class HostInfo:
    """What is announced about the host (None: not announced)."""

    model: str | None = None
    manufacturer: str | None = None
    os: str | None = None


def _bidi(c: str) -> bool:
    """A bidirectional embedding, override or isolate control."""
    return "\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069"


def clean(text: str | None) -> str | None:
    """``text`` as an announceable attribute, or None for junk and empty.

    Strips NULs and surrounding white space, squeezes inner white space,
    drops other control and bidirectional-formatting characters, and cuts
    to 64 bytes at a character boundary.
    """
    if text is None:
        return None
    text = " ".join(text.replace("\0", " ").split())
    text = "".join(
        c
        for c in text
        if c.isprintable()
        and not ("\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069")
    )
    while len(text.encode("utf-8")) > MAX_ATTRIBUTE_BYTES:
        text = text[:-1]
    text = text.strip()
    if not text or text.casefold() in _JUNK or _FILLER.match(text):
        return None
    return text


def _read(path: Path) -> str | None:
    """A small regular file's text (at most 4 KiB), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, MAX_FILE_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def dmi_info(root: Path) -> tuple[str | None, str | None]:
    """(model, manufacturer) from DMI, each None when absent or junk."""
    base = root / DMI_DIR

    def get(name: str) -> str | None:
        return clean(_read(base / name))

    vendor = get("sys_vendor") or get("board_vendor")
    model = get("product_name")
    version = get("product_version")
    # Lenovo puts a machine-type code in product_name, the model in version.
    if vendor is not None and vendor.casefold() == "lenovo" and version:
        model = version
    if model is None:
        model = get("board_name")
    return model, vendor


def device_tree_info(root: Path) -> tuple[str | None, str | None]:
    """(model, manufacturer) from the device tree."""
    base = root / DT_DIR
    raw = _read(base / "model")
    model = clean(raw.split("\0", 1)[0]) if raw else None
    manufacturer = None
    compatible = _read(base / "compatible")
    if compatible:
        first = compatible.split("\0", 1)[0]
        vendor = first.split(",", 1)[0] if "," in first else ""
        manufacturer = DT_VENDORS.get(vendor.casefold())
    return model, manufacturer


def parse_os_release(text: str) -> str | None:
    """PRETTY_NAME (else "NAME VERSION", else NAME) of os-release text."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\([\\$\"`])", r"\1", value[1:-1])
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        values[key.strip()] = value
    pretty = clean(values.get("PRETTY_NAME"))
    if pretty:
        return pretty
    name = values.get("NAME")
    if name and values.get("VERSION"):
        return clean(f"{name} {values['VERSION']}")
    return clean(name)


def os_info(root: Path) -> str | None:
    """The operating system's pretty name, or None."""
    for rel in OS_RELEASE:
        text = _read(root / rel)
        if text is not None:
            return parse_os_release(text)
    return None


def detect(root: Path = Path("/")) -> HostInfo:
    """Everything found under ``root`` (DMI first, then the device tree)."""
    model, manufacturer = dmi_info(root)
    dt_model, dt_manufacturer = device_tree_info(root)
    if model is None:
        model = dt_model
    if manufacturer is None and (model is None or model == dt_model):
        manufacturer = dt_manufacturer
    return HostInfo(model=model, manufacturer=manufacturer, os=os_info(root))


def describe(
    *,
    details: bool = True,
    model: str | None = None,
    manufacturer: str | None = None,
    os: str | None = None,
    root: Path = Path("/"),
) -> HostInfo:
    """What to announce: overrides, else what :func:`detect` finds.

    ``details=False`` (privacy, docs/PROTOCOL.md section 11) announces
    nothing about the host, overrides included.
    """
    if not details:
        return HostInfo()
    found = detect(root)
    return HostInfo(
        model=model if model is not None else found.model,
        manufacturer=manufacturer if manufacturer is not None else found.manufacturer,
        os=os if os is not None else found.os,
    )
