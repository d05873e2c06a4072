"""POST /webhooks/shopify, /healthz and /readyz against docs/SPEC-inbox.md ("HTTP").

The servers here run with `workers = 0` (ingest only), so every stored job stays `queued` and can be inspected.
"""

import hashlib
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from conftest import sqlite_only
from conftest import (ID_RE, PREVIOUS_SECRET, SECRET, SHOP, fixture_bytes, fixture_json, http_request, order_body,
                      parse_iso, sign, wait_until)

ORDER_ID = 6150327861270
ORDER_KEY = f"shopify:{SHOP}:order:{ORDER_ID}"


@pytest.fixture
def server(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.start()
    return hub


def by_correlation(hub, corr):
    return [j for j in hub.jobs() if j.get("correlation_id") == corr]


def assert_no_jobs(hub):
    jobs = hub.jobs()
    assert jobs == [], f"expected no job, found {json.dumps(jobs)[:2000]}"


def assert_error_body(doc):
    assert isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"], \
        f"error answers carry {{\"error\": MSG}}, got {doc!r}"


# ---------------------------------------------------------------------------------------------------------------
# Probes


def test_healthz_and_readyz(server):
    status, doc, _ = server.get("/healthz")
    assert (status, doc) == (200, {"status": "ok"})
    status, doc, _ = server.get("/readyz")
    assert status == 200
    assert isinstance(doc, dict) and doc.get("ready") is True, doc


def test_unknown_path_is_404_and_wrong_method_is_405(server):
    assert http_request(server.port, "GET", "/nope")[0] == 404
    assert http_request(server.port, "GET", "/webhooks/shopify")[0] == 405
    assert http_request(server.port, "POST", "/healthz", b"{}", {"Content-Type": "application/json"})[0] == 405


# ---------------------------------------------------------------------------------------------------------------
# Storing and deduplicating


def test_orders_create_is_stored_as_one_shopify_order_job(server):
    body = fixture_bytes("orders_create.json")
    status, doc = server.post_webhook(body, topic="orders/create", event_id="evt-1001", webhook_id="wh-1001")
    assert status == 200, doc
    assert doc.get("status") == "stored", doc
    job_id = doc.get("job")
    assert isinstance(job_id, str) and ID_RE.match(job_id), f"job id must be 32 hex digits: {doc!r}"

    jobs = server.jobs()
    assert len(jobs) == 1, jobs
    job = jobs[0]
    assert job["id"] == job_id
    assert job["kind"] == "shopify.order"
    assert job["ordering_key"] == ORDER_KEY
    assert job["state"] == "queued"
    assert job["source"] == "shopify"
    assert job["correlation_id"] == "evt-1001"
    assert job["last_error"] is None
    # Event time = payload updated_at (2026-11-21T14:03:13-05:00), reported in UTC.
    assert parse_iso(job["event_time"]) == parse_iso(fixture_json("orders_create.json")["updated_at"])
    assert job["event_time"].endswith("Z") or job["event_time"].endswith("+00:00"), job["event_time"]

    shown = server.show(job_id)
    payload = shown["payload"]
    if isinstance(payload, str):
        payload = json.loads(payload)
    assert payload == json.loads(body), "the stored payload must be the delivered body"
    meta = json.dumps(shown["meta"])
    assert "wh-1001" in meta and "orders/create" in meta, f"delivery headers are kept in meta: {meta[:1000]}"


def test_order_job_id_is_the_hash_of_the_idempotency_key(server):
    """Job id = first 32 hex of SHA-256("shopify|<shop>|<topic>|<resource>|e:<event id>"); for orders/* the
    resource is the order id."""
    status, doc = server.post_webhook(fixture_bytes("orders_create.json"), topic="orders/create",
                                      event_id="evt-idem")
    assert status == 200, doc
    key = f"shopify|{SHOP}|orders/create|{ORDER_ID}|e:evt-idem"
    assert doc["job"] == hashlib.sha256(key.encode()).hexdigest()[:32], (key, doc)


def test_redelivery_is_a_duplicate_of_the_same_job(server):
    body = fixture_bytes("orders_create.json")
    s1, d1 = server.post_webhook(body, event_id="evt-2001", webhook_id="wh-2001")
    s2, d2 = server.post_webhook(body, event_id="evt-2001", webhook_id="wh-2001")
    assert (s1, d1.get("status")) == (200, "stored"), d1
    assert (s2, d2.get("status")) == (200, "duplicate"), d2
    assert d2["job"] == d1["job"]
    assert len(server.jobs()) == 1


def test_second_subscription_same_event_is_a_duplicate(server):
    body = fixture_bytes("orders_create.json")
    s1, d1 = server.post_webhook(body, event_id="evt-3001", webhook_id="wh-sub-a")
    s2, d2 = server.post_webhook(body, event_id="evt-3001", webhook_id="wh-sub-b")
    assert (s1, d1.get("status")) == (200, "stored"), d1
    assert (s2, d2.get("status")) == (200, "duplicate"), d2
    assert d2["job"] == d1["job"]
    assert len(server.jobs()) == 1


def test_distinct_events_of_one_order_are_distinct_jobs_sharing_the_ordering_key(server):
    s1, d1 = server.post_webhook(fixture_bytes("orders_create.json"), topic="orders/create", event_id="evt-4001")
    s2, d2 = server.post_webhook(fixture_bytes("orders_updated.json"), topic="orders/updated", event_id="evt-4002")
    assert (s1, d1["status"], s2, d2["status"]) == (200, "stored", 200, "stored"), (d1, d2)
    assert d1["job"] != d2["job"]
    jobs = server.jobs()
    assert sorted(j["correlation_id"] for j in jobs) == ["evt-4001", "evt-4002"]
    assert {j["ordering_key"] for j in jobs} == {ORDER_KEY}


def test_event_id_takes_precedence_over_updated_at(server):
    """Two merchant actions can leave the same updated_at (e.g. second precision): distinct event ids are
    distinct jobs even with identical bodies."""
    body = fixture_bytes("orders_updated.json")
    s1, d1 = server.post_webhook(body, topic="orders/updated", event_id="evt-5001", webhook_id="wh-5001")
    s2, d2 = server.post_webhook(body, topic="orders/updated", event_id="evt-5002", webhook_id="wh-5002")
    assert (s1, d1["status"], s2, d2["status"]) == (200, "stored", 200, "stored"), (d1, d2)
    assert d1["job"] != d2["job"]
    assert len(server.jobs()) == 2


def test_simultaneous_copies_of_one_delivery_store_one_job(server):
    """Shopify sometimes sends the same webhook several times at the same instant."""
    body = order_body(7000000000200)
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda i: server.post_webhook(body, event_id="evt-storm", webhook_id=f"wh-s{i % 3}"),
                                range(48)))
    assert all(s == 200 for s, _ in answers), answers
    assert sorted(d["status"] for _, d in answers).count("stored") == 1, answers
    assert len({d["job"] for _, d in answers}) == 1
    assert len(server.jobs()) == 1


def test_large_shopify_ids_keep_every_digit(server):
    """Shopify ids are 64-bit; above 2^53 a double would round them."""
    big = 9007199254740993  # 2^53 + 1
    s1, d1 = server.post_webhook(json.dumps({"id": big, "updated_at": "2026-11-21T14:03:13-05:00"}).encode(),
                                 topic="orders/updated", event_id="evt-big-id")
    s2, d2 = server.post_webhook(json.dumps({"inventory_item_id": "46912881639446", "location_id": "71263993878",
                                             "available": 1}).encode(),
                                 topic="inventory_levels/update", event_id="evt-string-ids")
    assert (s1, d1.get("status"), s2, d2.get("status")) == (200, "stored", 200, "stored"), (d1, d2)
    keys = {j["correlation_id"]: j["ordering_key"] for j in server.jobs()}
    assert keys["evt-big-id"] == f"shopify:{SHOP}:order:{big}"
    assert keys["evt-string-ids"] == f"shopify:{SHOP}:inventory:46912881639446:71263993878"


def test_without_event_id_the_version_is_updated_at(server):
    """No X-Shopify-Event-Id: version u:<updated_at>. Same updated_at -> duplicate even with another webhook id;
    a newer updated_at -> a new job."""
    body = order_body(7000000000001, updated_at="2026-11-21T14:03:13-05:00")
    s1, d1 = server.post_webhook(body, webhook_id="wh-u-1")
    s2, d2 = server.post_webhook(body, webhook_id="wh-u-2")
    newer = order_body(7000000000001, updated_at="2026-11-21T14:09:00-05:00")
    s3, d3 = server.post_webhook(newer, topic="orders/create", webhook_id="wh-u-3")
    assert (s1, d1["status"]) == (200, "stored"), d1
    assert (s2, d2["status"], d2["job"]) == (200, "duplicate", d1["job"]), d2
    assert (s3, d3["status"]) == (200, "stored"), d3
    assert d3["job"] != d1["job"]
    assert len(server.jobs()) == 2


def test_without_event_id_or_updated_at_the_version_is_the_webhook_id(server):
    doc = {"id": 7000000000002, "name": "#2002"}
    body = json.dumps(doc).encode()
    s1, d1 = server.post_webhook(body, webhook_id="wh-w-1", triggered_at="2026-11-21T19:00:00.000Z")
    s2, d2 = server.post_webhook(body, webhook_id="wh-w-1", triggered_at="2026-11-21T19:00:00.000Z")
    s3, d3 = server.post_webhook(body, webhook_id="wh-w-2", triggered_at="2026-11-21T19:00:00.000Z")
    assert (s1, d1["status"]) == (200, "stored"), d1
    assert (s2, d2["status"], d2["job"]) == (200, "duplicate", d1["job"]), d2
    assert (s3, d3["status"]) == (200, "stored"), d3
    jobs = {j["id"]: j for j in server.jobs()}
    assert len(jobs) == 2
    # correlation_id = event id, else webhook id.
    assert jobs[d1["job"]]["correlation_id"] == "wh-w-1"
    assert jobs[d3["job"]]["correlation_id"] == "wh-w-2"
    # Event time: no updated_at -> X-Shopify-Triggered-At.
    assert parse_iso(jobs[d1["job"]]["event_time"]) == parse_iso("2026-11-21T19:00:00Z")


def test_event_time_falls_back_to_arrival(server):
    before = datetime.now(timezone.utc)
    status, doc = server.post_webhook(json.dumps({"id": 7000000000003}).encode(), event_id="evt-arrival")
    after = datetime.now(timezone.utc)
    assert (status, doc["status"]) == (200, "stored"), doc
    event_time = parse_iso(server.show(doc["job"])["event_time"])
    # A clock-reading check, not a speed check: the arrival time lies between the two readings (1 s rounding slack).
    assert before - timedelta(seconds=1) <= event_time <= after + timedelta(seconds=1), event_time


@pytest.mark.parametrize("fixture,topic,kind,key", [
    ("inventory_levels_update.json", "inventory_levels/update", "shopify.inventory_level",
     f"shopify:{SHOP}:inventory:46912881639446:71263993878"),
    ("fulfillments_create.json", "fulfillments/create", "shopify.fulfillment", f"shopify:{SHOP}:order:{ORDER_ID}"),
    ("products_update.json", "products/update", "shopify.product", f"shopify:{SHOP}:product:8712290541590"),
    ("orders_cancelled.json", "orders/cancelled", "shopify.order", ORDER_KEY),
    (None, "customers/create", "shopify.customer", f"shopify:{SHOP}:customer:7390219731222"),
    (None, "app/uninstalled", "shopify.other", f"shopify:{SHOP}:app/uninstalled"),
])
def test_topic_decides_kind_and_ordering_key(server, fixture, topic, kind, key):
    body = fixture_bytes(fixture) if fixture else json.dumps({"id": 7390219731222, "email": "m@example.com"}).encode()
    status, doc = server.post_webhook(body, topic=topic, event_id=f"evt-{topic}")
    assert (status, doc.get("status")) == (200, "stored"), doc
    jobs = server.jobs()
    assert len(jobs) == 1, jobs
    assert jobs[0]["kind"] == kind
    assert jobs[0]["ordering_key"] == key


def test_headers_without_x_prefix_are_accepted(server):
    body = fixture_bytes("orders_updated.json")
    status, doc = server.post_webhook(body, topic="orders/updated", event_id="evt-noprefix", prefix="")
    assert (status, doc.get("status")) == (200, "stored"), doc
    jobs = server.jobs()
    assert len(jobs) == 1
    assert jobs[0]["correlation_id"] == "evt-noprefix"   # Shopify-Event-Id was read
    assert jobs[0]["ordering_key"] == ORDER_KEY
    # and a bad signature under the un-prefixed name is still refused
    status, doc = server.post_webhook(body, topic="orders/updated", event_id="evt-noprefix-2", prefix="",
                                      secret="wrong-secret")
    assert status == 401, doc
    assert len(server.jobs()) == 1


def test_header_names_are_case_insensitive(server):
    body = fixture_bytes("orders_create.json")
    headers = {
        "content-type": "application/json",
        "x-shopify-topic": "orders/create",
        "x-shopify-shop-domain": SHOP,
        "x-shopify-webhook-id": "wh-lower",
        "x-shopify-event-id": "evt-lower",
        "x-shopify-hmac-sha256": sign(body, SECRET),
    }
    status, doc, _ = http_request(server.port, "POST", "/webhooks/shopify", body, headers)
    assert (status, doc.get("status")) == (200, "stored"), doc
    assert [j["correlation_id"] for j in server.jobs()] == ["evt-lower"]


# ---------------------------------------------------------------------------------------------------------------
# Refusals: nothing is stored


def test_bad_signature_is_401_and_stores_nothing(server):
    body = fixture_bytes("orders_create.json")
    status, doc = server.post_webhook(body, event_id="evt-bad", secret="not-the-secret")
    assert status == 401
    assert_error_body(doc)
    # signature of another body
    status, doc = server.post_webhook(body, event_id="evt-bad2", signature=sign(body + b" ", SECRET))
    assert status == 401
    # garbage that is not base64
    status, doc = server.post_webhook(body, event_id="evt-bad3", signature="!!!not base64!!!")
    assert status == 401
    assert_no_jobs(server)


def test_missing_signature_is_401(server):
    status, doc = server.post_webhook(fixture_bytes("orders_create.json"), event_id="evt-nosig", secret=None)
    assert status == 401
    assert_error_body(doc)
    assert_no_jobs(server)


def test_previous_secret_is_accepted_during_rotation(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.set(f"shop {SHOP}", webhook_secret=SECRET, webhook_secret_previous=PREVIOUS_SECRET)
    hub.start()
    body = fixture_bytes("orders_create.json")
    s_new, d_new = hub.post_webhook(body, event_id="evt-rot-new", secret=SECRET)
    s_old, d_old = hub.post_webhook(body, event_id="evt-rot-old", secret=PREVIOUS_SECRET)
    s_bad, d_bad = hub.post_webhook(body, event_id="evt-rot-bad", secret="some-third-secret")
    assert (s_new, d_new.get("status")) == (200, "stored"), d_new
    assert (s_old, d_old.get("status")) == (200, "stored"), d_old
    assert s_bad == 401, d_bad
    assert sorted(j["correlation_id"] for j in hub.jobs()) == ["evt-rot-new", "evt-rot-old"]


def test_previous_secret_is_refused_when_not_configured(server):
    status, doc = server.post_webhook(fixture_bytes("orders_create.json"), event_id="evt-old",
                                      secret=PREVIOUS_SECRET)
    assert status == 401, doc
    assert_no_jobs(server)


def test_unknown_shop_is_404(server):
    other = "someone-else.myshopify.com"
    status, doc = server.post_webhook(fixture_bytes("orders_create.json"), shop=other, event_id="evt-other")
    assert status == 404
    assert_error_body(doc)
    assert_no_jobs(server)


def test_missing_shop_domain_is_400(server):
    status, doc = server.post_webhook(fixture_bytes("orders_create.json"), shop=None, event_id="evt-noshop")
    assert status == 400
    assert_error_body(doc)
    assert_no_jobs(server)


@pytest.mark.parametrize("missing", ["Shopify-Topic", "Shopify-Webhook-Id"])
def test_missing_topic_or_webhook_id_is_400(server, missing):
    status, doc = server.post_webhook(fixture_bytes("orders_create.json"), event_id="evt-missing",
                                      omit=(missing,))
    assert status == 400, doc
    assert_error_body(doc)
    assert_no_jobs(server)


@pytest.mark.parametrize("body,topic", [
    (b'{"id": 6150327861270, "name": "#1042"', "orders/create"),          # truncated JSON
    (b"not json at all", "orders/create"),
    (b"[1, 2, 3]", "orders/create"),                                         # JSON, not an object
    (b'"just a string"', "orders/create"),
    (b"", "orders/create"),                                                  # empty body
    (b'{"name": "#1042", "updated_at": "2026-11-21T14:03:13-05:00"}', "orders/create"),   # no id
    (b'{"inventory_item_id": 46912881639446, "available": 3}', "inventory_levels/update"),  # no location_id
    (b'{"id": 5492004487190, "status": "success"}', "fulfillments/create"),   # no order_id
], ids=["truncated", "not-json", "array", "string", "empty", "order-without-id", "inventory-without-location",
        "fulfillment-without-order-id"])
def test_malformed_or_incomplete_body_is_400(server, body, topic):
    status, doc = server.post_webhook(body, topic=topic, event_id="evt-malformed")
    assert status == 400, doc
    assert_error_body(doc)
    assert_no_jobs(server)


@pytest.fixture
def small_body_server(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0, max_body="64KiB")
    hub.start()
    return hub


def padded_order(size):
    """A valid orders/create body of exactly `size` bytes."""
    base = json.loads(fixture_bytes("orders_create.json"))
    base["note"] = ""
    raw = json.dumps(base).encode()
    base["note"] = "x" * (size - len(raw))
    raw = json.dumps(base).encode()
    assert len(raw) == size
    return raw


def test_body_over_max_body_is_413_and_stores_nothing(small_body_server):
    hub = small_body_server
    body = padded_order(100 * 1024)
    status, doc = hub.post_webhook(body, event_id="evt-big")
    assert status == 413, doc
    assert_no_jobs(hub)
    # The server still works afterwards.
    status, doc = hub.post_webhook(fixture_bytes("orders_create.json"), event_id="evt-small")
    assert (status, doc.get("status")) == (200, "stored"), doc


def test_body_over_max_body_without_content_length_is_413(small_body_server):
    """Chunked upload: the limit is enforced while streaming."""
    hub = small_body_server
    status, doc = hub.post_webhook(padded_order(100 * 1024), event_id="evt-big-chunked", chunked=True)
    assert status == 413, doc
    assert_no_jobs(hub)


def test_body_under_max_body_is_accepted(small_body_server):
    hub = small_body_server
    status, doc = hub.post_webhook(padded_order(60 * 1024), event_id="evt-60k")
    assert (status, doc.get("status")) == (200, "stored"), doc
    # chunked and under the limit is fine too
    status, doc = hub.post_webhook(padded_order(60 * 1024), event_id="evt-60k-chunked", chunked=True)
    assert (status, doc.get("status")) == (200, "stored"), doc
    assert len(hub.jobs()) == 2


def test_max_body_boundary(small_body_server):
    """max_body = 64KiB: exactly 65536 bytes is accepted, one byte more is 413."""
    hub = small_body_server
    status, doc = hub.post_webhook(padded_order(65536), event_id="evt-64k")
    assert (status, doc.get("status")) == (200, "stored"), doc
    status, doc = hub.post_webhook(padded_order(65537), event_id="evt-64k-plus-1")
    assert status == 413, doc
    assert [j["correlation_id"] for j in hub.jobs()] == ["evt-64k"]


@pytest.mark.parametrize("case,expected", [
    ("oversize+unknown-shop", 413),      # check 1 before check 2
    ("unknown-shop+bad-signature", 404),  # check 2 before check 3
    ("bad-signature+no-topic", 401),      # check 3 before check 4
])
def test_checks_run_in_the_documented_order(small_body_server, case, expected):
    hub = small_body_server
    body = fixture_bytes("orders_create.json")
    kw = {"event_id": "evt-order-of-checks"}
    if case == "oversize+unknown-shop":
        body, kw["shop"] = padded_order(100 * 1024), "unknown.myshopify.com"
    elif case == "unknown-shop+bad-signature":
        kw["shop"], kw["secret"] = "unknown.myshopify.com", "wrong"
    else:
        kw["secret"], kw["omit"] = "wrong", ("Shopify-Topic",)
    status, doc = hub.post_webhook(body, **kw)
    assert status == expected, doc
    assert_no_jobs(hub)


# ---------------------------------------------------------------------------------------------------------------
# Store unavailable


@sqlite_only
def test_locked_store_makes_readyz_and_webhooks_503_until_released(make_synchub):
    hub = make_synchub()
    hub.set("server", workers=0, ack_timeout="500ms")
    hub.start()
    s0, d0 = hub.post_webhook(fixture_bytes("orders_create.json"), event_id="evt-before-lock")
    assert (s0, d0.get("status")) == (200, "stored"), d0
    assert hub.store.exists()

    body = order_body(7000000000100)
    locker = sqlite3.connect(str(hub.store), timeout=10, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        status, doc, _ = hub.get("/readyz")
        assert status == 503, doc
        assert isinstance(doc, dict) and doc.get("ready") is False, doc
        assert isinstance(doc.get("reason"), str) and doc["reason"], doc

        status, doc = hub.post_webhook(body, event_id="evt-during-lock")
        assert status == 503, f"a delivery that cannot be committed must not be acknowledged: {status} {doc}"
        assert_error_body(doc)
        # the process is alive, only not ready
        assert hub.get("/healthz")[0] == 200
    finally:
        try:
            locker.execute("ROLLBACK")
        finally:
            locker.close()

    wait_until(lambda: hub.get("/readyz")[0] == 200, timeout=20, msg="/readyz back to 200 after the lock")
    present = by_correlation(hub, "evt-during-lock")
    assert len(present) <= 1, present
    # The sender (Shopify) retries the 503'd delivery: it ends up present exactly once.
    status, doc = hub.post_webhook(body, event_id="evt-during-lock")
    assert status == 200, doc
    assert doc["status"] == ("duplicate" if present else "stored"), (present, doc)
    assert len(by_correlation(hub, "evt-during-lock")) == 1
    status, doc = hub.post_webhook(order_body(7000000000101), event_id="evt-after-lock")
    assert (status, doc.get("status")) == (200, "stored"), doc
    assert sorted(j["correlation_id"] for j in hub.jobs()) == ["evt-after-lock", "evt-before-lock",
                                                                 "evt-during-lock"]


@sqlite_only
def test_full_store_answers_503_and_stores_nothing_then_recovers(make_synchub):
    """[store] max_size reached (SQLITE_FULL, as on a full disk): the delivery gets 503 and no job, every earlier
    acknowledged delivery is intact, and after the operator raises the cap the sender's retry is stored once."""
    hub = make_synchub()
    hub.set("server", workers=0)
    hub.set("store", max_size="160KiB")
    hub.start()
    acked, refused = [], None
    for i in range(200):
        status, doc = hub.post_webhook(order_body(7100000000000 + i), event_id=f"evt-full-{i}")
        if status == 503:
            assert_error_body(doc)
            refused = i
            break
        assert (status, doc.get("status")) == (200, "stored"), doc
        acked.append(f"evt-full-{i}")
    assert refused is not None, "the store never filled up: max_size is not enforced"
    assert acked, "the cap refused even the first delivery"
    assert hub.get("/healthz")[0] == 200
    present = {j["correlation_id"] for j in hub.jobs()}
    assert f"evt-full-{refused}" not in present, "a 503'd delivery was stored"
    assert set(acked) <= present, "acknowledged deliveries are missing"
    hub.stop()

    hub.set("store", max_size="64MiB")
    hub.start()
    status, doc = hub.post_webhook(order_body(7100000000000 + refused), event_id=f"evt-full-{refused}")
    assert (status, doc.get("status")) == (200, "stored"), doc
    assert len(by_correlation(hub, f"evt-full-{refused}")) == 1
