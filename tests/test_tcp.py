"""Connection slots: a fair share per client, and the idlest goes when the server is full."""

from __future__ import annotations

from clusterdns.serve.tcp import Connection, Slots


def connection(client: str, last_active: float) -> Connection:
    return Connection(client, last_active, lambda: None)


def test_a_client_over_its_share_loses_its_own_idlest_connection() -> None:
    slots = Slots(total=10, per_client=2)
    first, second = connection("a", 1.0), connection("a", 2.0)
    other = connection("b", 0.5)
    for made in (other, first, second):
        assert slots.admit(made) is None
    first.last_active = 3.0  # it sent a message since: `second` is now the idlest of a's
    assert slots.admit(connection("a", 4.0)) is second
    assert len(slots) == 3


def test_a_full_server_closes_the_idlest_connection_anywhere() -> None:
    slots = Slots(total=3, per_client=3)
    made = [connection(client, when) for client, when in
            (("a", 5.0), ("b", 1.0), ("a", 3.0))]
    for one in made:
        slots.admit(one)
    assert slots.admit(connection("c", 9.0)) is made[1]
    assert len(slots) == 3


def test_release_is_idempotent() -> None:
    slots = Slots(total=2, per_client=2)
    one = connection("a", 1.0)
    slots.admit(one)
    slots.release(one)
    slots.release(one)
    assert len(slots) == 0
