"""Latency of `GET /api/v1/subscribers?keyword=...&group=...` on an organization of 100,000 subscribers.

    .venv/bin/python bench/subscriber_search.py [--subscribers 100000] [--requests 200] [--duration 10]
        [--connections 2] [--workers 2] [--rebuild] [--explain] [--no-wrk] [--strict]

Against PostgreSQL and Redis, like bench/api_latency.py (whose helpers it uses):
DATABASE_URL (default postgres://postgres@127.0.0.1:5432/connext_bench, created
when missing) and REDIS_URL (default redis://127.0.0.1:6379/15). Three measures:

1. EXPLAIN (ANALYZE, BUFFERS) of each SQL statement of one request: execution
   time and the indexes used (`--explain` prints the plans);
2. in process: `--requests` requests one after the other through Django's WSGI
   handler (every middleware, auth, rate limit, view, serializer), no HTTP: the
   server's own time per request;
3. over HTTP: gunicorn (`--workers` sync workers) driven by wrk for `--duration`
   seconds per keyword, with as many connections as workers by default, so the
   latency is that of one request, not time queued behind others (raise
   `--connections` for throughput under load).

Data, built once with SQL (generate_series, a few seconds) and kept between runs
(`--rebuild` starts over): an organization of `--subscribers` subscribers with
names, emails, addresses and US phones; 10 groups holding from 50 % down to 1 %
of them; about 3 % of phones and 1 % of emails on the blocklist; and a second
organization of `--other` subscribers, so the indexes also hold rows the
organization filter must drop. Names and memberships come from hashes of the row
number: every run sees the same data.

Each keyword (two last-name fragments, a phone fragment in national format, an
email fragment; see KEYWORDS) is requested with `group=1` (half the organization)
and the default page (`limit=25`): the page query with its Exists() blocklist
flags and, for X-Total-Count, a `COUNT(*) OVER ()` of the matches (the keyword is
searched once per request), then the groups prefetch.
Django binds parameters client-side, so every request is planned anew, as with
varied keywords.

Exit status: 0 when every wrk run was clean (only 2xx, no socket errors), 2 when
not, 1 on a setup error; `--strict` also exits 3 when a p99 is at or over 50 ms.
"""

