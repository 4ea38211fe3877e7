"""GET /subscribers/export: the organization's subscribers as a streamed CSV, with the list's filters."""

import csv
import io

import pytest

from apikeys.models import APIKey
from subscribers import export_views
from subscribers.models import Subscriber
from tests.factories import BlocklistEntryFactory, GroupFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/subscribers/export"
HEADER = "id,first,last,phone,email,address,city,state,zip,enabled,text,whatsapp,groups,phoneBlocked,emailBlocked"


@pytest.fixture
def people(org):
    one, two, three = (GroupFactory(organization=org, number=number) for number in (1, 2, 3))
    ada = SubscriberFactory(organization=org, first="Ada", last="Lovelace", phone="+12025550143",
                            email="ada@example.com", address="12 Analytical Way", city="London", state="LDN",
                            zip="N1", text=True, groups=[three, one])  # fmt: skip
    alan = SubscriberFactory(organization=org, first="Alan", last="Turing", phone="+12025550177",
                             email="alan@bletchley.org", address="Hut 8", enabled=False, groups=[two])  # fmt: skip
    grace = SubscriberFactory(organization=org, first="Grace", last="Hopper", phone="", email="grace@navy.mil")
    BlocklistEntryFactory(organization=org, recipient="+12025550177")
    BlocklistEntryFactory(organization=org, recipient="grace@navy.mil")
    return {"ada": ada, "alan": alan, "grace": grace}


def export(client, params=None, **headers):
    response = client.get(URL, params or {}, **headers)
    assert response.status_code == 200, response.content
    assert response.streaming
    body = b"".join(response.streaming_content).decode("utf-8")
    return response, list(csv.DictReader(io.StringIO(body)))


def firsts(rows) -> list[str]:
    return [row["first"] for row in rows]


def test_export_is_a_streamed_csv_attachment_with_a_header_row(api, people):
    response = api.get(URL)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="subscribers.csv"'
    assert "X-RateLimit-Remaining" in response
    body = b"".join(response.streaming_content).decode("utf-8")
    lines = body.split("\r\n")
    assert lines[0] == HEADER
    assert len([line for line in lines[1:] if line]) == 3


def test_rows_carry_every_column(api, people):
    _, rows = export(api)
    assert rows == [
        {
            "id": str(people["ada"].id),
            "first": "Ada",
            "last": "Lovelace",
            "phone": "+12025550143",
            "email": "ada@example.com",
            "address": "12 Analytical Way",
            "city": "London",
            "state": "LDN",
            "zip": "N1",
            "enabled": "1",
            "text": "1",
            "whatsapp": "0",
            "groups": "1 3",
            "phoneBlocked": "0",
            "emailBlocked": "0",
        },
        {
            "id": str(people["alan"].id),
            "first": "Alan",
            "last": "Turing",
            "phone": "+12025550177",
            "email": "alan@bletchley.org",
            "address": "Hut 8",
            "city": "",
            "state": "",
            "zip": "",
            "enabled": "0",
            "text": "0",
            "whatsapp": "0",
            "groups": "2",
            "phoneBlocked": "1",
            "emailBlocked": "0",
        },
        {
            "id": str(people["grace"].id),
            "first": "Grace",
            "last": "Hopper",
            "phone": "",
            "email": "grace@navy.mil",
            "address": "",
            "city": "",
            "state": "",
            "zip": "",
            "enabled": "1",
            "text": "0",
            "whatsapp": "0",
            "groups": "",
            "phoneBlocked": "0",
            "emailBlocked": "1",
        },
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"keyword": "lovelace"},
        {"keyword": "Ada Lovelace"},
        {"keyword": "(202) 555-01"},
        {"keyword": "+1202555"},
        {"keyword": "NAVY.MIL"},
        {"keyword": "hut 8"},
        {"keyword": "an"},
        {"keyword": "nobody"},
        {"group": 1},
        {"group": 2, "keyword": "turing"},
        {"group": 2, "keyword": "lovelace"},
        {"group": 9},
        {"sort": "last"},
        {"sort": "recipient", "order": "desc"},
        {"keyword": "a", "sort": "first", "order": "desc"},
    ],
)
def test_filters_are_those_of_the_list(api, people, params):
    _, rows = export(api, params)
    listed = api.get("/api/v1/subscribers", params)
    assert listed.status_code == 200
    assert [int(row["id"]) for row in rows] == [row["id"] for row in listed.json()]


