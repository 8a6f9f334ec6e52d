"""The local ZeroDB server keeps the tables contract, checked with a bare httpx client."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.servers.zerodb_server import ZeroDBServer

KEY = "contract-key"
TABLES = "/projects/p1/database/tables"
SCHEMA = {"fields": {"id": "string", "n": "number", "tags": "array"}, "indexes": ["id"]}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with (
        ZeroDBServer(KEY) as srv,
        httpx.Client(base_url=srv.url + "/api/v1", headers={"X-API-Key": KEY}) as c,
    ):
        assert c.post(TABLES, json={"table_name": "t", "schema": SCHEMA}).status_code == 201
        yield c


def _rows(n: int) -> list[dict[str, object]]:
    return [{"id": f"r{k}", "n": k, "tags": ["even" if k % 2 == 0 else "odd"]} for k in range(n)]


def test_auth_header_is_required(client: httpx.Client) -> None:
    """No or a wrong X-API-Key gets 401."""
    assert client.get(TABLES + "/t", headers={"X-API-Key": "wrong"}).status_code == 401
    bare = httpx.post(str(client.base_url) + TABLES + "/t/query", json={})
    assert bare.status_code == 401


def test_table_lifecycle(client: httpx.Client) -> None:
    """Create is 201 then 409; get is 200 or 404; delete needs confirm."""
    assert client.post(TABLES, json={"table_name": "t", "schema": SCHEMA}).status_code == 409
    assert client.post(TABLES, json={"table_name": "bad name", "schema": SCHEMA}).status_code == 422
    assert client.get(TABLES + "/t").json()["row_count"] == 0
    assert client.get(TABLES + "/missing").status_code == 404
    assert [t["table_name"] for t in client.get(TABLES).json()["tables"]] == ["t"]
    assert client.request("DELETE", TABLES + "/t", json={}).status_code == 400
    assert client.request("DELETE", TABLES + "/t", json={"confirm": True}).json() == {
        "rows_deleted": 0
    }


def test_insert_limits_and_types(client: httpx.Client) -> None:
    """At most 1000 rows a request; field types follow the schema; missing table is 404."""
    assert client.post(TABLES + "/t/rows", json={"rows": _rows(1001)}).status_code == 422
    assert client.post(TABLES + "/t/rows", json={"rows": []}).status_code == 422
    assert client.post(TABLES + "/t/rows", json={"rows": [{"id": 5}]}).status_code == 422
    assert client.post(TABLES + "/nope/rows", json={"rows": _rows(1)}).status_code == 404
    answer = client.post(TABLES + "/t/rows", json={"rows": _rows(1000), "return_ids": False})
    assert (answer.status_code, answer.json()) == (201, {"inserted_count": 1000})


def test_gzip_body_is_accepted(client: httpx.Client) -> None:
    """A gzip body with Content-Encoding: gzip is inserted like a plain one."""
    body = gzip.compress(json.dumps({"rows": _rows(3)}).encode())
    answer = client.post(
        TABLES + "/t/rows",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert answer.status_code == 201
    assert answer.json()["inserted_count"] == 3


def test_query_filters_sorts_and_pages(client: httpx.Client) -> None:
    """Mongo-style filters, sort, projection, limit/offset and total behave as documented."""
    client.post(TABLES + "/t/rows", json={"rows": _rows(20)})

    def query(**body: object) -> dict[str, object]:
        answer = client.post(TABLES + "/t/query", json=body)
        assert answer.status_code == 200
        return dict(answer.json())

    page = query(
        filter={"n": {"$gte": 5, "$lt": 15}},
        sort={"n": -1},
        limit=3,
        offset=2,
        projection={"id": 1, "_id": 0},
    )
    assert (page["rows"], page["total"]) == ([{"id": "r12"}, {"id": "r11"}, {"id": "r10"}], 10)
    tagged = query(filter={"tags": {"$in": ["odd"]}, "$or": [{"n": 1}, {"n": 19}]}, limit=10)
    assert [r["id"] for r in tagged["rows"]] == ["r1", "r19"]
    assert query(filter={"id": {"$nin": ["r0"]}}, limit=0)["total"] == 19
    assert client.post(TABLES + "/t/query", json={"limit": 1001}).status_code == 422
    assert client.post(TABLES + "/t/query", json={"filter": {"$where": "x"}}).status_code == 400


def test_update_and_delete_rows(client: httpx.Client) -> None:
    """PUT rows applies $set to matches; DELETE rows removes matches."""
    client.post(TABLES + "/t/rows", json={"rows": _rows(4)})
    put = client.put(TABLES + "/t/rows", json={"filter": {"n": 1}, "update": {"$set": {"n": 9}}})
    assert put.json()["modified_count"] == 1
    gone = client.request("DELETE", TABLES + "/t/rows", json={"filter": {"n": {"$gt": 2}}})
    assert gone.json() == {"deleted_count": 2}
    left = client.post(TABLES + "/t/query", json={"sort": {"n": 1}}).json()["rows"]
    assert [r["id"] for r in left] == ["r0", "r2"]
