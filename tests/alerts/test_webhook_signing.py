"""Webhook signatures as Standard Webhooks defines them: a receiver can tell a genuine,
fresh delivery from a tampered or replayed one (issue 12: a captured delivery could be
replayed because the signature covered no timestamp)."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from alerts.channels.webhook import WebhookChannel
from heatlink.testing import FakeClock
from heatlink.webhooks import WebhookRefused, secret_key, signature, signed_headers, verify
from tests.alerts.support import T0, webhook_receiver
from tests.alerts.test_channels import message

NOW_S = 1_800_000_000


def test_the_specifications_test_vector() -> None:
    # From the Standard Webhooks specification's examples.
    key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                     b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_fresh_genuine_delivery_is_accepted() -> None:
    headers = signed_headers(b"s3cret", "hl-1-1-x", NOW_S, b'{"a": 1}')
    assert verify("s3cret", headers, b'{"a": 1}', now_s=NOW_S + 299) == "hl-1-1-x"
    # During a key rotation the sender may sign with both keys; one match is enough.
    rotated = {**headers, "webhook-signature": "v1,bm90IGl0 " + headers["webhook-signature"]}
    assert verify("s3cret", rotated, b'{"a": 1}', now_s=NOW_S) == "hl-1-1-x"


@pytest.mark.parametrize(("change", "says"), [
    (lambda h, b: (h, b'{"a": 2}'), "no signature matches"),                  # body changed
    (lambda h, b: ({**h, "webhook-id": "hl-9-9-x"}, b), "no signature matches"),  # other id
    (lambda h, b: ({**h, "webhook-timestamp": str(NOW_S + 60)}, b), "no signature matches"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "required"),
    (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "not whole seconds"),
])
def test_a_tampered_delivery_is_refused(change: object, says: str) -> None:
    headers = signed_headers(b"s3cret", "hl-1-1-x", NOW_S, b'{"a": 1}')
    changed_headers, changed_body = change(headers, b'{"a": 1}')  # type: ignore[operator]
    with pytest.raises(WebhookRefused, match=says):
        verify("s3cret", changed_headers, changed_body, now_s=NOW_S)


def test_an_old_or_future_delivery_is_refused() -> None:
    headers = signed_headers(b"s3cret", "hl-1-1-x", NOW_S, b"{}")
    with pytest.raises(WebhookRefused, match="too old"):
        verify("s3cret", headers, b"{}", now_s=NOW_S + 301)
    with pytest.raises(WebhookRefused, match="in the future"):
        verify("s3cret", headers, b"{}", now_s=NOW_S - 301)


def test_a_whsec_secret_is_its_base64_bytes() -> None:
    raw = b"\x00\x01binary key"
    configured = "whsec_" + base64.b64encode(raw).decode()
    headers = signed_headers(secret_key(configured), "id", NOW_S, b"{}")
    assert verify(raw, headers, b"{}", now_s=NOW_S) == "id"


async def test_a_captured_delivery_replayed_later_is_refused() -> None:
    clock = FakeClock(T0)
    channel = WebhookChannel(timeout_s=5, clock=clock)
    async with webhook_receiver() as hook:
        try:
            sent = replace(message(hook.url("/farm")), secret=b"farm-secret")
            await channel.send(sent)
        finally:
            await channel.close()
        [delivery] = await hook.wait("/farm")
    assert delivery.headers["webhook-id"] == sent.key
    assert "x-heatlink-signature" not in delivery.headers
    sent_s = clock.now().timestamp()
    assert verify(b"farm-secret", delivery.headers, delivery.body, now_s=sent_s + 5) == sent.key
    with pytest.raises(WebhookRefused, match="too old"):
        verify(b"farm-secret", delivery.headers, delivery.body, now_s=sent_s + 6 * 60)
