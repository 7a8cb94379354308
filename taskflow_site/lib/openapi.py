"""OpenAPI generation for our envelope (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]).

Kept apart from taskflow_site.lib.api: drf_spectacular.views resolves the schema class while it is
imported, so this module must not import anything that imports drf_spectacular.views.
"""

from __future__ import annotations

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "code": {"type": "string", "description": "INVALID_TOKEN, NOT_FOUND, ..."},
        "details": {"nullable": True},
    },
    "required": ["error", "code", "details"],
}


class EnvelopeAutoSchema(AutoSchema):
    """OpenAPI that tells the truth about the wire: JSON 2xx bodies wrapped in the envelope,
    and every other status described by the error body (a `default` response)."""

    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction)
        for code, body in bodies.items():
            if not str(code).startswith("2"):
                continue
            media = body.get("content", {}).get("application/json")
            if media is not None and "schema" in media:
                media["schema"] = {
                    "type": "object",
                    "properties": {
                        "data": media["schema"],
                        "status": {"type": "string", "enum": ["success"]},
                    },
                    "required": ["data", "status"],
                }
        bodies.setdefault(
            "default",
            {
                "description": "Error (the seed's error body)",
                "content": {"application/json": {"schema": ERROR_SCHEMA}},
            },
        )
        return bodies

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        # taskflow_site.lib.api.Input refuses keys it does not declare (by attribute: importing
        # lib.api here would import drf_spectacular.views, see above)
        if direction == "request" and getattr(serializer, "strict_input", False):
            schema["additionalProperties"] = False
            properties = schema.setdefault("properties", {})
            for name in sorted(serializer.echoed_keys() - set(properties)):
                properties[name] = {"readOnly": True, "description": "Ignored (GET's value)."}
        return schema

    def get_operation_id(self):
        operation_id = super().get_operation_id()
        # APIViews are all "retrieve" to drf-spectacular; name our collections "list"
        if type(self.view).__name__.endswith("ListApi") and self.method == "GET":
            return operation_id.replace("_retrieve", "_list")
        return operation_id


class JWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"


class CookieScheme(SessionScheme):
    target_class = "accounts.authentication.SessionAuthentication"
    name = "cookieAuth"
