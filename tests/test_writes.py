"""tests.writes.nothing_written catches every kind of write it is there for, and passes reads."""

import pytest

from groups.models import Group
from subscribers.models import Subscriber
from tests.factories import GroupFactory, SubscriberFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(org):
    return SubscriberFactory(organization=org, first="Ada", groups=[GroupFactory(organization=org, number=1)])


def test_reads_and_writes_elsewhere_pass(ada, org):
    with nothing_written(Subscriber, ada, Subscriber.objects.filter(first="Ada")):
        assert Subscriber.objects.get(pk=ada.pk).first == "Ada"
        GroupFactory(organization=org, number=2)


WRITES = {
    "added": lambda ada: SubscriberFactory(organization=ada.organization),
    "changed": lambda ada: Subscriber.objects.filter(pk=ada.pk).update(last="Byron"),
    "deleted": lambda ada: Subscriber.objects.filter(pk=ada.pk).delete(),
}


@pytest.mark.parametrize(
    ("watched", "write"),
    [("model", w) for w in WRITES] + [("queryset", w) for w in WRITES] + [("row", "changed"), ("row", "deleted")],
)
def test_a_row_added_changed_or_deleted_fails(ada, watched, write):
    thing = {"model": Subscriber, "row": ada, "queryset": Subscriber.objects.filter(organization=ada.organization)}
    with pytest.raises(AssertionError, match="written"), nothing_written(thing[watched]):
        WRITES[write](ada)


def test_an_instance_whose_groups_changed_fails(ada, org):
    with pytest.raises(AssertionError, match="groups"), nothing_written(ada):
        ada.groups.add(GroupFactory(organization=org, number=2))


def test_a_group_left_is_a_changed_row_of_the_link_table(ada):
    with pytest.raises(AssertionError, match="written"), nothing_written(Subscriber.groups.through):
        ada.groups.clear()
    assert not Group.objects.filter(subscribers=ada).exists()


def test_it_needs_something_to_watch():
    with pytest.raises(AssertionError, match="name the models"), nothing_written():
        pass
