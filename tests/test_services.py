"""Actions linkname.announce and linkname.resolve on a real link."""

from __future__ import annotations

import asyncio

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component

from custom_components.linkname.const import DOMAIN
from custom_components.linkname.protocol.announcer import Announcer
from custom_components.linkname.protocol.codec import encode
from custom_components.linkname.protocol.const import ANNOUNCE, FLAG_RESPONSE, QUERY
from tests.conftest import HaLink, add_entry
from tests.peer import Peer

pytestmark = pytest.mark.netns


async def answer_queries(peer: Peer, name: str) -> None:
    """Act as the host ``name``: answer QUERYs for it by unicast."""
    responder = Announcer(host_id=peer.host_id, name=name, addresses=(peer.address,))
    while True:
        query, meta, _ = await peer.recv_type(QUERY, limit=5)
        if query.query_name is None or query.query_name.casefold() == name.casefold():
            answer = responder._announcement(FLAG_RESPONSE)
            peer.send(encode(answer), (meta.source, meta.source_port))


async def test_resolve_returns_the_answer(ha_link: HaLink, hass: HomeAssistant) -> None:
    """resolve asks the link and returns the answering host's addresses."""
    entry_id = (await add_entry(hass)).entry_id
    peer = ha_link.peer(9, "printer")
    responder = asyncio.create_task(answer_queries(peer, "printer"))
    try:
        response = await hass.services.async_call(
            DOMAIN,
            "resolve",
            {"name": "Printer", "config_entry_id": entry_id, "timeout": 2},
            blocking=True,
            return_response=True,
        )
    finally:
        responder.cancel()
    assert response is not None
    assert response["found"] is True
    assert response["addresses"] == [peer.address]
    assert response["hosts"] == [
        {
            "interface": "eth0",
            "host_id": peer.host_id.hex(),
            "name": "printer",
            "addresses": [peer.address],
        }
    ]


async def test_resolve_unknown_and_invalid_names(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """Nobody answers: found is false; an invalid name is a validation error."""
    await add_entry(hass)
    response = await hass.services.async_call(
        DOMAIN,
        "resolve",
        {"name": "nobody", "timeout": 0.3},
        blocking=True,
        return_response=True,
    )
    assert response == {"name": "nobody", "found": False, "addresses": [], "hosts": []}
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "resolve", {"name": "a.b"}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "invalid_name"


async def test_announce_sends_now_and_is_rate_limited(
    ha_link: HaLink, hass: HomeAssistant
) -> None:
    """announce sends at once; a second call within a second is refused."""
    peer = ha_link.peer(1, "listener")
    await add_entry(hass)
    await asyncio.sleep(2.5)  # let the start burst pass
    while True:
        try:
            await peer.recv(limit=0.05)
        except TimeoutError:
            break
    await hass.services.async_call(DOMAIN, "announce", {}, blocking=True)
    message, _, _ = await peer.recv_type(ANNOUNCE, limit=1)
    assert message.name == "ha-test"
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, "announce", {}, blocking=True)
    assert err.value.translation_key == "rate_limited"


async def test_action_errors(ha_link: HaLink, hass: HomeAssistant) -> None:
    """Unknown entry, listen-only entry, no entries: translated errors."""
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "announce", {}, blocking=True)
    assert err.value.translation_key == "no_entries"
    await add_entry(hass, publish=False)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, "announce", {}, blocking=True)
    assert err.value.translation_key == "not_publishing"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "announce", {"config_entry_id": "nope"}, blocking=True
        )
    assert err.value.translation_key == "entry_not_found"