import argparse
import json
import math
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python bench/subscriber_search.py`: the apps live in the repo root
    sys.path.insert(0, str(REPO))

from bench.api_latency import (  # noqa: E402
    Result,
    check_redis,
    configure_environment,
    ensure_database,
    fetch,
    free_port,
    parse_wrk,
    redact,
    run_wrk,
    start_gunicorn,
    stop_gunicorn,
    wait_until_up,
)

ORG_NAME = "Connext search bench org"
OTHER_ORG_NAME = "Connext search bench other org"
ADMIN_EMAIL = "search-bench-admin@bench.invalid"
KEY_NAME = "bench subscriber_search"
BENCH_RATE_LIMIT = 1_000_000_000
TARGET_P99_MS = 50.0

# Share of the organization in each group, by group number.
GROUP_SHARES = {1: 0.50, 2: 0.30, 3: 0.20, 4: 0.10, 5: 0.10, 6: 0.05, 7: 0.05, 8: 0.02, 9: 0.02, 10: 0.01}


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words("""
James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan
Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret
Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George
Deborah Timothy Stephanie Ronald Dorothy Jason Rebecca Edward Sharon Jeffrey Laura Ryan Cynthia Jacob Amy Gary
Kathleen Nicholas Angela Eric Shirley Jonathan Brenda Stephen Emma Larry Anna Justin Pamela Scott Nicole Brandon Ruth
Benjamin Katherine Samuel Samantha Gregory Christine Alexander Debra Patrick Rachel Frank Carolyn Raymond Janet Jack
Maria Dennis Olivia Jerry Heather Tyler Helen Aaron Catherine Jose Diane Adam Julie Nathan Victoria Henry Joyce Zachary
Lauren Douglas Kelly Peter Christina Kyle Ada Noah Grace Ethan Chloe Jeremy Judith Walter Megan Christian Andrea
Keith Cheryl Roger Hannah Terry Jacqueline Austin Martha Sean Madison Gerald Teresa Carl Gloria Harold Sara Dylan
Janice Arthur Ann Lawrence Kathryn Jordan Abigail Jesse Sophia Bryan Frances Billy Jean Bruce Alice Gabriel Judy
Joe Isabella Logan Julia Alan Grace Juan Amber Albert Denise Willie Danielle Elijah Marilyn Wayne Beverly Randy
Charlotte Vincent Theresa Mason Diana Roy Natalie Ralph Brittany Bobby Doris Russell Kayla Bradley Alexis Philip
Lori Eugene Marie""")

LAST_NAMES = _words("""
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis
Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell
Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales
Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross
Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez
Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant
Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald
Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter
Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose
Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner
Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott
Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman Johnston
Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval Lovelace Hopper Turing Babbage""")

STREETS = _words("""
Main Oak Pine Maple Cedar Elm Washington Lake Hill Park Walnut Sunset Lincoln Jackson Church River
Highland Forest Jefferson Madison Spring Ridge Meadow Chestnut Willow Franklin Center Adams Mill Dogwood""")
STREET_KINDS = ["St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way"]
CITIES = [
    ("Springfield", "IL", "627"),
    ("Portland", "OR", "972"),
    ("Austin", "TX", "787"),
    ("Denver", "CO", "802"),
    ("Madison", "WI", "537"),
    ("Columbus", "OH", "432"),
    ("Raleigh", "NC", "276"),
    ("Boise", "ID", "837"),
    ("Albany", "NY", "122"),
    ("Richmond", "VA", "232"),
]
# Real US area codes; the exchange and line come from the row number, unique per area code.
AREA_CODES = "202 212 213 214 215 305 312 404 415 503 512 602 617 702 713 718 720 773 801 804 813 818 907 919 971"
DOMAINS = ["example.com", "example.org", "mail.test", "inbox.test", "post.test"]

# One query per keyword, all with `--group` (default 1: half the organization). Matches in the
# organization / in group 1 of the generated data: ander 1767 / 888 (Anderson, Henderson, Alexander...
# in names and emails: a heavy keyword), lovel 404 / 203, (415) 55 52 / 26, grace.ho 21 / 13.
KEYWORDS = [
    ("last name", "ander"),
    ("last name", "lovel"),
    ("phone", "(415) 55"),  # national format: the digits 41555 match +141555xxxxx
    ("email", "grace.ho"),  # grace.holmes*, grace.howard*, grace.hopper*...
]


def fail(message: str, status: int = 1):
    print(f"subscriber_search: {message}", file=sys.stderr)
    sys.exit(status)


# --- data -----------------------------------------------------------------------

# Deterministic pseudo-random picks: a hash of the row number, never negative.
_SUBSCRIBERS_SQL = """
WITH rows AS (
    SELECT i,
           hashint8(i::bigint) & 2147483647 AS h1,
           hashint8(i::bigint + 7777777) & 2147483647 AS h2,
           hashint8(i::bigint + 15555555) & 2147483647 AS h3
    FROM generate_series(1, %(count)s) AS i
), named AS (
    SELECT i, h1, h2, h3,
           (%(firsts)s::text[])[1 + h1 %% cardinality(%(firsts)s::text[])] AS first,
           (%(lasts)s::text[])[1 + h2 %% cardinality(%(lasts)s::text[])] AS last,
           1 + h3 %% cardinality(%(cities)s::text[]) AS city_index
    FROM rows
)
INSERT INTO subscribers_subscriber
    (organization_id, first, last, phone, email, address, city, state, zip, enabled, text, created_at, updated_at)
SELECT %(org)s,
       first,
       last,
       CASE WHEN i %% 10 = 0 THEN '' ELSE
           '+1' || (%(areas)s::text[])[1 + i %% cardinality(%(areas)s::text[])]
                || (2000000 + (i::bigint * 7919) %% 8000000)::text END,
       CASE WHEN i %% 7 = 0 AND i %% 10 <> 0 THEN '' ELSE
           lower(first) || '.' || lower(last) || i::text || '@'
                || (%(domains)s::text[])[1 + h3 %% cardinality(%(domains)s::text[])] END,
       (1 + h1 %% 9899)::text || ' ' || (%(streets)s::text[])[1 + h2 %% cardinality(%(streets)s::text[])] || ' '
           || (%(kinds)s::text[])[1 + h3 %% cardinality(%(kinds)s::text[])],
       (%(cities)s::text[])[city_index],
       (%(states)s::text[])[city_index],
       (%(zips)s::text[])[city_index] || lpad((h2 %% 100)::text, 2, '0'),
       i %% 50 <> 0,
       i %% 3 = 0,
       now(), now()
FROM named
"""

# Subscriber s (the n-th of the organization) is in group g when a hash of (n, g) falls under the group's share.
_MEMBERSHIPS_SQL = """
INSERT INTO subscribers_subscriber_groups (subscriber_id, group_id)
SELECT s.id, g.id
FROM subscribers_subscriber s
JOIN groups_group g ON g.organization_id = s.organization_id
CROSS JOIN (SELECT min(id) AS first_id FROM subscribers_subscriber WHERE organization_id = %(org)s) AS base
WHERE s.organization_id = %(org)s
  AND (hashint8((s.id - base.first_id) * 100 + g.number) & 1048575) < (%(shares)s::float8[])[g.number] * 1048576
"""

_BLOCKLIST_SQL = """
WITH numbered AS (
    SELECT s.organization_id, s.phone, s.email, s.id - min(s.id) OVER () AS n
    FROM subscribers_subscriber s WHERE s.organization_id = %(org)s
)
INSERT INTO subscribers_blocklistentry (organization_id, recipient, type, reason, created_at)
SELECT organization_id, phone, 'phone', CASE WHEN n %% 2 = 0 THEN 'stop' ELSE 'manual' END, now()
FROM numbered WHERE phone <> '' AND n %% 31 = 0
UNION ALL
SELECT organization_id, email, 'email', 'bounce', now()
FROM numbered WHERE email <> '' AND n %% 97 = 0
"""


@dataclass
class Fixture:
    api_key: str
    org_id: int


def _organization(name: str):
    from connext.models import Organization
    from connext.services import organization_create

    org = Organization.objects.filter(name=name).order_by("pk").first()
    if org is None:
        org = organization_create(name=name)
    if org.rate_limit != BENCH_RATE_LIMIT:
        org.rate_limit = BENCH_RATE_LIMIT
        org.save(update_fields=["rate_limit"])
    return org


def _fill(org, count: int, *, seed: int) -> None:
    """Replace the organization's subscribers, groups, memberships and blocklist with `count` generated rows."""
    from django.db import connection, transaction

    from groups.models import Group
    from subscribers.models import BlocklistEntry, Subscriber

    with transaction.atomic():
        BlocklistEntry.objects.filter(organization=org).delete()
        Subscriber.groups.through.objects.filter(subscriber__organization=org).delete()
        Subscriber.objects.filter(organization=org).delete()
        Group.objects.filter(organization=org).delete()
        Group.objects.bulk_create(
            Group(organization=org, name=f"Bench group {n} ({share:.0%})", number=n)
            for n, share in GROUP_SHARES.items()
        )
        shares = [GROUP_SHARES[n] for n in range(1, max(GROUP_SHARES) + 1)]
        with connection.cursor() as cursor:
            cursor.execute(
                _SUBSCRIBERS_SQL,
                {
                    "org": org.pk,
                    "count": count,
                    "firsts": FIRST_NAMES,
                    # The seed rotates the name lists: the second organization gets other combinations.
                    "lasts": LAST_NAMES[seed:] + LAST_NAMES[:seed],
                    "areas": AREA_CODES.split(),
                    "domains": DOMAINS,
                    "streets": STREETS,
                    "kinds": STREET_KINDS,
                    "cities": [c for c, _, _ in CITIES],
                    "states": [s for _, s, _ in CITIES],
                    "zips": [z for _, _, z in CITIES],
                },
            )
            # Fresh statistics first: planned with "the organization has no subscribers yet" the
            # memberships INSERT becomes a nested loop that runs for tens of minutes.
            cursor.execute("ANALYZE subscribers_subscriber")
            cursor.execute(_MEMBERSHIPS_SQL, {"org": org.pk, "shares": shares})
            cursor.execute(_BLOCKLIST_SQL, {"org": org.pk})


def prepare_data(count: int, other: int, rebuild: bool) -> Fixture:
    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connection, connections

    from apikeys.models import APIKey
    from apikeys.services import api_key_create
    from connext import roles
    from connext.models import User
    from connext.services import user_create
    from subscribers.models import Subscriber

    call_command("migrate", interactive=False, verbosity=0)
    org = _organization(ORG_NAME)
    other_org = _organization(OTHER_ORG_NAME)
    built = False
    for target, rows, seed in ((org, count, 0), (other_org, other, 17)):
        if rebuild or Subscriber.objects.filter(organization=target).count() != rows:
            started = time.perf_counter()
            _fill(target, rows, seed=seed)
            print(f"built {rows} subscribers for {target.name!r} in {time.perf_counter() - started:.1f} s")
            built = True
    if built:
        with connection.cursor() as cursor:
            for table in ("subscribers_subscriber", "subscribers_subscriber_groups", "subscribers_blocklistentry"):
                cursor.execute(f"VACUUM ANALYZE {table}")

    user = User.objects.filter(email=ADMIN_EMAIL).first()
    if user is None:
        user = user_create(organization=org, email=ADMIN_EMAIL, role=roles.ORG_ADMIN)
    # The plaintext of a key is never stored: replace the previous bench key.
    APIKey.objects.filter(user=user, name=KEY_NAME).delete()
    _, plaintext = api_key_create(user=user, name=KEY_NAME)
    connections.close_all()  # gunicorn forks later: no connection shared across processes
    return Fixture(api_key=plaintext, org_id=org.pk)


# --- plans ----------------------------------------------------------------------


@dataclass
class Plan:
    statement: str
    execution_ms: float
    indexes: list[str]
    text: str


def explain(org_id: int, keyword: str, group: int) -> list[Plan]:
    """EXPLAIN ANALYZE of each statement the list view runs for this keyword: page (with the count), prefetch."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from connext.models import Organization
    from subscribers.selectors import subscriber_search
    from subscribers.views import SearchWithTotal

    org = Organization.objects.get(pk=org_id)
    queryset = subscriber_search(org, keyword=keyword, group=group)
    with CaptureQueriesContext(connection) as captured:
        # As the list view pages a keyword search: the total counted in the page query (COUNT(*) OVER ()).
        searched = SearchWithTotal(queryset)
        page = searched[:25]
        if len(page) == 25:
            searched.count()
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
            tree = cursor.fetchone()[0]
            tree = json.loads(tree) if isinstance(tree, str) else tree
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            text = "\n".join(row[0] for row in cursor.fetchall())
            plans.append(Plan(_statement_kind(sql), tree[0]["Execution Time"], sorted(_indexes(tree[0]["Plan"])), text))
    connection.close()
    return plans


def _statement_kind(sql: str) -> str:
    if sql.startswith("SELECT COUNT("):
        return "count"
    if "OVER ()" in sql:
        return "page+count"
    if "_prefetch_related_val_" in sql:
        return "prefetch"
    return "page"


def _indexes(node: dict) -> set[str]:
    found = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", []):
        found |= _indexes(child)
    return found


# --- in process -----------------------------------------------------------------


@dataclass
class Timing:
    requests: int
    mean_ms: float
    p50_ms: float
    p99_ms: float


def time_in_process(api_key: str, keyword: str, group: int, requests: int) -> Timing:
    """Wall time of `requests` requests one after the other through Django's WSGI handler, as gunicorn calls it
    (middleware, auth, rate limit, view, serializer, request_finished): the server's time, no HTTP, no queueing."""
    from bench.profile_groups import time_requests

    query = urlencode({"keyword": keyword, "group": group})
    times = time_requests("/api/v1/subscribers", query, {"Authorization": f"Bearer {api_key}"}, requests, fail)
    return Timing(
        requests=requests,
        mean_ms=statistics.fmean(times),
        p50_ms=times[len(times) // 2],
        p99_ms=times[min(len(times) - 1, math.ceil(len(times) * 0.99) - 1)],
    )


# --- run ------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000, help="subscribers in the bench org (100000)")
    parser.add_argument("--other", type=int, default=20_000, help="subscribers in a second org (20000)")
    parser.add_argument("--group", type=int, default=1, help="group number of the requests (1: half the org)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per keyword (default 2)")
    parser.add_argument("--connections", type=int, default=2, help="wrk connections (default 2)")
    parser.add_argument("--threads-wrk", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (default sync)")
    parser.add_argument("--threads", type=int, default=0, help="gunicorn --threads (gthread); 0 = not passed")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the data set")
    parser.add_argument("--explain", action="store_true", help="print every EXPLAIN (ANALYZE, BUFFERS) plan")
    parser.add_argument(
        "--requests", type=int, default=200, help="in-process requests per keyword, one at a time (200; 0: skip)"
    )
    parser.add_argument("--no-wrk", action="store_true", help="skip the gunicorn + wrk runs")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a p99 is at or over the target")
    args = parser.parse_args()
    if args.connections < args.threads_wrk:
        fail("--connections must be at least --threads-wrk")
    wrk = shutil.which("wrk")
    if wrk is None and not args.no_wrk:
        fail("wrk is not installed. On Debian/Ubuntu: `apt-get update && apt-get install -y wrk`.")

    database_url, redis_url = configure_environment()
    print(f"DATABASE_URL={redact(database_url)}  REDIS_URL={redact(redis_url)}")
    check_redis(redis_url)
    ensure_database(database_url)
    fixture = prepare_data(args.subscribers, args.other, args.rebuild)

    print(f"\nSQL per request (EXPLAIN ANALYZE, group={args.group}, limit=25):")
    for label, keyword in KEYWORDS:
        for plan in explain(fixture.org_id, keyword, args.group):
            print(f"  {label:<9} {keyword!r:<15} {plan.statement:<10} {plan.execution_ms:7.2f} ms  "
                  f"indexes: {', '.join(plan.indexes) or '(none: sequential scan)'}")  # fmt: skip
            if args.explain:
                print("    " + plan.text.replace("\n", "\n    "))

    timings = {}
    if args.requests > 0:
        print(f"\nin process, {args.requests} requests one at a time per keyword")
        for _, keyword in KEYWORDS:
            timings[keyword] = time_in_process(fixture.api_key, keyword, args.group, args.requests)
        from django.db import connections

        connections.close_all()
        report_in_process(timings, args)
    if args.no_wrk:
        return 0 if not args.strict or all(t.p99_ms < TARGET_P99_MS for t in timings.values()) else 3

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {fixture.api_key}"}
    urls = {
        keyword: f"{base}/api/v1/subscribers?{urlencode({'keyword': keyword, 'group': args.group})}"
        for _, keyword in KEYWORDS
    }
    proc = start_gunicorn(port, args)
    results: list[tuple[str, str, str, Result]] = []
    try:
        wait_until_up(proc, f"{base}/api/v1/subscribers?limit=1", auth)
        print(f"\ngunicorn pid {proc.pid} on {base}")
        for label, keyword in KEYWORDS:
            status, headers, body = fetch(urls[keyword], auth)
            if status != 200:
                fail(f"GET {urls[keyword]} answered {status}: {body[:300]!r}")
            total = headers.get("X-Total-Count", "?")
            run_wrk(wrk, urls[keyword], auth, args.warmup, args)
            print(f"measuring {label} {keyword!r} ({total} matches) for {args.duration:g} s")
            output = run_wrk(wrk, urls[keyword], auth, args.duration, args)
            results.append((label, keyword, total, parse_wrk(label, output)))
            if proc.poll() is not None:
                fail(f"gunicorn exited with status {proc.returncode} during the run")
    finally:
        stop_gunicorn(proc)
    return report(results, args)


def report_in_process(timings: dict[str, Timing], args) -> None:
    header = f"{'keyword':<26} {'req/s':>8} {'mean ms':>8} {'p50 ms':>8} {'p99 ms':>8}"
    print(header)
    print("-" * len(header))
    for label, keyword in KEYWORDS:
        t = timings[keyword]
        name = f"{label} {keyword!r}"
        print(f"{name:<26} {1000 / t.mean_ms:>8.1f} {t.mean_ms:>8.2f} {t.p50_ms:>8.2f} {t.p99_ms:>8.2f}")
    worst = max(t.p99_ms for t in timings.values())
    print(f"worst p99 in process: {worst:.2f} ms  (target < {TARGET_P99_MS:.0f} ms: "
          f"{'met' if worst < TARGET_P99_MS else 'NOT met'})")  # fmt: skip


def report(results, args) -> int:
    print()
    print(f"wrk -t{args.threads_wrk} -c{args.connections} -d{args.duration:g}s; gunicorn {args.workers} "
          f"{args.worker_class} worker(s); {args.subscribers} subscribers, group={args.group}")  # fmt: skip
    header = f"{'keyword':<26} {'matches':>8} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
    print(header)
    print("-" * len(header))
    for label, keyword, total, r in results:
        name = f"{label} {keyword!r}"
        print(f"{name:<26} {total:>8} {r.rps:>8.1f} {r.p50_ms:>8.2f} {r.p90_ms:>8.2f} {r.p99_ms:>8.2f} "
              f"{r.non_2xx + r.socket_errors:>8}")  # fmt: skip
    met = all(r.p99_ms < TARGET_P99_MS for *_, r in results)
    worst = max(r.p99_ms for *_, r in results)
    print(f"\nworst p99: {worst:.2f} ms  (target < {TARGET_P99_MS:.0f} ms: {'met' if met else 'NOT met'})")
    if not all(r.non_2xx == 0 and r.socket_errors == 0 for *_, r in results):
        print("INVALID RUN: non-2xx responses or socket errors; the figures do not measure success.")
        return 2
    return 3 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
