"""The link service under a real uvicorn on 127.0.0.1, reading a real S3 (SeaweedFS) and
writing SQLite: pointer moves, rotation, hostile short links, counts, SIGTERM under load."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from links_live import free_port, link_settings, live_service

from matinale.bundle import make_pack, manifest_entry, served_pack_members
from matinale.links import LinkState
from matinale.links.counts import Counts, make_engine
from matinale.links.packs import PackError, Packs
from matinale.publish.pointers import promote, rollback
from matinale.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.s3

EDITION = date(2026, 11, 24)
CODE = "abcdefgh"
DESTINATION = "https://ensemble-demain.example.org/agir"
CELL = {"segment": "s01", "theme": "logement", "channel": "x", "angle": "mobiliser"}


def publish_fake_run(client: Any, bucket: str, run: str, *, edition: date = EDITION) -> None:
    """A run with one segment page whose body names the run, then promote it."""
    prefix = f"editions/{edition}/{run}"
    body = f"<p>{run}</p>".encode()
    client.put_object(Bucket=bucket, Key=f"{prefix}/s01/index.html", Body=body)
    manifest = {
        "segments": [{"id": "s01", "page": "s01/index.html"}],
        "files": [{"path": "s01/index.html", "bytes": len(body)}],
    }
    data = json.dumps(manifest).encode()
    client.put_object(Bucket=bucket, Key=f"{prefix}/manifest.json", Body=data)
    promote(client, bucket, edition, run)


def publish_served_run(
    client: Any, bucket: str, run: str, members: dict[str, bytes], *, listed: dict[str, bytes]
) -> None:
    """A run whose s01 pack is served (manifest ``packs: served``): ``members`` are the
    objects written, ``listed`` the bytes the manifest lists for them; then promote it."""
    prefix = f"editions/{EDITION}/{run}"
    files = {"s01/index.html": b"<p>page</p>", **members}
    for path, data in files.items():
        client.put_object(Bucket=bucket, Key=f"{prefix}/{path}", Body=data)
    entries = [
        manifest_entry(path, {**files, **listed}.get(path, data))
        for path, data in sorted(files.items())
    ]
    manifest = {
        "packs": "served",
        "segments": [{"id": "s01", "page": "s01/index.html"}],
        "files": entries,
    }
    client.put_object(Bucket=bucket, Key=f"{prefix}/manifest.json", Body=json.dumps(manifest))
    promote(client, bucket, EDITION, run)


@dataclass
class LinkEnv:
    settings: Settings
    client: Any
    bucket: str
    state: LinkState
    token: str
    db_url: str
    db_path: Path


@pytest.fixture
def link_env(s3_server: Any, s3_buckets: dict[str, str], tmp_path: Path) -> LinkEnv:
    bucket = s3_buckets["bundle"]
    settings = link_settings(bucket)
    client = s3_server.client()
    state = LinkState(client, bucket)
    token = state.ensure_tokens(["s01", "s02"])["s01"]
    state.reserve_stem(EDITION, "run1", stem=CODE[:3])
    state.register_run(EDITION, "run1", {CODE: {**CELL, "destination": DESTINATION}})
    db_path = tmp_path / "var" / "links.db"
    db_path.parent.mkdir()
    return LinkEnv(settings, client, bucket, state, token, f"sqlite:///{db_path}", db_path)


@pytest.fixture
def live(link_env: LinkEnv) -> Iterator[str]:
    """The service under uvicorn in a thread; yields its base URL."""
    with live_service(
        link_env.settings,
        link_env.client,
        port=free_port(),
        db_url=link_env.db_url,
        rate=10_000,
    ) as base:
        yield base


def until(check: Callable[[], bool], seconds: float) -> float:
    """Seconds until ``check()`` holds (fails after ``seconds``)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - start


def location(base: str, token: str) -> str:
    answer = httpx.head(f"{base}/p/{token}")  # HEAD: never counted
    return answer.headers.get("location", "") if answer.status_code == 302 else ""


def totals(env: LinkEnv) -> dict[tuple[str, str], int]:
    engine = make_engine(env.db_url)
    try:
        return {(s, e): n for s, e, n in Counts(engine).totals(EDITION.isoformat())}
    finally:
        engine.dispose()


