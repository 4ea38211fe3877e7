"""Custom attributes: set by POST/PATCH, checked against the rules, filtered with `attr.NAME=`,
imported from CSV columns and JSON objects, exported as `attr.NAME` columns."""

import csv
import io

import pytest

from subscribers.models import AttributeKey, Subscriber
from tests.subscribers.test_imports import job_of, run_jobs, upload  # noqa: F401 (run_jobs: a fixture)
from tests.writes import nothing_written

pytestmark = pytest.mark.django_db

URL = "/api/v1/subscribers"


def create(api, **body) -> dict:
    response = api.post(URL, body)
    assert response.status_code == 201, response.json()
    return response.json()


def test_attributes_round_trip_through_post_get_and_patch(api, org):
    made = create(api, phone="+12025550143", attributes={"COLOR": "BLACK", "AGE": 42, "VIP": True,
                                                          "BIRTHDAY": "1990-04-01", "SCORE": 9.5})  # fmt: skip
    assert made["attributes"] == {"COLOR": "BLACK", "AGE": 42, "VIP": True, "BIRTHDAY": "1990-04-01", "SCORE": 9.5}
    assert made["whatsapp"] == 0

    # A PATCH merges: a given name is set, null removes one, the others stay.
    patched = api.patch(f"{URL}/{made['id']}", {"attributes": {"COLOR": "RED", "VIP": None, "CITY_CODE": "B"}})
    assert patched.status_code == 200, patched.json()
    expected = {"COLOR": "RED", "AGE": 42, "BIRTHDAY": "1990-04-01", "SCORE": 9.5, "CITY_CODE": "B"}
    assert patched.json()["attributes"] == expected
    assert api.get(f"{URL}/{made['id']}").json()["attributes"] == expected
    assert set(AttributeKey.objects.filter(organization=org).values_list("name", flat=True)) == {
        "COLOR", "AGE", "VIP", "BIRTHDAY", "SCORE", "CITY_CODE"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("attributes", "says"),
    [
        ({"1COLOR": "x"}, "is not an attribute name"),
        ({"COLOR-X": "x"}, "is not an attribute name"),
        ({"A" * 41: "x"}, "is not an attribute name"),
        ({"COLOR": {"nested": 1}}, "a value must be a string, a number or a boolean"),
        ({"COLOR": ["x"]}, "a value must be a string, a number or a boolean"),
        ({"COLOR": "x" * 256}, "at most 255 characters"),
        ({f"K{i}": i for i in range(21)}, "At most 20 attributes"),
        ({f"K{i}": "x" * 250 for i in range(20)}, "bytes of attributes"),
        ("COLOR=BLACK", "Must be an object"),
    ],
)
def test_attributes_outside_the_rules_are_a_400_naming_attributes(api, attributes, says):
    with nothing_written(Subscriber, AttributeKey):
        response = api.post(URL, {"phone": "+12025550143", "attributes": attributes})
    assert response.status_code == 400
    assert response.json()["message"].startswith("attributes: ") and says in response.json()["message"]


def test_a_patch_that_would_pass_the_limit_is_refused(api):
    made = create(api, phone="+12025550143", attributes={f"K{i}": i for i in range(20)})
    response = api.patch(f"{URL}/{made['id']}", {"attributes": {"ONE_MORE": 1}})
    assert response.status_code == 400 and response.json()["message"].startswith("attributes: At most 20")
    assert api.get(f"{URL}/{made['id']}").json()["attributes"] == {f"K{i}": i for i in range(20)}


def test_filter_by_attributes_combines_with_and(api, other_api):
    ada = create(api, phone="+12025550001", first="Ada", attributes={"COLOR": "BLACK", "COUNTRY": "DE"})
    bob = create(api, phone="+12025550002", first="Bob", attributes={"COLOR": "BLACK", "COUNTRY": "FR"})
    create(api, phone="+12025550003", first="Cy", attributes={"COLOR": "black", "AGE": 42})
    create(api, phone="+12025550004", first="Di")
    other_api.post(URL, {"phone": "+12025550005", "attributes": {"COLOR": "BLACK"}})

    black = api.get(URL, {"attr.COLOR": "BLACK"})
    assert black.status_code == 200 and [s["id"] for s in black.json()] == [ada["id"], bob["id"]]
    assert black["X-Total-Count"] == "2"
    both = api.get(URL, {"attr.COLOR": "BLACK", "attr.COUNTRY": "FR"})
    assert [s["first"] for s in both.json()] == ["Bob"]
    # A query string is text: "42" finds the number 42.
    assert [s["first"] for s in api.get(URL, {"attr.AGE": "42"}).json()] == ["Cy"]
    assert [s["first"] for s in api.get(URL, {"attr.COLOR": "BLACK", "keyword": "ada"}).json()] == ["Ada"]


