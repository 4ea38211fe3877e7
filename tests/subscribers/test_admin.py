"""Admin panel, Subscribers and Blocklist: each organization's admin sees and edits only their own rows."""

import pytest

from subscribers.models import BlocklistEntry, Subscriber
from tests.factories import BlocklistEntryFactory, GroupFactory, SubscriberFactory
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

SUBSCRIBERS = "/admin/subscribers/subscriber/"
BLOCKLIST = "/admin/subscribers/blocklistentry/"
SUBSCRIBER_ROWS = (Subscriber, Subscriber.groups.through)  # the rows and their group memberships


@pytest.fixture
def data(org, other_org):
    ours = GroupFactory(organization=org, number=1, name="AcmeGroup")
    theirs = GroupFactory(organization=other_org, number=1, name="GlobexGroup")
    return {
        "ours": ours,
        "theirs": theirs,
        "ada": SubscriberFactory(organization=org, first="Ada", last="Lovelace", phone="+12025550143", groups=[ours]),
        "alan": SubscriberFactory(organization=org, first="Alan", last="Turing", phone="", email="alan@bletchley.org"),
        "eve": SubscriberFactory(
            organization=other_org, first="Eve", last="Globex", phone="+12025550199", groups=[theirs]
        ),
        "stop": BlocklistEntryFactory(organization=org, recipient="+12025550100", reason=BlocklistEntry.Reason.STOP),
        "manual": BlocklistEntryFactory(organization=org, recipient="blocked@acme.test"),
        "their_entry": BlocklistEntryFactory(organization=other_org, recipient="globex-blocked@globex.test"),
    }


