"""connext.db.retry_on_conflict: a deadlock's victim runs again instead of failing (PostgreSQL)."""

import threading

import pytest
from django.db import OperationalError, connections, transaction
from psycopg import errors as pg_errors

from connext.db import retry_on_conflict
from groups.models import Group
from tests.conftest import SQLITE
from tests.factories import GroupFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.skipif(SQLITE, reason="PostgreSQL's deadlocks")]


def test_the_victim_of_a_deadlock_runs_again_and_both_finish(org):
    first, second = GroupFactory.create_batch(2, organization=org)
    both_locked = threading.Barrier(2, timeout=10)
    runs, failures = [], []

    @retry_on_conflict()
    def rename(one, other, name):
        runs.append(name)
        with transaction.atomic():
            Group.objects.filter(pk=one.pk).update(name=name)
            if runs.count(name) == 1:
                both_locked.wait()  # each holds one row; now each wants the other's
            Group.objects.filter(pk=other.pk).update(name=name)

    def run(*args):
        try:
            rename(*args)
        except Exception as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(first, second, "x")),
        threading.Thread(target=run, args=(second, first, "y")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert sorted(runs) in (["x", "x", "y"], ["x", "y", "y"])  # one of them ran twice
    names = set(Group.objects.values_list("name", flat=True))
    assert len(names) == 1  # the one that ran again renamed both last


def test_inside_a_transaction_the_error_goes_up(org):
    @retry_on_conflict()
    def fail():
        raise OperationalError("deadlock detected") from pg_errors.DeadlockDetected()

    runs = []
    with pytest.raises(OperationalError), transaction.atomic():
        runs.append(1)
        fail()
    assert runs == [1]
