#!/usr/bin/env python3
"""Mints the refresh-token chain heads bench/refresh.lua walks.

Signs the bench administrator in through the login form, as a browser without JavaScript would
(the CSRF cookie and the form field), then runs the authorization code flow COUNT times with the
trusted confidential client (so no consent page) and exchanges each code, printing one refresh
token per line: COUNT independent families. Standard library only; everything on 127.0.0.1.

Usage: refresh_chains.py BASE_URL CLIENT_ID REDIRECT_URI SCOPE COUNT
Environment: BENCH_BASIC (base64 of client_id:client_secret), BENCH_LOGIN, BENCH_PASSWORD.
"""

import http.client
import json
import os
import re
import sys
import urllib.parse


def main() -> None:
    base, client_id, redirect_uri, scope, count = sys.argv[1:6]
    basic = os.environ["BENCH_BASIC"]
    target = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
    cookies: dict[str, str] = {}

    def call(method, path, form=None, headers=None):
        headers = dict(headers or {})
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(form)
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        for cookie in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
        return r, data

    r, page = call("GET", "/login")
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    if r.status != 200 or not found:
        sys.exit(f"refresh_chains: no login form (HTTP {r.status})")
    r, _ = call(
        "POST",
        "/login/password",
        form={
            "csrf_token": found.group(1).decode(),
            "identifier": os.environ["BENCH_LOGIN"],
            "password": os.environ["BENCH_PASSWORD"],
        },
    )
    if r.status != 303:
        sys.exit(f"refresh_chains: login failed (HTTP {r.status})")

    for i in range(int(count)):
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": f"bench-{i}",
            },
            quote_via=urllib.parse.quote,
        )
        r, page = call("GET", f"/oauth2/authorize?{query}")
        location = r.headers.get("Location", "")
        answer = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        if r.status not in (302, 303) or "code" not in answer:
            sys.exit(f"refresh_chains: no code (HTTP {r.status}, {location or page[:200]!r})")
        r, body = call(
            "POST",
            "/oauth2/token",
            form={
                "grant_type": "authorization_code",
                "code": answer["code"][0],
                "redirect_uri": redirect_uri,
            },
            headers={"Authorization": f"Basic {basic}"},
        )
        token = json.loads(body).get("refresh_token") if r.status == 200 else None
        if not token:
            sys.exit(f"refresh_chains: the code exchange gave no refresh token (HTTP {r.status}, {body[:200]!r})")
        print(token)


if __name__ == "__main__":
    main()
