"""`limit` (1-1000, default 25) and `offset` (>= 0): a bare array, the total in `X-Total-Count`."""

import re

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

MAX_LIMIT = 1000
INTEGER = re.compile(r"-?[0-9]+")
MAX_OFFSET = 2**53 - 1  # the largest integer every JSON client reads exactly; far below SQL's bigint


def int_param(request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    bound = f"between {low} and {high}" if high is not None else f"at least {low}"
    if not INTEGER.fullmatch(raw):  # int() would also take "+5", " 5", "1_0" and other scripts' digits
        raise ValidationError({name: [f"Must be an integer {bound}."]})
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise ValidationError({name: [f"Must be an integer {bound}."]})
    return value


class LimitOffsetPagination(pagination.BasePagination):
    default_limit = 25

    def paginate_queryset(self, queryset, request, view=None):
        self.limit = int_param(request, "limit", self.default_limit, 1, MAX_LIMIT)
        self.offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
        rows = list(queryset[self.offset : self.offset + self.limit])
        if rows and len(rows) < self.limit:
            self.count = self.offset + len(rows)  # a short page is the last one: no COUNT needed
        elif not rows and self.offset == 0:
            self.count = 0
        else:
            self.count = queryset.count()
        return rows

    def get_paginated_response(self, data):
        return Response(data, headers={"X-Total-Count": str(self.count)})

    def get_paginated_response_schema(self, schema):
        return schema

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Rows to return, 1-{MAX_LIMIT} (default {self.default_limit}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": self.default_limit},
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "description": "Rows to skip (default 0).",
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
            },
        ]
