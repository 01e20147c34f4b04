"""Admin for jobs."""

from django.contrib import admin

from core.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    """Jobs, to see what ran where and how it ended."""

    list_display = ("kind", "owner", "queue", "state", "progress", "created_at", "finished_at")
    list_filter = ("kind", "state", "queue")
    search_fields = ("id", "owner__username", "celery_task_id")
    readonly_fields = [field.name for field in Job._meta.fields]
