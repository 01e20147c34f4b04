"""`/api/v1/verifications`: anyone may ask (rate-limited); the report comes back as JSON."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import signed_in
from accounts.models import Role, User
from authenticity.batch import MAX_BATCH_UPLOAD_BYTES, batch_create
from authenticity.selectors import batch_get, verification_get
from authenticity.serializers import (
    BatchRequestSerializer,
    BatchSerializer,
    VerificationReportSerializer,
    VerificationRequestSerializer,
)
from authenticity.services import upload_bytes, verification_run, verification_throttle_check
from core.api import HasRole


def _asker(request: Request) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


class VerificationListApi(APIView):
    """POST an image (multipart `image`) or a `token_id`: 201 with the report."""

    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        request=VerificationRequestSerializer, responses={201: VerificationReportSerializer}
    )
    def post(self, request: Request) -> Response:
        client = str(request.META.get("REMOTE_ADDR", ""))
        verification_throttle_check(user=_asker(request), client=client)
        serializer = VerificationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data.get("image")
        verification = verification_run(
            image=upload_bytes(upload) if upload else None,
            name=upload.name if upload else "",
            token_id=serializer.validated_data.get("token_id"),
            requested_by=_asker(request),
            client=client,
        )
        return Response(verification.report, status=status.HTTP_201_CREATED)


class BatchListApi(APIView):
    """POST a zip of images or a CSV of token ids (multipart `file`): 202 and the batch's job."""

    permission_classes = [HasRole.of(Role.GALLERY)]
    parser_classes = [MultiPartParser]

    @extend_schema(request=BatchRequestSerializer, responses={202: BatchSerializer})
    def post(self, request: Request) -> Response:
        serializer = BatchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        batch = batch_create(
            requested_by=signed_in(request),
            name=upload.name or "batch",
            data=upload_bytes(upload, limit=MAX_BATCH_UPLOAD_BYTES),
        )
        return Response(BatchSerializer(batch).data, status=status.HTTP_202_ACCEPTED)


class BatchDetailApi(APIView):
    """A batch: its job and, once done, a row per item (its verdict or its error)."""

    permission_classes = [HasRole.of(Role.GALLERY)]

    @extend_schema(responses=BatchSerializer)
    def get(self, request: Request, batch_id: UUID) -> Response:
        batch = batch_get(user=signed_in(request), batch_id=batch_id)
        return Response(BatchSerializer(batch).data)


class VerificationDetailApi(APIView):
    """A report again, by its id."""

    permission_classes = [AllowAny]

    @extend_schema(responses=VerificationReportSerializer)
    def get(self, request: Request, verification_id: UUID) -> Response:
        return Response(verification_get(verification_id=verification_id).report)
