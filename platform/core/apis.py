"""API endpoints for jobs and the worker self-test."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import signed_in
from accounts.models import Role
from core.api import HasRole
from core.models import Job
from core.selectors import job_get, job_list
from core.serializers import JobSerializer, SelftestRequestSerializer
from core.services import job_cancel, selftest_start


class JobListApi(ListAPIView[Job]):
    """Your jobs, newest first (staff: everyone's)."""

    serializer_class = JobSerializer

    def get_queryset(self) -> QuerySet[Job]:
        return job_list(user=signed_in(self.request))


class JobDetailApi(APIView):
    """One job: poll it to follow its progress."""

    @extend_schema(responses=JobSerializer)
    def get(self, request: Request, job_id: UUID) -> Response:
        job = job_get(user=signed_in(request), job_id=job_id)
        return Response(JobSerializer(job).data)


class JobCancelApi(APIView):
    """Ask a job to stop."""

    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request: Request, job_id: UUID) -> Response:
        job = job_cancel(job=job_get(user=signed_in(request), job_id=job_id))
        return Response(JobSerializer(job).data)


class SelftestApi(APIView):
    """Start a worker self-test on a queue (staff only); answers 202 with the job to follow."""

    permission_classes = [HasRole.of(Role.STAFF)]

    @extend_schema(request=SelftestRequestSerializer, responses={202: JobSerializer})
    def post(self, request: Request) -> Response:
        serializer = SelftestRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = selftest_start(owner=signed_in(request), queue=serializer.validated_data["queue"])
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
