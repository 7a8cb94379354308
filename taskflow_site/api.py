"""The seed's API envelope: {"data": ..., "status": "success"} and
{"error", "code", "details"} for every error, including ones DRF did not raise."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

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


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Resource already exists."
    default_code = "conflict"


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


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, TokenError):
        exc = InvalidToken(str(exc))

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
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code, message = ErrorCode.INVALID_TOKEN, _first_message(exc.detail)
        response.status_code = status.HTTP_401_UNAUTHORIZED
    elif isinstance(exc, exceptions.PermissionDenied):
        code, message = ErrorCode.UNAUTHORIZED, _first_message(exc.detail)
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
    else:
        code, message = ErrorCode.INTERNAL_ERROR, _first_message(exc.detail)
    response.data = error_body(message, code, details)
    return response
