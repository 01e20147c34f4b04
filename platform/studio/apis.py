"""API endpoints of the studio, under /api/v1/studio/ (artists only)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import signed_in
from accounts.models import Role
from core.api import HasRole
from core.serializers import JobSerializer
from studio.selectors import (
    dataset_get,
    dataset_list,
    model_get,
    model_list,
    run_get,
    run_list,
    work_get,
    work_list,
)
from studio.serializers import (
    DatasetCreateSerializer,
    DatasetSerializer,
    FavouriteSerializer,
    GanModelSerializer,
    GenerateSerializer,
    InterpolateSerializer,
    RunCreateSerializer,
    RunSerializer,
    WorkSerializer,
)
from studio.services import (
    dataset_create,
    interpolation_request,
    run_cancel,
    run_create,
    run_resume,
    work_set_favourite,
    works_request,
)


class StudioApi(APIView):
    """Base: artists (and staff) only."""

    permission_classes = [HasRole.of(Role.ARTIST)]


class DatasetListApi(StudioApi):
    """Your datasets; POST (multipart) uploads images or zips as a new dataset (202: preparing)."""

    parser_classes = [MultiPartParser]

    @extend_schema(responses=DatasetSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(DatasetSerializer(dataset_list(user=signed_in(request)), many=True).data)

    @extend_schema(request=DatasetCreateSerializer, responses={202: DatasetSerializer})
    def post(self, request: Request) -> Response:
        form = request.POST  # multipart fields; the files come separately
        data = {
            "name": form.get("name"),
            "resolution": form.get("resolution", 64),
            "files": request.FILES.getlist("files"),
        }
        serializer = DatasetCreateSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        dataset = dataset_create(
            owner=signed_in(request),
            name=serializer.validated_data["name"],
            resolution=serializer.validated_data["resolution"],
            uploads=serializer.validated_data["files"],
        )
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_202_ACCEPTED)


class DatasetDetailApi(StudioApi):
    """One dataset with its per-file report."""

    @extend_schema(responses=DatasetSerializer)
    def get(self, request: Request, dataset_id: int) -> Response:
        dataset = dataset_get(user=signed_in(request), dataset_id=dataset_id)
        return Response(DatasetSerializer(dataset).data)


class RunListApi(StudioApi):
    """Your training runs; POST starts one on the GPU queue (202)."""

    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(RunSerializer(run_list(user=signed_in(request)), many=True).data)

    @extend_schema(request=RunCreateSerializer, responses={202: RunSerializer})
    def post(self, request: Request) -> Response:
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = signed_in(request)
        run = run_create(
            owner=user,
            dataset=dataset_get(user=user, dataset_id=data["dataset"]),
            preset=data["preset"],
            arch=data.get("arch"),
            steps=data.get("steps"),
            works_on_finish=data["works_on_finish"],
        )
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunDetailApi(StudioApi):
    """One run: step, losses over time, samples, its job and its model."""

    @extend_schema(responses=RunSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        return Response(RunSerializer(run_get(user=signed_in(request), run_id=run_id)).data)


class RunCancelApi(StudioApi):
    """Stop a run at its next step (it keeps a checkpoint)."""

    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request: Request, run_id: int) -> Response:
        run = run_cancel(run=run_get(user=signed_in(request), run_id=run_id))
        return Response(RunSerializer(run).data)


class RunResumeApi(StudioApi):
    """Resume a cancelled or failed run from its last checkpoint (202)."""

    @extend_schema(request=None, responses={202: RunSerializer})
    def post(self, request: Request, run_id: int) -> Response:
        run = run_resume(run=run_get(user=signed_in(request), run_id=run_id))
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ModelListApi(StudioApi):
    """Your trained models with their cards."""

    @extend_schema(responses=GanModelSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(GanModelSerializer(model_list(user=signed_in(request)), many=True).data)


class GenerateApi(StudioApi):
    """Generate works from a model for seeds (a job on the GPU queue, 202)."""

    @extend_schema(request=GenerateSerializer, responses={202: JobSerializer})
    def post(self, request: Request, model_id: int) -> Response:
        serializer = GenerateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = signed_in(request)
        job = works_request(
            owner=user, model=model_get(user=user, model_id=model_id), **serializer.validated_data
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class InterpolateApi(StudioApi):
    """Generate an interpolation strip between two seeds (a job, 202)."""

    @extend_schema(request=InterpolateSerializer, responses={202: JobSerializer})
    def post(self, request: Request, model_id: int) -> Response:
        serializer = InterpolateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = signed_in(request)
        job = interpolation_request(
            owner=user, model=model_get(user=user, model_id=model_id), **serializer.validated_data
        )
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class WorkListApi(StudioApi):
    """Your works, newest first (`?favourites=1`, `?model=ID` to narrow)."""

    @extend_schema(responses=WorkSerializer(many=True))
    def get(self, request: Request) -> Response:
        model = request.query_params.get("model")
        works = work_list(
            user=signed_in(request),
            favourites=request.query_params.get("favourites") == "1",
            model_id=int(model) if model and model.isdigit() else None,
        )
        return Response(WorkSerializer(works[:500], many=True).data)


class WorkFavouriteApi(StudioApi):
    """Mark or unmark a work as a favourite."""

    @extend_schema(request=FavouriteSerializer, responses=WorkSerializer)
    def post(self, request: Request, work_id: int) -> Response:
        serializer = FavouriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = signed_in(request)
        work = work_set_favourite(
            owner=user,
            work=work_get(user=user, work_id=work_id),
            favourite=serializer.validated_data["is_favourite"],
        )
        return Response(WorkSerializer(work).data)
