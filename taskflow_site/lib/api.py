"""The API envelope: {"data": ..., "status": "success"} and {"error", "code", "details"} for
every error, including ones DRF did not raise (docs/api.md).

Key-naming rule (docs/architecture.md, record 9). What a client WRITES keeps its snake_case
column name (`timeout_seconds`, `retry_count`, `working_dir`, `notify_on`, `use_tls`,
`from_email`, `cron_expr`, `created_by` on input...). What only the SERVER produces — ids of
other objects, timestamps, statuses and results, computed values — is camelCase, as in the
examples and WebSocket messages of docs/api.md (`nextRun`, `lastRun`, `createdBy`, `createdAt`,
`runId`, `jobId`, `triggeredAt`, `exitCode`, `lineNumber`, `cpuPercent`, `hasPassword`,
`nextAfter`).
Query parameters are snake_case (`trigger_type`, `limit`, `offset`, `after`). Times are ISO
8601 UTC with a `Z`; durations are milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.templatetags.static import static
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from taskflow_site.lib.diskfull import DISK_FULL_MESSAGE, disk_full_report, is_disk_full

logger = logging.getLogger(__name__)


class ErrorCode:
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_TOKEN = "INVALID_TOKEN"
    UNAUTHORIZED = "UNAUTHORIZED"
    NOT_FOUND = "NOT_FOUND"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    DISK_FULL = "DISK_FULL"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Resource already exists."
    default_code = "conflict"


class FieldsRefused(exceptions.PermissionDenied):
    """403 naming the fields the caller may not change (in `details`, field -> message)."""

    def __init__(self, message: str, *, fields: list[str]):
        super().__init__(message)
        self.fields = {name: ["Only admins may change this field."] for name in fields}


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_detail = "Invalid username or password."
    default_code = "invalid_credentials"


def envelope(data, http_status: int = status.HTTP_200_OK, headers=None) -> Response:
    return Response({"data": data, "status": "success"}, status=http_status, headers=headers)


def error_body(message: str, code: str, details=None) -> dict:
    return {"error": message, "code": code, "details": details}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def validation_details(exc: DjangoValidationError) -> dict:
    """A django ValidationError as DRF-style per-field details."""
    if hasattr(exc, "error_dict"):
        return {field: list(messages) for field, messages in exc.message_dict.items()}
    return {"non_field_errors": list(exc.messages)}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(validation_details(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, TokenError):
        exc = InvalidToken(str(exc))
    elif isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = PayloadTooLarge(f"The request body is larger than {limit} bytes.")

    if is_disk_full(exc):
        return disk_full_response(context["request"])
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return Response(
            error_body("Internal server error.", ErrorCode.INTERNAL_ERROR),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    details = None
    if isinstance(exc, exceptions.ValidationError):
        code = ErrorCode.VALIDATION_ERROR
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message = "Validation failed: " + _first_message(exc.detail)
    elif isinstance(exc, InvalidCredentials):
        code, message = ErrorCode.INVALID_CREDENTIALS, str(exc.detail)
        response.status_code = status.HTTP_401_UNAUTHORIZED  # DRF says 403 on a no-auth view
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code, message = ErrorCode.INVALID_TOKEN, _first_message(exc.detail)
        response.status_code = status.HTTP_401_UNAUTHORIZED
    elif isinstance(exc, exceptions.PermissionDenied):
        code, message = ErrorCode.UNAUTHORIZED, _first_message(exc.detail)
        details = getattr(exc, "fields", None)
    elif isinstance(exc, exceptions.NotFound):
        code, message = ErrorCode.NOT_FOUND, "Resource not found."
    elif isinstance(exc, Conflict):
        code, message = ErrorCode.CONFLICT, _first_message(exc.detail)
    elif isinstance(exc, exceptions.Throttled):
        code, message = ErrorCode.RATE_LIMITED, _first_message(exc.detail)
    elif isinstance(exc, exceptions.MethodNotAllowed):
        code, message = ErrorCode.METHOD_NOT_ALLOWED, _first_message(exc.detail)
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        code, message = ErrorCode.UNSUPPORTED_MEDIA_TYPE, _first_message(exc.detail)
    elif isinstance(exc, exceptions.ParseError):
        code, message = ErrorCode.VALIDATION_ERROR, _first_message(exc.detail)
    elif isinstance(exc, PayloadTooLarge):
        code, message = ErrorCode.PAYLOAD_TOO_LARGE, _first_message(exc.detail)
    else:
        code, message = ErrorCode.INTERNAL_ERROR, _first_message(exc.detail)
    response.data = error_body(message, code, details)
    return response


def disk_full_response(request):
    """507 with the error body under /api/ (plain text elsewhere), logged once per interval:
    the write failed because the data directory's disk is full, not because of a bug."""
    disk_full_report(f"{request.method} {request.path}")
    if request.path.startswith("/api/"):
        response = JsonResponse(
            error_body(DISK_FULL_MESSAGE, ErrorCode.DISK_FULL),
            status=status.HTTP_507_INSUFFICIENT_STORAGE,
        )
    else:
        response = HttpResponse(
            f"{DISK_FULL_MESSAGE}: free some space and try again.\n",
            content_type="text/plain",
            status=status.HTTP_507_INSUFFICIENT_STORAGE,
        )
    response._has_been_logged = True  # reported above, once per interval: not per request
    return response


