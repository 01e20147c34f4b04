"""A missing or malformed setting stops start-up with a message that names the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO, child_env

GOOD_SECRET = "x" * 60


def _start(**env: str) -> subprocess.CompletedProcess[str]:
    """Load the settings and set Django up in a fresh interpreter, as a server would."""
    base = child_env()
    for name in (
        "DJANGO_SECRET_KEY",
        "WALLET_KEY_SECRET",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "DJANGO_ALLOWED_HOSTS",
        "CHAIN_RPC_URL",
    ):
        base.pop(name, None)
    base.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=REPO,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": GOOD_SECRET,
    "DJANGO_ALLOWED_HOSTS": "atelier.example.org",
    "DATABASE_URL": "postgres://atelier@127.0.0.1:5432/atelier",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "WALLET_KEY_SECRET": GOOD_SECRET,
}


def test_production_settings_with_everything_set_start() -> None:
    result = _start(**PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY"),
        ("DJANGO_ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS"),
        ("DATABASE_URL", "DATABASE_URL"),
        ("CELERY_BROKER_URL", "CELERY_BROKER_URL"),
        ("WALLET_KEY_SECRET", "WALLET_KEY_SECRET"),
    ],
)
def test_production_refuses_to_start_without_a_required_setting(
    missing: str, variable: str
) -> None:
    env = {name: value for name, value in PRODUCTION.items() if name != missing}

    result = _start(**env)

    assert result.returncode != 0
    assert f"{variable} is required" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DJANGO_ENV", "staging", "DJANGO_ENV='staging' must be one of"),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG='maybe' is not a boolean"),
        (
            "DATABASE_URL",
            "mysql://db/atelier",
            "DATABASE_URL='mysql://db/atelier' has scheme 'mysql'",
        ),
        (
            "DATABASE_URL",
            "postgres://u:hunter2@db:5432",
            "DATABASE_URL='postgres://u:***@db:5432' names no database",
        ),
        (
            "CELERY_BROKER_URL",
            "kafka://broker",
            "CELERY_BROKER_URL='kafka://broker' has scheme 'kafka'",
        ),
        ("CHAIN_RPC_URL", "localhost:8545", "CHAIN_RPC_URL='localhost:8545' is not a URL"),
        ("CHAIN_ID", "mainnet", "CHAIN_ID='mainnet' is not a whole number"),
        ("DJANGO_SECRET_KEY", "short", "DJANGO_SECRET_KEY is shorter than 50 characters"),
    ],
)
def test_a_malformed_setting_stops_start_up_naming_the_variable(
    name: str, value: str, says: str
) -> None:
    result = _start(**{**PRODUCTION, name: value})

    assert result.returncode != 0
    assert says in result.stderr
    assert "hunter2" not in result.stderr


def test_development_runs_on_embedded_defaults_with_debug_off() -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL)"
    )
    base = child_env(DJANGO_ENV="development")
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_DEBUG"):
        base.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=base, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "django.db.backends.sqlite3", "filesystem://"]
