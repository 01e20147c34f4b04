"""Project configuration: settings, URLs, the Celery app, WSGI and ASGI entry points."""

import os

# LightGBM's OpenMP threads spin while idle by default; on a small shared machine that made a
# 2-thread fit up to 70x slower (see docs/BENCHMARKS.md). Set before anything loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from config.celery import app as celery_app

__all__ = ["celery_app"]
