"""The API's JSON parser: DRF's, with a depth limit, so a deeply nested document is a 400
and never a RecursionError somewhere below (a 500). Its own module: DRF imports parsers while
rest_framework.views is still loading, which taskflow_site.lib.api imports."""

from __future__ import annotations

from rest_framework import exceptions, parsers

MAX_JSON_DEPTH = 64  # no request shape nests deeper than a handful of levels


def _too_deep(data, limit: int) -> bool:
    """Is `data` nested deeper than `limit` (walked without recursion)?"""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with MAX_JSON_DEPTH."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            deep = _too_deep(data, MAX_JSON_DEPTH)
        except RecursionError:
            deep = True
        if deep:
            raise exceptions.ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        return data