def test_a_filter_on_an_unknown_attribute_is_a_400_naming_it(api):
    create(api, phone="+12025550001", attributes={"COLOR": "BLACK"})
    response = api.get(URL, {"attr.SHOE": "42"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("attr.SHOE: Unknown attribute")
    bad = api.get(URL, {"attr.9x": "1"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("attr.9x: ")


def test_csv_columns_that_are_no_field_become_attributes_and_export_as_columns(api, org, run_jobs):  # noqa: F811
    content = (
        "phone,FNAME,COUNTRY,PREFERED_COLOR,Favorite color\n+12025550001,Ada,DE,BLACK,ignored\n+12025550002,Bob,,RED,\n"
    )
    job = job_of(api, run_jobs(upload, api, content))
    assert (job["status"], job["created"]) == ("done", 2), job
    ada = Subscriber.objects.get(phone="+12025550001")
    assert ada.first == "Ada"  # FNAME is an alias of `first`, a field
    assert ada.attributes == {"COUNTRY": "DE", "PREFERED_COLOR": "BLACK"}
    assert Subscriber.objects.get(phone="+12025550002").attributes == {"PREFERED_COLOR": "RED"}

    # An update merges: a new value replaces, an empty cell leaves the current one.
    job = job_of(api, run_jobs(upload, api, "phone,COUNTRY,PREFERED_COLOR\n+12025550001,FR,\n"))
    assert job["updated"] == 1
    ada.refresh_from_db()
    assert ada.attributes == {"COUNTRY": "FR", "PREFERED_COLOR": "BLACK"}

    exported = api.get("/api/v1/subscribers/export")
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert list(rows[0])[-2:] == ["attr.COUNTRY", "attr.PREFERED_COLOR"]
    assert {r["phone"]: (r["attr.COUNTRY"], r["attr.PREFERED_COLOR"]) for r in rows} == {
        "+12025550001": ("FR", "BLACK"), "+12025550002": ("", "RED")
    }  # fmt: skip


def test_an_export_imported_again_restores_the_attributes(api, other_api, run_jobs):  # noqa: F811
    create(api, phone="+12025550001", attributes={"COLOR": "BLACK", "AGE": 42, "VIP": True})
    exported = b"".join(api.get("/api/v1/subscribers/export").streaming_content)
    job = job_of(other_api, run_jobs(upload, other_api, exported))
    assert (job["status"], job["created"]) == ("done", 1), job
    listed = other_api.get(URL).json()
    # Through CSV every value is text.
    assert listed[0]["attributes"] == {"COLOR": "BLACK", "AGE": "42", "VIP": "true"}
    assert [s["phone"] for s in other_api.get(URL, {"attr.AGE": "42"}).json()] == ["+12025550001"]


def test_json_imports_take_an_attributes_object_and_report_bad_ones(api, run_jobs):  # noqa: F811
    body = {
        "subscribers": [
            {"phone": "+12025550001", "attributes": {"COLOR": "BLACK", "AGE": 42, "VIP": False}},
            {"phone": "+12025550002", "attributes": {"bad name": 1}},
            {"phone": "+12025550003", "attributes": {"COLOR": {"x": 1}}},
        ]
    }
    job = job_of(api, run_jobs(api.post, "/api/v1/subscribers/imports", body))
    assert (job["created"], job["skipped"]) == (1, 2), job
    assert [e["line"] for e in job["errors"]] == [2, 3]
    assert all(e["message"].startswith("attributes: ") for e in job["errors"])
    assert Subscriber.objects.get(phone="+12025550001").attributes == {"COLOR": "BLACK", "AGE": 42, "VIP": False}
    assert [s["phone"] for s in api.get(URL, {"attr.VIP": "false"}).json()] == ["+12025550001"]


def test_an_import_row_that_would_pass_the_limit_is_reported(api, run_jobs):  # noqa: F811
    create(api, phone="+12025550001", attributes={f"K{i}": i for i in range(20)})
    job = job_of(api, run_jobs(upload, api, "phone,EXTRA\n+12025550001,1\n"))
    assert (job["updated"], job["skipped"]) == (0, 1), job
    assert job["errors"][0]["message"].startswith("attributes: At most 20")


def test_the_whatsapp_opt_in_imports_and_exports(api, run_jobs):  # noqa: F811
    job = job_of(api, run_jobs(upload, api, "phone,whatsapp,text\n+12025550001,1,1\n+12025550002,0,\n"))
    assert (job["status"], job["created"]) == ("done", 2), job
    assert dict(Subscriber.objects.values_list("phone", "whatsapp")) == {"+12025550001": True, "+12025550002": False}
    job = job_of(api, run_jobs(upload, api, "phone,whatsapp\n+12025550002,yes\n+12025550001,\n"))
    assert job["errors"] == [{"line": 2, "message": "whatsapp: Must be a boolean: true/false or 0/1."}]
    assert Subscriber.objects.get(phone="+12025550001").whatsapp  # an empty cell keeps it
    exported = b"".join(api.get("/api/v1/subscribers/export").streaming_content).decode()
    assert {r["phone"]: r["whatsapp"] for r in csv.DictReader(io.StringIO(exported))} == {
        "+12025550001": "1", "+12025550002": "0"
    }  # fmt: skip
