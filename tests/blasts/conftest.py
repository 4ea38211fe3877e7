import pytest

from connext import celery_app
from groups.models import Group
from subscribers.models import Subscriber


@pytest.fixture
def run_jobs(monkeypatch, django_capture_on_commit_callbacks):
    """run_jobs(send, ...) -> response: the request's after-commit tasks (fan-out, dispatch, the
    console's delivery receipt) run in this process before it returns."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)

    def run(send, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return send(*args, **kwargs)

    return run


@pytest.fixture
def audience(org):
    """Group 1 (five reachable people and the ones a blast must skip), group 2, dnc group 3."""
    g1 = Group.objects.create(organization=org, name="Parents", number=1)
    g2 = Group.objects.create(organization=org, name="Staff", number=2)
    g3 = Group.objects.create(organization=org, name="Do not contact", number=3)

    def person(first, phone="", email="", groups=(g1,), **kwargs):
        s = Subscriber.objects.create(organization=org, first=first, last="Lovelace", phone=phone, email=email,
                                      text=kwargs.pop("text", True), **kwargs)  # fmt: skip
        s.groups.set(groups)
        return s

    people = {
        "ada": person("Ada", "+12025550101", "ada@example.com", groups=(g1, g2)),
        "bob": person("Bob", "+12025550102", "bob@example.com"),
        "cy": person("", "+12025550103"),  # no first name: fallbacks
        "dee": person("Dee", email="dee@example.com"),  # email only
        "eve": person("Eve", "+12025550105", text=False),  # a landline: no texts
        "off": person("Off", "+12025550106", "off@example.com", enabled=False),
        "dnc": person("Dnc", "+12025550107", "dnc@example.com", groups=(g1, g3)),
        "outsider": person("Out", "+12025550108", "out@example.com", groups=(g2,)),
    }
    return people
