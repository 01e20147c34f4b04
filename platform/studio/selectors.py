"""Reads of the studio: an artist sees only their own datasets, runs, models and works."""

from __future__ import annotations

from typing import TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, QuerySet

from accounts.models import User
from core.errors import NotFound
from studio.models import Dataset, GanModel, TrainingRun, Work

M = TypeVar("M", bound=Model)


def _own(queryset: QuerySet[M], user: User, pk: int, what: str) -> M:
    try:
        return queryset.filter(owner=user).get(pk=pk)
    except ObjectDoesNotExist:
        raise NotFound(f"You have no {what} with id {pk}.") from None


def dataset_list(*, user: User) -> QuerySet[Dataset]:
    """The artist's datasets, newest first."""
    return Dataset.objects.filter(owner=user).select_related("job")


def dataset_get(*, user: User, dataset_id: int) -> Dataset:
    """One of the artist's datasets."""
    return _own(Dataset.objects.select_related("job"), user, dataset_id, "dataset")


def run_list(*, user: User) -> QuerySet[TrainingRun]:
    """The artist's training runs, newest first."""
    return TrainingRun.objects.filter(owner=user).select_related("dataset", "job")


def run_get(*, user: User, run_id: int) -> TrainingRun:
    """One of the artist's runs, with its dataset and current job."""
    return _own(TrainingRun.objects.select_related("dataset", "job"), user, run_id, "training run")


def model_list(*, user: User) -> QuerySet[GanModel]:
    """The artist's trained models, newest first."""
    return GanModel.objects.filter(owner=user).select_related("run")


def model_get(*, user: User, model_id: int) -> GanModel:
    """One of the artist's trained models."""
    return _own(GanModel.objects.select_related("run", "run__dataset"), user, model_id, "model")


def work_list(
    *, user: User, favourites: bool = False, model_id: int | None = None
) -> QuerySet[Work]:
    """The artist's works, newest first; only favourites or one model's if asked."""
    works = Work.objects.filter(owner=user).select_related("model", "model__run")
    if favourites:
        works = works.filter(is_favourite=True)
    if model_id is not None:
        works = works.filter(model_id=model_id)
    return works


def work_get(*, user: User, work_id: int) -> Work:
    """One of the artist's works."""
    return _own(Work.objects.select_related("model"), user, work_id, "work")
