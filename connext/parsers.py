"""Request parsers of the API."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with JSON nested deeper than Python's recursion limit (a few KB of
    `[[[[...`) a 400 like any other malformed body instead of a RecursionError's 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class UnboundedJSONParser(parsers.BaseParser):
    """JSON for a view that bounds its own bodies (subscriber imports, up to IMPORT_MAX_BYTES).

    DRF reads the body of every JSONParser through `request.body`, which refuses anything
    over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB); a parser that is not one reads the request
    stream instead. Parsing itself is JSONParser's."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return JSONParser().parse(stream, media_type, parser_context)
