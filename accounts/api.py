"""First-run setup endpoints (no auth; work only while there are no users)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from accounts import services
from accounts.serializers import SetupAdminInput, SetupStatusOutput, TokenPairOutput, user_summary
from taskflow_site.api import Conflict, envelope


class SetupStatusApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses=SetupStatusOutput, tags=["setup"])
    def get(self, request):
        return envelope({"needsSetup": services.setup_needed()})


class SetupAdminApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=SetupAdminInput, responses={201: TokenPairOutput}, tags=["setup"])
    def post(self, request):
        if not services.setup_needed():  # cheap refusal: no hashing once closed
            raise Conflict("Setup is already complete; log in instead.")
        serializer = SetupAdminInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.setup_admin_create(**serializer.validated_data)
        except services.SetupClosed:
            raise Conflict("Setup is already complete; log in instead.") from None
        except DjangoValidationError as exc:
            details = exc.message_dict if hasattr(exc, "error_dict") else {"password": exc.messages}
            raise exceptions.ValidationError(details) from None
        data = services.token_pair_for(user)
        data["user"] = user_summary(user)
        return envelope(data, status.HTTP_201_CREATED)