class DiskFullMiddleware:
    """The same answer for views outside DRF (the admin pages, setup)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        return disk_full_response(request) if is_disk_full(exception) else None


def api_not_found(request, exception=None):
    """handler404: under /api/ an unknown URL (or a malformed id) gets the error envelope."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("Resource not found.", ErrorCode.NOT_FOUND), status=status.HTTP_404_NOT_FOUND
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def api_server_error(request):
    """handler500: the envelope under /api/ (never a Django HTML page for API clients)."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            error_body("Internal server error.", ErrorCode.INTERNAL_ERROR),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    from django.views.defaults import server_error

    return server_error(request)


UNKNOWN_FIELD = "Unknown field."


class Input(serializers.Serializer):
    """The base of every request-body serializer: a key it does not declare is a 400 naming
    that key (`{"maxAttempts": ["Unknown field."]}`), never silently ignored — at every level,
    since nested inputs are Inputs too (docs/api.md, "Unknown fields"). The OpenAPI schema says
    so (`additionalProperties: false`, taskflow_site.lib.openapi reads `strict_input`).

    `echo_of`: the output serializer of the same resource. Its server-produced keys (`id`,
    `nextRun`, `createdAt`...) are known, read-only and ignored, so a client may PUT back what
    GET returned."""

    strict_input = True
    echo_of: type[serializers.Serializer] | None = None

    def echoed_keys(self) -> set[str]:
        return set(self.echo_of().fields) if self.echo_of is not None else set()

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            known = {field.field_name for field in self._writable_fields} | self.echoed_keys()
            unknown = {str(key): [UNKNOWN_FIELD] for key in data if key not in known}
        try:
            value = super().to_internal_value(data)
        except exceptions.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise exceptions.ValidationError({**exc.detail, **unknown}) from None
            raise
        if unknown:
            raise exceptions.ValidationError(unknown)
        return value


def unknown_fields(errors: dict) -> dict:
    """The unknown-field errors among a serializer's errors (a view that answers other input
    errors its own way still names these)."""
    return {key: value for key, value in errors.items() if value == [UNKNOWN_FIELD]}


class NoInput(Input):
    """The body of an action that takes none (enable, cancel, delete...): empty or `{}`."""


def no_body(request) -> None:
    """Refuse any field in the body of an endpoint that takes none (400 naming each)."""
    data = request.data
    if data is None or (hasattr(data, "__len__") and not len(data)):
        return
    NoInput(data=data).is_valid(raise_exception=True)


class PageQuery(serializers.Serializer):
    """?limit=&offset= for every list (offset paging; `total` is returned beside the items)."""

    limit = serializers.IntegerField(min_value=1, max_value=500, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=10**9, default=0)


def parse_query(serializer_class, request) -> dict:
    """Validate query parameters with a serializer; bad ones are a 400 VALIDATION_ERROR."""
    serializer = serializer_class(data=request.query_params)
    # DRF reads `?x=` as "x not given"; the schema says a given value is a real value
    blank = {
        key: ["May not be blank."]
        for key, value in request.query_params.items()
        if value == "" and key in serializer.fields
    }
    if blank:
        raise exceptions.ValidationError(blank)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI from our own static files (static/vendor/swagger-ui), never a CDN; its
    start-up script is served at ?script, not inline (the Content-Security-Policy)."""

    @staticmethod
    def _swagger_ui_resource(filename):
        return static(f"vendor/swagger-ui/{filename}")

    @staticmethod
    def _swagger_ui_favicon():
        return static("vendor/swagger-ui/favicon-32x32.png")


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The same key for the same job returns the run created the first time.",
)


def idempotency_key(request, namespace: str) -> str | None:
    """The Idempotency-Key header, namespaced so one client's key never finds another's run."""
    key = request.headers.get("Idempotency-Key")
    if key is None or key == "":
        return None
    if len(key) > 100 or not key.isprintable():
        raise exceptions.ValidationError({"Idempotency-Key": ["At most 100 printable characters."]})
    return f"{namespace}:{key}"