def test_p_follows_promotion_rollback_and_withdrawal(link_env: LinkEnv, live: str) -> None:
    token = link_env.token
    before = httpx.get(f"{live}/p/{token}")
    assert before.status_code == 404 and "pas encore publiée" in before.text.lower()
    publish_fake_run(link_env.client, link_env.bucket, "run1")
    until(lambda: "/run1/s01/index.html?" in location(live, token), 5)
    page = httpx.get(location(live, token))
    assert page.status_code == 200 and page.text == "<p>run1</p>"  # a real presigned URL
    assert "X-Amz-Expires=600" in location(live, token)
    publish_fake_run(link_env.client, link_env.bucket, "run2")
    promoted = until(lambda: "/run2/" in location(live, token), 5)
    rollback(link_env.client, link_env.bucket, f"{EDITION}/run1", actor="test")
    rolled = until(lambda: "/run1/" in location(live, token), 5)
    link_env.state.withdraw(EDITION, by="test")
    until(lambda: httpx.get(f"{live}/p/{token}").status_code == 410, 8)
    assert "Édition retirée" in httpx.get(f"{live}/p/{token}").text
    print(f"promotion seen after {promoted:.1f} s, rollback after {rolled:.1f} s")


def test_a_served_pack_is_built_from_the_runs_checked_files(link_env: LinkEnv, live: str) -> None:
    """Issue 21 item 5: the bundle stores each card once; /p/<token>/pack.zip gets the
    stored pack's bytes, built by the service; a member that is not the bytes the manifest
    lists gives the French "indisponible" page, never a pack."""
    members = {
        "s01/posts.json": b'{"posts": []}',
        "s01/posts.md": "# Édition".encode(),
        "s01/cards.json": b'{"cards": []}',
        "s01/textes-alternatifs.txt": b"Textes alternatifs",
        "s01/cards/sante-square.jpg": b"\xff\xd8" + os.urandom(300_000),
    }
    publish_served_run(link_env.client, link_env.bucket, "run1", members, listed={})
    token = link_env.token
    until(lambda: bool(location(live, token)), 5)
    answer = httpx.get(f"{live}/p/{token}/pack.zip")
    assert answer.status_code == 200, answer.text[:200]
    assert answer.content == make_pack(members)  # the stored pack's bytes
    assert answer.headers["content-type"] == "application/zip"
    assert 'filename="s01.zip"' in answer.headers["content-disposition"]
    head = httpx.head(f"{live}/p/{token}/pack.zip")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(answer.content)
    assert httpx.get(f"{live}/p/{token}/pack.zip").content == answer.content
    # Another segment's pack, or one the manifest does not serve, is not there.
    other = link_env.state.active(link_env.state.tokens())["s02"]
    assert httpx.get(f"{live}/p/{other}/pack.zip").status_code == 404
    # A member changed after the checks: no pack.
    changed = {**members, "s01/posts.json": b'{"posts": ["changed"]}'}
    publish_served_run(link_env.client, link_env.bucket, "run2", changed, listed=members)
    until(lambda: "/run2/" in location(live, token), 5)
    refused = httpx.get(f"{live}/p/{token}/pack.zip")
    assert refused.status_code == 503 and "indisponible" in refused.text


def test_a_served_pack_is_read_from_s3_once_then_from_its_cache(link_env: LinkEnv) -> None:
    """The 7 a.m. rush reads S3 once per pack; a pack too big for a quarter of the cache is
    built every time instead of pushing the others out; a missing member gives no pack."""
    members = {
        "s01/posts.json": b'{"posts": []}',
        "s01/cards/sante-square.jpg": b"\xff\xd8" + os.urandom(50_000),
    }
    publish_served_run(link_env.client, link_env.bucket, "run1", members, listed={})
    manifest = json.loads(
        link_env.client.get_object(
            Bucket=link_env.bucket, Key=f"editions/{EDITION}/run1/manifest.json"
        )["Body"].read()
    )
    served = served_pack_members(manifest)["s01/pack.zip"]
    prefix = f"editions/{EDITION}/run1"
    packs = Packs(link_env.client, link_env.bucket)
    first = packs.get(prefix, served)
    assert first == packs.get(prefix, served) == make_pack(members) and packs.built == 1
    small = Packs(link_env.client, link_env.bucket, cache_bytes=len(first) * 2)
    small.get(prefix, served), small.get(prefix, served)
    assert small.built == 2
    link_env.client.delete_object(Bucket=link_env.bucket, Key=f"{prefix}/s01/posts.json")
    with pytest.raises(PackError, match="s01/posts.json: not readable"):
        Packs(link_env.client, link_env.bucket).get(prefix, served)
    assert packs.get(prefix, served) == first  # a promoted run's objects never change