def listed(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def group_choices(response) -> dict[str, str]:
    spec = next(s for s in response.context["cl"].filter_specs if getattr(s, "parameter_name", "") == "group")
    return dict(spec.lookup_choices)


def test_org_admin_sees_only_their_subscribers(browser, data):
    assert listed(browser.get(SUBSCRIBERS)) == [data["ada"], data["alan"]]
    page = browser.get(SUBSCRIBERS).content
    assert b"Lovelace" in page and b"Globex" not in page
    assert browser.get(f"{SUBSCRIBERS}{data['eve'].pk}/change/").status_code in (302, 404)


def test_group_filter_offers_only_their_groups(browser, data):
    response = browser.get(SUBSCRIBERS)
    assert group_choices(response) == {str(data["ours"].pk): "1: AcmeGroup"}
    assert listed(browser.get(SUBSCRIBERS, {"group": data["ours"].pk})) == [data["ada"]]
    # Another organization's group id, typed into the URL, matches nobody.
    assert listed(browser.get(SUBSCRIBERS, {"group": data["theirs"].pk})) == []


def test_enabled_and_text_filters(browser, org, data):
    SubscriberFactory(organization=org, first="Off", phone="", email="off@acme.test", enabled=False, text=True)
    assert [s.first for s in listed(browser.get(SUBSCRIBERS, {"enabled__exact": "0"}))] == ["Off"]
    assert [s.first for s in listed(browser.get(SUBSCRIBERS, {"text__exact": "1"}))] == ["Off"]


@pytest.mark.parametrize(
    ("term", "expected"),
    [("lovelace", ["Ada"]), ("alan@bletchley", ["Alan"]), ("(202) 555-01", ["Ada"]), ("+1202", ["Ada"]), ("eve", [])],
)
def test_search_by_name_phone_or_email(browser, data, term, expected):
    assert [s.first for s in listed(browser.get(SUBSCRIBERS, {"q": term}))] == expected


def test_subscriber_added_in_admin_is_normalized_and_in_their_organization(browser, org, data):
    response = browser.post(
        f"{SUBSCRIBERS}add/",
        {"first": "Grace", "phone": "(212) 555-0199", "email": " Grace@Navy.MIL ", "enabled": "on", "groups": []},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    grace = Subscriber.objects.get(first="Grace")
    assert (grace.organization, grace.phone, grace.email) == (org, "+12125550199", "grace@navy.mil")


def test_subscriber_form_refuses_another_organizations_group(browser, data):
    with nothing_written(*SUBSCRIBER_ROWS):
        response = browser.post(
            f"{SUBSCRIBERS}add/", {"first": "Sneaky", "email": "s@acme.test", "groups": [data["theirs"].pk]}
        )
    assert response.status_code == 200  # the form comes back with an error


def test_subscriber_form_refuses_an_invalid_phone(browser, data):
    with nothing_written(*SUBSCRIBER_ROWS):
        response = browser.post(f"{SUBSCRIBERS}add/", {"first": "Bad", "phone": "12"})
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors


def test_superuser_sees_every_organization(superuser_browser, data):
    assert set(listed(superuser_browser.get(SUBSCRIBERS))) == {data["ada"], data["alan"], data["eve"]}
    assert set(group_choices(superuser_browser.get(SUBSCRIBERS))) == {str(data["ours"].pk), str(data["theirs"].pk)}
    assert listed(superuser_browser.get(SUBSCRIBERS, {"group": data["theirs"].pk})) == [data["eve"]]
    entries = listed(superuser_browser.get(BLOCKLIST))
    assert set(entries) == {data["stop"], data["manual"], data["their_entry"]}


def test_org_admin_sees_only_their_blocklist(browser, data):
    assert set(listed(browser.get(BLOCKLIST))) == {data["stop"], data["manual"]}
    assert b"globex-blocked" not in browser.get(BLOCKLIST).content
    assert browser.get(f"{BLOCKLIST}{data['their_entry'].pk}/change/").status_code in (302, 404)


def test_blocklist_filters_by_reason(browser, data):
    assert listed(browser.get(BLOCKLIST, {"reason__exact": "stop"})) == [data["stop"]]
    assert listed(browser.get(BLOCKLIST, {"reason__exact": "manual"})) == [data["manual"]]


@pytest.mark.parametrize(
    ("typed", "stored", "kind"),
    [
        ("(202) 555-0143", "+12025550143", "phone"),
        ("2025550143", "+12025550143", "phone"),
        (" Ada@Example.COM ", "ada@example.com", "email"),
    ],
)
def test_manual_entry_added_in_admin_is_normalized(browser, org, typed, stored, kind):
    response = browser.post(f"{BLOCKLIST}add/", {"recipient": typed})
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = BlocklistEntry.objects.get(recipient=stored)
    assert (entry.organization, entry.type, entry.reason) == (org, kind, "manual")


def test_blocked_in_admin_shows_in_the_api(browser, api):
    browser.post(f"{BLOCKLIST}add/", {"recipient": "(202) 555-0143"})
    assert [e["recipient"] for e in api.get("/api/v1/blocklist").json()] == ["+12025550143"]


def test_invalid_or_repeated_recipient_is_a_form_error(browser, data):
    with nothing_written(BlocklistEntry):
        invalid = browser.post(f"{BLOCKLIST}add/", {"recipient": "not a phone"})
        repeated = browser.post(f"{BLOCKLIST}add/", {"recipient": "BLOCKED@acme.test"})
    assert invalid.status_code == 200
    assert "recipient" in invalid.context["adminform"].form.errors
    assert repeated.status_code == 200


def test_org_admin_deletes_manual_entries_only(browser, data):
    assert browser.get(f"{BLOCKLIST}{data['stop'].pk}/delete/").status_code == 403
    with nothing_written(BlocklistEntry):
        assert browser.post(f"{BLOCKLIST}{data['stop'].pk}/delete/", {"post": "yes"}).status_code == 403
        bulk = browser.post(
            BLOCKLIST,
            {"action": "delete_selected", "_selected_action": [data["stop"].pk, data["manual"].pk], "post": "yes"},
        )
    assert bulk.status_code == 403

    assert browser.post(f"{BLOCKLIST}{data['manual'].pk}/delete/", {"post": "yes"}).status_code == 302
    assert not BlocklistEntry.objects.filter(pk=data["manual"].pk).exists()


def test_entries_are_not_editable(browser, data):
    with nothing_written(BlocklistEntry):
        response = browser.post(f"{BLOCKLIST}{data['manual'].pk}/change/", {"recipient": "other@acme.test"})
    assert response.status_code == 403


def test_superuser_creates_an_entry_for_a_chosen_organization(superuser_browser, other_org):
    other_org.default_region = "GB"
    other_org.save()
    response = superuser_browser.post(f"{BLOCKLIST}add/", {"organization": other_org.pk, "recipient": "020 7946 0018"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = BlocklistEntry.objects.get(organization=other_org)
    assert (entry.recipient, entry.type, entry.reason) == ("+442079460018", "phone", "manual")


def test_superuser_adds_a_subscriber_in_the_chosen_organizations_region(superuser_browser, org, other_org, data):
    other_org.default_region = "GB"
    other_org.save()
    form = {"organization": other_org.pk, "first": "Basil", "phone": "020 7946 0018", "enabled": "on"}
    with nothing_written(*SUBSCRIBER_ROWS):
        response = superuser_browser.post(f"{SUBSCRIBERS}add/", {**form, "groups": [data["ours"].pk]})
    assert response.status_code == 200  # Acme's group refused for a Globex subscriber
    assert "groups" in response.context["adminform"].form.errors
    response = superuser_browser.post(f"{SUBSCRIBERS}add/", {**form, "groups": [data["theirs"].pk]})
    assert response.status_code == 302, response.context["adminform"].form.errors
    basil = Subscriber.objects.get(first="Basil")
    assert (basil.organization, basil.phone, list(basil.groups.all())) == (other_org, "+442079460018", [data["theirs"]])
