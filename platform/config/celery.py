"""The Celery application: configured from Django settings (CELERY_*), tasks found in each app.

Start a worker from the repository root with
`PYTHONPATH=platform celery -A config worker -Q default,gpu`; GPU machines run `-Q gpu` only.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("atelier")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
