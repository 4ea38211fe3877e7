"""gunicorn settings for every way Connext serves HTTP (`./dev up`, the Docker image, bench/):
gunicorn reads `gunicorn.conf.py` from its working directory, the repository root.

Worker class and counts stay on each command line; here is what must hold everywhere."""

import json

from gunicorn import util

# The longest request line gunicorn accepts (its default is 4094): long `keyword` searches.
limit_request_line = 8190


def _json_error(sock, status_int, reason, mesg):
    """gunicorn answers a request it cannot parse (too long a line, a bad header) itself, with
    an HTML page; API.md wants JSON `{"message"}` for every error, so it gets that instead."""
    body = json.dumps({"message": f"{reason}: {mesg}" if mesg else reason}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = _json_error  # the one function gunicorn's workers call to write such an answer
