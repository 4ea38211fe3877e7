"""`nothing_written`: a refused write must leave the database as it was.

    with nothing_written(Group, Subscriber):
        response = api.post("/api/v1/groups", {"name": ""})
    assert response.status_code == 400

Each thing is compared before and after the block, column by column:
- a model class: all its rows (a row added, changed or removed fails);
- a model instance: its row and its many-to-many links (changed or deleted fails);
- a queryset: the rows it selects.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import models


def _snapshot(thing) -> object:
    if isinstance(thing, models.Model):
        model = type(thing)
        row = model._default_manager.filter(pk=thing.pk).values().first()
        if row is None:
            return None
        stored = model._default_manager.get(pk=thing.pk)
        links = {f.name: sorted(getattr(stored, f.name).values_list("pk", flat=True)) for f in model._meta.many_to_many}
        return {**row, **links}
    queryset = thing if isinstance(thing, models.QuerySet) else thing._default_manager.all()
    return list(queryset.order_by("pk").values())


def _name(thing) -> str:
    if isinstance(thing, models.Model):
        return f"{type(thing).__name__} {thing.pk}"
    if isinstance(thing, models.QuerySet):
        return f"{thing.model.__name__} rows {thing.query.where}"
    return f"{thing.__name__} rows"


@contextmanager
def nothing_written(*things) -> Iterator[None]:
    """Fail if the block adds, changes or deletes any row of `things` (see the module's doc)."""
    assert things, "name the models, rows or querysets the block must not write"
    before = [_snapshot(thing) for thing in things]
    yield
    for thing, then in zip(things, before, strict=True):
        now = _snapshot(thing)
        assert now == then, f"{_name(thing)} written:\n  before: {then}\n  after:  {now}"
