"""Fixes 12, 21 and 23 (moto_compat.core): moto's server for every service: kept-alive connections and request ids."""

from __future__ import annotations

import time

from moto_compat import core as compat

from conftest import scaled


def test_connections_are_kept_alive_and_unread_bodies_do_not_break_the_next_request(cfn) -> None:
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(cfn.meta.endpoint_url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    body = "Action=ListStacks&Version=2010-05-15"
    signed = "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/cloudformation/aws4_request, SignedHeaders=host, Signature=x"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": signed}
    for _request in range(3):  # one connection, three requests
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        assert response.status == 200 and b"ListStacksResponse" in response.read()
        assert (response.getheader("Connection") or "").lower() != "close"
    sock = conn.sock
    took = []
    for _request in range(9):  # responses leave at once: Nagle's algorithm would hold each body ~40 ms for the client's ACK
        started = time.monotonic()
        conn.request("POST", "/", body=body, headers=headers)
        conn.getresponse().read()
        took.append(time.monotonic() - started)
    assert sorted(took)[4] < scaled(0.03), took
    conn.request("GET", "/moto-api/data.json", body="x" * 5000)  # a body the handler never reads (it answers 500)
    response = conn.getresponse()
    response.read()
    conn.request("POST", "/", body=body, headers=headers)
    response = conn.getresponse()
    assert response.status == 200 and b"ListStacksResponse" in response.read()
    assert conn.sock is sock  # still the first connection
    conn.request("POST", "/", body=body, headers={**headers, "Connection": "close"})  # a client that asks to close
    response = conn.getresponse()
    assert response.status == 200 and (response.getheader("Connection") or "").lower() == "close"
    response.read()
    conn.close()


def test_responses_keep_their_request_ids_without_the_body_search() -> None:
    headers, body = compat.enrich_response({"status": 200}, '{"Records": []}')
    assert headers["status"] == "200" and len(headers["x-amzn-requestid"]) == 52 and body == '{"Records": []}'
    headers, body = compat.enrich_response({}, "<R><RequestId>old</RequestId></R>")
    assert body == f"<R><RequestId>{headers['x-amzn-requestid']}</RequestId></R>"
    assert compat.enrich_response({}, b"<RequestId>x</RequestId>")[1] == b"<RequestId>x</RequestId>"  # as moto: bytes untouched
