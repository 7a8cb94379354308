"""/api/tokens (API tokens: create, list, revoke) and /api/audit (the audit trail)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.views import APIView

from accounts.apitokens import api_token_create, api_token_revoke
from accounts.models import ApiToken, AuditEntry, User
from accounts.serializers import (
    ApiTokenCreatedOutput,
    ApiTokenInput,
    ApiTokenListOutput,
    ApiTokenOutput,
    AuditEntryOutput,
    AuditListOutput,
    AuditQuery,
)
from taskflow_site.lib.api import (
    PageQuery,
    envelope,
    no_body,
    parse_query,
    validation_details,
)


def _owner(request, value: str | None) -> User:
    """The new token's owner: oneself, or (admins only) the user named by username or id."""
    if not value:
        return request.user
    if not request.user.is_admin:
        raise exceptions.PermissionDenied("Only admins create tokens for other users.")
    owner = None
    if value.isdigit() and len(value) < 19:
        owner = User.objects.filter(pk=int(value)).first()
    owner = owner or User.objects.filter(username=value).first()
    if owner is None:
        raise exceptions.ValidationError({"user": ["No such user."]})
    return owner


def _visible_token(request, pk: int) -> ApiToken:
    if pk > 2**63 - 1:
        raise exceptions.NotFound()
    return get_object_or_404(
        ApiToken.objects.visible_to(request.user).select_related("user"), pk=pk
    )


class ApiTokenListApi(APIView):
    @extend_schema(parameters=[PageQuery], responses=ApiTokenListOutput, tags=["tokens"])
    def get(self, request):
        page = parse_query(PageQuery, request)
        tokens = ApiToken.objects.visible_to(request.user).select_related("user")
        rows = tokens.order_by("-created_at", "-id")[
            page["offset"] : page["offset"] + page["limit"]
        ]
        return envelope({"tokens": ApiTokenOutput(rows, many=True).data, "total": tokens.count()})

    @extend_schema(request=ApiTokenInput, responses={201: ApiTokenCreatedOutput}, tags=["tokens"])
    def post(self, request):
        if isinstance(request.auth, ApiToken):
            raise exceptions.PermissionDenied(
                "An API token cannot create tokens: sign in (password or single sign-on)."
            )
        serializer = ApiTokenInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        owner = _owner(request, data.get("user"))
        try:
            token, secret = api_token_create(
                user=owner,
                name=data["name"],
                scopes=data.get("scopes"),
                expires_at=data.get("expires_at"),
            )
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(validation_details(exc)) from None
        body = {**ApiTokenOutput(token).data, "token": secret}
        return envelope(body, status.HTTP_201_CREATED)


class ApiTokenDetailApi(APIView):
    @extend_schema(responses=ApiTokenOutput, tags=["tokens"])
    def get(self, request, pk: int):
        return envelope(ApiTokenOutput(_visible_token(request, pk)).data)

    @extend_schema(responses={200: ApiTokenOutput}, tags=["tokens"])
    def delete(self, request, pk: int):
        no_body(request)
        token = api_token_revoke(token=_visible_token(request, pk))
        return envelope(ApiTokenOutput(token).data)


class AuditListApi(APIView):
    """Admins read every entry; users what they did, what concerns them, and their jobs'."""

    @extend_schema(parameters=[AuditQuery], responses=AuditListOutput, tags=["audit"])
    def get(self, request):
        query = parse_query(AuditQuery, request)
        entries = AuditEntry.objects.visible_to(request.user).select_related("token")
        if query.get("action"):
            entries = entries.filter(action=query["action"])
        if query.get("object_id"):
            entries = entries.filter(object_id=query["object_id"])
        if query.get("object_type"):
            entries = entries.filter(object_type=query["object_type"])
        rows = entries.order_by("-at", "-id")[query["offset"] : query["offset"] + query["limit"]]
        return envelope(
            {"entries": AuditEntryOutput(rows, many=True).data, "total": entries.count()}
        )