def test_keyword_and_group_select_the_rows(api, people):
    assert firsts(export(api, {"keyword": "(202) 555-01"})[1]) == ["Ada", "Alan"]
    assert firsts(export(api, {"keyword": "ada lovelace"})[1]) == ["Ada"]
    assert firsts(export(api, {"group": 1})[1]) == ["Ada"]
    assert firsts(export(api, {"sort": "last", "order": "desc"})[1]) == ["Alan", "Ada", "Grace"]


def test_other_organizations_rows_never_appear(api, other_api, people, other_org):
    theirs = GroupFactory(organization=other_org, number=1)
    SubscriberFactory(organization=other_org, first="Eve", phone="+12025550199", email="eve@evil.test", groups=[theirs])
    assert firsts(export(api)[1]) == ["Ada", "Alan", "Grace"]
    assert firsts(export(api, {"keyword": "202"})[1]) == ["Ada", "Alan"]
    assert firsts(export(api, {"group": 1})[1]) == ["Ada"]
    assert firsts(export(other_api)[1]) == ["Eve"]


def test_empty_organization_exports_only_the_header(api):
    response = api.get(URL)
    assert b"".join(response.streaming_content).decode() == HEADER + "\r\n"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "age"}, "sort"),
        ({"order": "up"}, "order"),
        ({"group": "one"}, "group"),
        # `?sort=` was exported as if no sort were given (found by the fuzzer): "" is outside the enum.
        ({"sort": ""}, "sort"),
        ({"order": ""}, "order"),
        ({"group": ""}, "group"),
    ],
)
def test_bad_filter_is_a_json_400_naming_it(api, people, params, field):
    response = api.get(URL, params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["message"].startswith(f"{field}:")


def test_send_only_key_is_a_json_403(admin_user, client_for, people):
    response = client_for(admin_user, scope=APIKey.Scope.SEND).get(URL)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert "message" in response.json()


def test_send_only_key_cannot_read_with_head_either(admin_user, client_for, people):
    assert client_for(admin_user, scope=APIKey.Scope.SEND).head(URL).status_code == 403


def test_missing_key_is_a_json_401(anon):
    response = anon.get(URL)
    assert response.status_code == 401
    assert "message" in response.json()


def test_accept_text_csv_is_served_and_errors_stay_json(api, people):
    _, rows = export(api, HTTP_ACCEPT="text/csv")
    assert len(rows) == 3
    error = api.get(URL, {"sort": "age"}, HTTP_ACCEPT="text/csv")
    assert error.status_code == 400
    assert error.json()["message"].startswith("sort:")


def test_trailing_slash_is_optional(api, people):
    response = api.get(URL + "/")
    assert response.status_code == 200 and response.streaming
    assert b"".join(response.streaming_content).decode().startswith(HEADER + "\r\n")


def test_formula_cells_are_quoted_but_phones_are_not(api, org):
    SubscriberFactory(
        organization=org,
        first='=HYPERLINK("http://evil.test")',
        last="+SUM(A1)",
        phone="+12025550143",
        email="-x@example.com",
        address="@cmd",
        city="\tTab",
        state="-",
        zip="=1",
    )
    row = export(api)[1][0]
    assert row["first"] == '\'=HYPERLINK("http://evil.test")'
    assert row["last"] == "'+SUM(A1)"
    assert row["email"] == "'-x@example.com"
    assert row["address"] == "'@cmd"
    assert row["city"] == "'\tTab"
    assert (row["state"], row["zip"]) == ("'-", "'=1")
    assert row["phone"] == "+12025550143"


def test_rows_are_read_in_chunks_with_their_groups(api, org, monkeypatch):
    """More rows than one database chunk and one write: each chunk prefetches its own groups."""
    monkeypatch.setattr(export_views, "CHUNK_SIZE", 3)
    monkeypatch.setattr(export_views, "FLUSH_BYTES", 100)
    groups = GroupFactory(organization=org, number=1), GroupFactory(organization=org, number=2)
    for i in range(10):
        SubscriberFactory(organization=org, first=f"P{i}", groups=[groups[i % 2]])
    response = api.get(URL)
    pieces = list(response.streaming_content)
    assert len(pieces) > 2
    rows = list(csv.DictReader(io.StringIO(b"".join(pieces).decode())))
    assert [row["first"] for row in rows] == [f"P{i}" for i in range(10)]
    assert [row["groups"] for row in rows] == [str(1 + i % 2) for i in range(10)]
    assert Subscriber.objects.filter(organization=org).count() == 10