def _raw(base: str, target: str) -> tuple[int, str]:
    """One request with the target exactly as given (no client normalisation)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    return int(head[0].split()[1]), {k.lower(): v for k, v in headers.items()}.get("location", "")


@pytest.mark.hostile
def test_rotation_unknown_codes_and_no_open_redirect(link_env: LinkEnv, live: str) -> None:
    publish_fake_run(link_env.client, link_env.bucket, "run1")
    until(lambda: bool(location(live, link_env.token)), 5)
    link_env.state.rotate("s01")
    until(lambda: httpx.get(f"{live}/p/{link_env.token}").status_code == 410, 8)
    assert "Lien remplacé" in httpx.get(f"{live}/p/{link_env.token}").text
    new = link_env.state.active(link_env.state.tokens())["s01"]
    assert "/run1/" in location(live, new)
    unknown = httpx.get(f"{live}/s/zzzzzzzz")
    assert unknown.status_code == 404 and "location" not in unknown.headers
    assert "Lien inconnu" in unknown.text
    assert _raw(live, f"/s/{CODE}") == (302, DESTINATION)
    assert _raw(live, f"/s/{CODE}?next=//evil.example&url=https://evil.example") == (
        302,
        DESTINATION,
    )
    for target in [
        "//evil.example",
        "/s//evil.example",
        "/s/%2F%2Fevil.example",
        "/s/%2f%2fevil.example",
        "/s/https:%2F%2Fevil.example",
        "/s/%5C%5Cevil.example",
        f"/s/{CODE}/%2E%2E/%2F%2Fevil.example",
        f"/s/{CODE}%00",
        "/p/%2F%2Fevil.example",
        "/s/http://evil.example",
    ]:
        status, where = _raw(live, target)
        assert status in {400, 404} and where == "", (target, status, where)


def test_previews_heads_and_beacons_are_counted_apart(link_env: LinkEnv, live: str) -> None:
    publish_fake_run(link_env.client, link_env.bucket, "run1")
    until(lambda: bool(location(live, link_env.token)), 5)
    with httpx.Client(base_url=live) as web:
        for agent in ["Mozilla/5.0", "Mozilla/5.0", "Twitterbot/1.0"]:
            assert web.get(f"/p/{link_env.token}", headers={"user-agent": agent}).status_code == 302
        for agent in ["Mozilla/5.0", "facebookexternalhit/1.1", "TelegramBot (like TwitterBot)"]:
            assert web.get(f"/s/{CODE}", headers={"user-agent": agent}).status_code == 302
        web.head(f"/s/{CODE}")
        beacon = {"edition": EDITION.isoformat(), **CELL}
        for event in ["variant_shown", "copy", "share"]:
            assert web.post("/e", json={**beacon, "event": event}).status_code == 204
        web.post("/e", json={**beacon, "channel": "sms", "event": "copy"})  # not in the table
        web.post("/e", json={**beacon, "edition": "2026-11-23", "event": "copy"})
    until(lambda: totals(link_env).get(("s01", "copy")) == 1, 5)
    assert totals(link_env) == {
        ("s01", "open"): 2,
        ("s01", "preview"): 3,
        ("s01", "click"): 1,
        ("s01", "variant_shown"): 1,
        ("s01", "copy"): 1,
        ("s01", "implausible"): 1,
    }


def _serve(env: LinkEnv, s3: Any, port: int, logs: Path) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AWS_"))}
    environ.update(
        MATINALE_BUNDLE_BUCKET=env.bucket,
        MATINALE_LINKS_BUCKET=env.bucket,
        MATINALE_LINKS_DB_URL=env.db_url,
        MATINALE_VAR=str(env.db_path.parent),
        MATINALE_LINKS_RATE="100000",
        MATINALE_LINKS_BURST="100000",
        AWS_ACCESS_KEY_ID=s3.credentials.access_key,
        AWS_SECRET_ACCESS_KEY=s3.credentials.secret_key,
        MATINALE_S3_ENDPOINT_URL=s3.endpoint_url,
    )
    command = [sys.executable, "-m", "matinale.cli", "links", "serve", "--port", str(port)]
    with logs.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT
        )


@pytest.mark.hostile
def test_sigterm_under_load_loses_no_count_and_keeps_no_visitor(
    link_env: LinkEnv, s3_server: Any, tmp_path: Path
) -> None:
    publish_fake_run(link_env.client, link_env.bucket, "run1")
    port, logs = free_port(), tmp_path / "serve.log"
    process = _serve(link_env, s3_server, port, logs)
    base = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _published(base), 30)
        ok: Counter[str] = Counter()
        sent = [0]
        seen: set[str] = set()
        lock = threading.Lock()

        def visitor(worker: int) -> None:
            with httpx.Client(base_url=base, timeout=5) as web:
                for i in range(500):
                    address = f"198.51.{worker}.{i % 250 + 1}"
                    agent = f"Mozilla/5.0 (visiteur-{worker}-{i})"
                    preview = i % 10 == 0
                    path = f"/p/{link_env.token}" if i % 2 else f"/s/{CODE}"
                    headers = {
                        "x-forwarded-for": address,
                        "user-agent": "WhatsApp/2.23 " + agent if preview else agent,
                        "referer": f"https://referer-{worker}-{i}.example/",
                    }
                    with lock:
                        sent[0] += 1
                        seen.update((address, agent))
                    try:
                        answer = web.get(path, headers=headers)
                    except httpx.HTTPError:
                        return
                    if answer.status_code == 302:
                        event = "preview" if preview else ("open" if i % 2 else "click")
                        with lock:
                            ok[event] += 1

        threads = [threading.Thread(target=visitor, args=(w,)) for w in range(8)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        until(lambda: sent[0] >= 1500, 30)
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=max(1.0, 60 - (time.monotonic() - started)))
        # uvicorn re-raises the signal once shut down: -15 is its clean exit after SIGTERM
        assert process.wait(timeout=30) in {0, -signal.SIGTERM}
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert b"link service: stopped;" in logs.read_bytes()  # the last flush ran
    stored = totals(link_env)
    print(f"sent {sent[0]}, answered {dict(ok)}, stored {stored}")
    for event in ("open", "click", "preview"):
        assert ok[event] <= stored.get(("s01", event), 0) <= ok[event] + 8, event
    assert sum(ok.values()) >= 1000
    traces = [logs.read_bytes()] + [
        p.read_bytes() for p in link_env.db_path.parent.glob("links.db*")
    ]
    for trace in traces:
        for secret in [*seen, link_env.token, "referer-", "198.51."]:
            assert secret.encode() not in trace, secret


def _published(base: str) -> bool:
    try:
        return bool(httpx.get(f"{base}/healthz", timeout=2).json()["published"])
    except httpx.HTTPError:
        return False


def test_the_link_bench_runs_end_to_end(s3_server: Any, tmp_path: Path) -> None:
    """`make bench`'s link part, briefly: it publishes, loads both routes, stops the service
    under load and reads the counts back (it broke once when prepare began reserving stems)."""
    from matinale.dev.bench.links import bench_links, links_lines

    lines: list[str] = []
    report = bench_links(s3_server, tmp_path, seconds=0.5, connections=4, out=lines.append)
    for route in ("s", "p", "floor", "pack"):
        assert report[route]["rps"] > 0, report
    # The served pack answered 200 with the 15 cards' bytes (about 1.75 MB), never an error page.
    assert set(report["pack"]["status"]) == {"200"} and report["pack"]["bytes"] > 1_700_000
    term = report["sigterm"]
    assert 0 < term["answered"] <= term["written"] <= term["answered"] + 4, term
    assert "/p/<token>" in "\n".join(links_lines(report))
    assert "Served packs (`/p/<token>/pack.zip`" in "\n".join(links_lines(report))
