"""/healthz reports the database, the broker and, when configured, the chain: each for real."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from accounts.models import User
from tests.helpers import free_port

pytestmark = pytest.mark.django_db


def test_health_is_ok_with_the_embedded_database_and_broker(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker"}  # no chain configured
    assert body["checks"]["database"]["ok"]
    assert body["checks"]["broker"]["ok"]


def test_a_broker_that_does_not_answer_makes_health_503(client: Client) -> None:
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


def test_redis_broker_is_reported_healthy(client: Client) -> None:
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:6379/15"):
        response = client.get("/healthz")

    assert response.status_code == 200, response.json()
    assert "redis" in response.json()["checks"]["broker"]["detail"].lower()


@pytest.mark.chain
def test_a_configured_chain_is_checked_against_its_chain_id(client: Client, anvil: str) -> None:
    with override_settings(CHAIN_RPC_URL=anvil, CHAIN_ID=31337):
        good = client.get("/healthz")
    with override_settings(CHAIN_RPC_URL=anvil, CHAIN_ID=1):
        wrong = client.get("/healthz")
    with override_settings(CHAIN_RPC_URL=f"http://127.0.0.1:{free_port()}", CHAIN_ID=31337):
        down = client.get("/healthz")

    assert good.status_code == 200
    chain = good.json()["checks"]["chain"]
    assert (chain["ok"], chain["detail"]) == (True, "chain id 31337")
    assert wrong.status_code == 503
    assert "serves chain id 31337, but CHAIN_ID is 1" in wrong.json()["checks"]["chain"]["detail"]
    assert down.status_code == 503
    assert "ChainUnavailable" in down.json()["checks"]["chain"]["detail"]


def test_production_hides_details_from_visitors_but_not_from_staff(
    client: Client, staff: User
) -> None:
    with override_settings(PRODUCTION=True):
        public = client.get("/healthz").json()
        client.force_login(staff)
        private = client.get("/healthz").json()

    assert public["checks"]["database"] == {"ok": True}
    assert "detail" in private["checks"]["database"]
