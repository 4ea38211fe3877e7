"""GET /subscribers filters: keyword (name, phone in any format, email, address), group, sort, order."""

import pytest

from tests.factories import GroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(api, org):
    GroupFactory(organization=org, number=1)
    GroupFactory(organization=org, number=2)
    rows = [
        {
            "first": "Ada",
            "last": "Lovelace",
            "phone": "2025550143",
            "email": "ada@example.com",
            "address": "12 Analytical Way",
            "groups": [1],
        },
        {
            "first": "Alan",
            "last": "Turing",
            "phone": "2025550177",
            "email": "alan@bletchley.org",
            "address": "Hut 8",
            "groups": [1, 2],
        },
        {"first": "Grace", "last": "Hopper", "email": "grace@navy.mil", "address": "Arlington", "groups": [2]},
    ]
    return [api.post("/api/v1/subscribers", row).json() for row in rows]


def names(response):
    assert response.status_code == 200, response.json()
    return [row["first"] for row in response.json()]


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("lovelace", ["Ada"]),
        ("ALAN", ["Alan"]),
        ("Ada Lovelace", ["Ada"]),
        ("bletchley", ["Alan"]),
        ("hut 8", ["Alan"]),
        ("(202) 555-0177", ["Alan"]),
        ("202.555", ["Ada", "Alan"]),
        ("+12025550143", ["Ada"]),
        ("5550143", ["Ada"]),
        ("nobody", []),
    ],
)
def test_keyword(api, people, keyword, expected):
    assert names(api.get("/api/v1/subscribers", {"keyword": keyword})) == expected


def test_group_filter_by_number(api, people):
    assert names(api.get("/api/v1/subscribers", {"group": 1})) == ["Ada", "Alan"]
    assert names(api.get("/api/v1/subscribers", {"group": 2})) == ["Alan", "Grace"]
    assert names(api.get("/api/v1/subscribers", {"group": 9})) == []
    assert names(api.get("/api/v1/subscribers", {"group": 2, "keyword": "grace"})) == ["Grace"]


def test_sort_and_order(api, people):
    assert names(api.get("/api/v1/subscribers", {"sort": "last"})) == ["Grace", "Ada", "Alan"]
    assert names(api.get("/api/v1/subscribers", {"sort": "last", "order": "desc"})) == ["Alan", "Ada", "Grace"]
    assert names(api.get("/api/v1/subscribers", {"sort": "email"})) == ["Ada", "Alan", "Grace"]
    # recipient: the phone, else the email; phones (+1...) sort before emails.
    assert names(api.get("/api/v1/subscribers", {"sort": "recipient"})) == ["Ada", "Alan", "Grace"]
    assert names(api.get("/api/v1/subscribers", {"sort": "phone", "order": "desc"}))[:2] == ["Alan", "Ada"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"sort": "age"}, "sort"), ({"order": "up"}, "order"), ({"group": "one"}, "group"), ({"limit": 0}, "limit")],
)
def test_bad_filters_are_400_naming_the_parameter(api, people, params, field):
    response = api.get("/api/v1/subscribers", params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}:")


def test_pagination_and_total(api, people):
    response = api.get("/api/v1/subscribers", {"limit": 2, "offset": 1})
    assert names(response) == ["Alan", "Grace"]
    assert response["X-Total-Count"] == "3"


def test_other_organizations_are_never_listed(api, other_api, people):
    other_api.post("/api/v1/subscribers", {"first": "Eve", "phone": "2025550199"})
    assert "Eve" not in names(api.get("/api/v1/subscribers", {"keyword": "202"}))
    assert names(other_api.get("/api/v1/subscribers")) == ["Eve"]


def test_nul_in_keyword_is_400(api, people):
    response = api.get("/api/v1/subscribers", {"keyword": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("keyword:")


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        # The trigram index holds the five columns joined: a keyword spanning two columns is not a match.
        ("lovelace +1202", []),
        ("lovelace 202", []),
        ("ada@example.com 12", []),
        # First-name part + last-name part, either one too short for a trigram.
        ("Ad Lovelace", ["Ada"]),
        ("Alan Tu", ["Alan"]),
        ("al ur", ["Alan"]),
        ("Ada Turing", []),
        # LIKE wildcards in a keyword are plain characters.
        ("ada%", []),
        ("a_a", []),
        ("550_43", []),
        ("analytical way", ["Ada"]),
        ("NAVY.MIL", ["Grace"]),
    ],
)
def test_keyword_is_matched_column_by_column(api, people, keyword, expected):
    assert names(api.get("/api/v1/subscribers", {"keyword": keyword})) == expected


@pytest.mark.parametrize("keyword", ["202", "a", "ada lovelace", "5550143"])
def test_keyword_total_count_with_offset_and_limit(api, people, keyword):
    everything = names(api.get("/api/v1/subscribers", {"keyword": keyword, "limit": 1000}))
    for offset in range(len(everything) + 2):
        response = api.get("/api/v1/subscribers", {"keyword": keyword, "limit": 1, "offset": offset})
        assert names(response) == everything[offset : offset + 1]
        assert response["X-Total-Count"] == str(len(everything))


def test_keyword_total_count_full_pages(api, org):
    for n in range(7):
        api.post("/api/v1/subscribers", {"first": f"Sam{n}", "last": "Sampleton", "phone": f"202555{n:04d}"})
    api.post("/api/v1/subscribers", {"first": "Other", "phone": "2025559999"})
    response = api.get("/api/v1/subscribers", {"keyword": "sampleton", "limit": 3, "offset": 3})
    assert names(response) == ["Sam3", "Sam4", "Sam5"]
    assert response["X-Total-Count"] == "7"
    response = api.get("/api/v1/subscribers", {"keyword": "sampleton", "limit": 3, "sort": "first", "order": "desc"})
    assert names(response) == ["Sam6", "Sam5", "Sam4"]
    assert response["X-Total-Count"] == "7"


def test_keyword_search_uses_the_trigram_index(org):
    """On PostgreSQL the keyword filter must spell the indexed expression of migration 0003 exactly."""
    from django.db import connection

    from subscribers.models import Subscriber
    from subscribers.selectors import SearchText, subscriber_search

    if connection.vendor != "postgresql":
        pytest.skip("the trigram index exists on PostgreSQL only")
    near = Subscriber.objects.alias(search=SearchText()).filter(search__icontains="lovelace").values("id")
    sql, params = near.query.sql_with_params()
    with connection.cursor() as cursor:
        # Tiny tables: forbid the scans that need no index (a GIN index is only ever a bitmap scan).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on subscriber_search_trgm" in plan, plan
    # subscriber_search narrows with that same expression (in its subquery, where the table is aliased).
    condition = sql.split(" WHERE ", 1)[1].replace('"subscribers_subscriber".', "U0.")
    for keyword in ("lovelace", "Ada Lovelace", "(202) 555-0143"):
        searched = str(subscriber_search(org, keyword=keyword).query)
        assert condition.split(" LIKE ")[0] in searched
