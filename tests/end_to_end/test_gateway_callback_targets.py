"""A client's callback_url may not point inside the gateway's network: refused at submit, nothing stored or sent."""

from __future__ import annotations

from tests.gateway import GatewayFactory, RunningGateway

T2V = "/kling/v1/videos/text2video"
INSIDE = {
    "http://127.0.0.1:9/cb": "loopback",
    "http://localhost/cb": "loopback",
    "http://[::1]/cb": "loopback",
    "http://10.1.2.3/cb": "private",
    "https://192.168.0.10/cb": "private",
    "http://172.16.5.5/cb": "private",
    "http://[fd00::1]/cb": "private",
    "http://169.254.169.254/latest/meta-data/": "link-local",
    "http://metadata.google.internal/computeMetadata/v1/": "metadata",
    "http://0.0.0.0/cb": "unspecified",
    "http://100.64.0.1/cb": "non-public",  # carrier-grade NAT: not private, not public either
    # IPv6 forms that reach a private IPv4 address: NAT64 (the last 32 bits), 6to4, IPv4-mapped
    "http://[64:ff9b::a00:1]/cb": "private address: it carries 10.0.0.1 (NAT64)",
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/": "link-local",
    "https://[2002:c0a8:a::1]/cb": "private address: it carries 192.168.0.10 (6to4)",
    "http://[::ffff:127.0.0.1]/cb": "loopback",
}
PUBLIC = "http://93.184.216.34/callbacks/kling"  # a public address, given as such: no name to resolve


def test_callbacks_into_the_gateway_network_are_refused(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        for url, kind in INSIDE.items():
            answer = client.post(T2V, json={"prompt": "a fox", "callback_url": url})
            assert answer.status_code == 400, (url, answer.text)
            body = answer.json()
            assert body["code"] == 1201
            assert "callback_url" in body["message"]
            assert kind in body["message"], (url, body["message"])
            assert "KLING_GATEWAY_ALLOW_PRIVATE_CALLBACKS" in body["message"]
        unresolvable = client.post(T2V, json={"prompt": "a fox", "callback_url": "http://no-such-host.invalid/cb"})
        video = client.post(
            T2V, json={"prompt": "a fox", "callback_url": "http://127.0.0.1/cb"}, headers={"X-Response-Format": "video"}
        )
    assert unresolvable.status_code == 400
    assert "does not resolve" in unresolvable.json()["message"]
    assert video.json()["error"]["param"] == "callback_url"
    assert gateway.admin.task_count() == 0
    assert not gateway.sandbox.state.tasks.all_tasks()
    assert gateway.admin.money("alice") == (1_000_000_000, 0)


def test_a_public_callback_target_is_taken_and_never_sent_upstream(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        answer = client.post(T2V, json={"prompt": "a fox", "callback_url": PUBLIC})
        through_nat64 = client.post(T2V, json={"prompt": "a fox", "callback_url": "http://[64:ff9b::5db8:d822]/cb"})
    assert answer.status_code == 200, answer.text
    assert through_nat64.status_code == 200, through_nat64.text  # NAT64 to a public IPv4 address is public
    assert all(task.body.callback_url != PUBLIC for task in gateway.sandbox.state.tasks.all_tasks())


def test_an_operator_may_allow_private_callback_targets(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(allow_private_callbacks=True)
    with gw.client() as client:
        answer = client.post(T2V, json={"prompt": "a fox", "callback_url": "http://10.1.2.3/cb"})
    assert answer.status_code == 200, answer.text
