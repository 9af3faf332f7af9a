"""Closing an asyncua client quickly, whether or not its server still answers.

A polite goodbye (CloseSession) lets the server free the session at once, but a frozen
server never answers it, and a stop must not wait on that for long. The goodbye runs as a
task of its own: asyncua's ``disconnect`` swallows a cancellation that reaches it while it
stops its helper tasks, so a timeout wrapped around it could be lost.
"""

from __future__ import annotations

import asyncio

from asyncua.client.client import Client

from heatlink.aio import forget

GOODBYE_S = 0.5  # a healthy server answers in milliseconds


async def disconnect_quickly(client: Client, timeout_s: float = GOODBYE_S) -> None:
    """Say goodbye for at most ``timeout_s``, then close the socket whatever the server
    does. Never raises for what the server or the network does."""
    goodbye = asyncio.create_task(client.disconnect(), name="opcua goodbye")
    goodbye.add_done_callback(forget)
    try:
        await asyncio.wait({goodbye}, timeout=timeout_s)
    finally:
        if not goodbye.done():
            goodbye.cancel()
        client.disconnect_socket()

