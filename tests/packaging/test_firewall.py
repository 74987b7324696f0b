"""The README's nftables rules, applied in a namespace whose input policy
is drop: with them, announcements arrive and ``resolve`` gets its unicast
answer; without them, neither does (so the test can fail)."""

from __future__ import annotations

import re
import sys

import pytest

from tests.netns import Lab, Netns
from tests.packaging.conftest import REPO, require_tool
from tests.proc import Proc

pytestmark = pytest.mark.netns
LINKNAME = [sys.executable, "-m", "linkname"]


def readme_rules() -> list[str]:
    """The ``sudo nft insert rule ...`` lines of the README's Firewall part."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Firewall", 1)[1].split("\n### ", 1)[0]
    rules = re.findall(r"^sudo (nft insert rule .+)$", section, re.MULTILINE)
    assert len(rules) == 2, section
    return rules


def drop_by_default(ns: Netns, rules: list[str]) -> None:
    """An ``inet filter`` input chain with policy drop, then ``rules``."""
    script = [
        "add table inet filter",
        "add chain inet filter input"
        " { type filter hook input priority 0; policy drop; }",
        *[rule.removeprefix("nft ") for rule in rules],
    ]
    ns.run("nft", "-f", "-", input="\n".join(script) + "\n", check=True)


@pytest.mark.parametrize("with_rules", [True, False], ids=["rules", "no-rules"])
def test_readme_firewall_rules_let_linkname_through(
    fast_lab: Lab, with_rules: bool
) -> None:
    require_tool("nft", "nftables")
    a, b = fast_lab.netns("fa"), fast_lab.netns("fb")
    fast_lab.veth(a, "eth0", b, "eth0")
    a_address = a.link_local("eth0")
    b.link_local("eth0")
    drop_by_default(b, readme_rules() if with_rules else [])
    watch = Proc(b.popen(*LINKNAME, "watch", "--json", "--interface", "eth0"))
    announce = Proc(
        a.popen(*LINKNAME, "announce", "--interface", "eth0", "--name", "fw-host")
    )
    announce.wait_err("announcing", limit=10)
    try:
        watch.wait_event(lambda e: e.get("event") == "joined", limit=4)
        heard = True
    except TimeoutError:
        heard = False
    resolve = b.run(
        *LINKNAME, "resolve", "fw-host", "--interface", "eth0", "--timeout", "2"
    )
    if with_rules:
        assert heard
        assert resolve.returncode == 0, resolve.stderr
        assert f"{a_address}%eth0" in resolve.stdout.split()
    else:
        assert not heard
        assert resolve.returncode == 1
