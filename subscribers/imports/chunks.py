"""A file's rows in chunks, one transaction each, read ahead of the writer by a thread.

Reading and normalizing rows is pure Python and touches no database; writing a chunk is mostly
waiting on the database, which releases the GIL. A reader thread keeps a chunk or two ready
(already encoded for the writer) while the job's thread writes the previous one.
"""

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from subscribers.imports.rows import read_rows


class Chunk(NamedTuple):
    rows: list[tuple]  # valid rows
    errors: list[tuple[int, str]]  # (line, message) of bad rows
    count: int  # records read: len(rows) + len(errors)
    encoded: bytes | None  # the valid rows as the writer takes them (encode), made by the reading thread


def chunks(
    payload: bytes,
    source_format: str,
    region: str,
    *,
    skip: int,
    size: int,
    groups: Mapping[int, int] | None = None,
    encode: Callable[[list[tuple]], bytes] | None = None,
) -> Iterator[Chunk]:
    """Chunks of `size` records, after the first `skip` records; `encode` (the writer's) runs here too."""

    def chunk() -> Chunk:
        return Chunk(rows, errors, len(rows) + len(errors), encode(rows) if encode is not None else None)

    seen = 0
    rows: list[tuple] = []
    errors: list[tuple[int, str]] = []
    for line, row, error in read_rows(payload, source_format, region, groups):
        seen += 1
        if not seen & 127:
            # Hand the GIL over now and then: the writing thread waiting on the database gets it back
            # within ~1 ms of its answer instead of the interpreter's 5 ms switch interval.
            time.sleep(0)
        if seen <= skip:
            continue  # committed by an earlier run: read again only to know the file's earlier phones/emails
        if row is not None:
            rows.append(row)
        else:
            errors.append((line, error))
        if len(rows) + len(errors) >= size:
            yield chunk()
            rows, errors = [], []
    if rows or errors:
        yield chunk()


_END = object()


def read_ahead(items: Iterator, depth: int = 2) -> Iterator:
    """`items`, produced by a thread up to `depth` ahead of the consumer; the thread's
    exceptions are raised here, in order. Closing the generator stops the thread."""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((None, exc))

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = ahead.get()
            if exc is not None:
                raise exc
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()
