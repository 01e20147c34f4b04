"""Health of the parts the platform depends on: database, broker and (when configured) chain."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from config.celery import app as celery_app


@dataclass(frozen=True)
class Check:
    """One part's health: whether it answered, how fast, and what it said."""

    name: str
    ok: bool
    latency_ms: float
    detail: str

    def as_dict(self) -> dict[str, object]:
        """The check as JSON-ready data."""
        return {"ok": self.ok, "latency_ms": self.latency_ms, "detail": self.detail}


def health_report() -> dict[str, Check]:
    """Check every configured part; the chain is checked only when CHAIN_RPC_URL is set."""
    checks = [_timed("database", _database), _timed("broker", _broker)]
    if rpc_url := settings.CHAIN_RPC_URL:
        checks.append(_timed("chain", lambda: _chain(rpc_url)))
    return {check.name: check for check in checks}


def _timed(name: str, probe: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except Exception as error:  # a health check reports any failure rather than raising it
        detail, ok = f"{type(error).__name__}: {error}", False
    return Check(name, ok, round((time.perf_counter() - started) * 1000, 1), detail)


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _broker() -> str:
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as broker:
        broker.ensure_connection(max_retries=1, timeout=2)
        return str(broker.transport_cls)


def _chain(rpc_url: str) -> str:
    from provenance.rpc import chain_id

    served = chain_id(rpc_url, timeout=3.0)
    if served != settings.CHAIN_ID:
        raise ValueError(
            f"the node at CHAIN_RPC_URL serves chain id {served}, "
            f"but CHAIN_ID is {settings.CHAIN_ID}"
        )
    return f"chain id {served}"
