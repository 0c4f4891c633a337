"""The link service's benchmark (``make bench``): redirects per second and p50/p99 latency of
``/s/`` and ``/p/`` (with its presign) on one uvicorn worker pinned to one core, loaded from
the other core by a keep-alive load generator of our own, then counts written versus redirects
answered after a SIGTERM in the middle of a load, a served pack (built once, then cached);
and the floor: a bare Starlette redirect
with an in-memory count on the same setup, so the service's cost reads as a ratio.

Everything listens on 127.0.0.1. The generator (:func:`load`) is asyncio over raw sockets:
``connections`` keep-alive connections, each sending its next request when the previous answer
is read, for ``seconds``. Run alone: ``python -m matinale.dev.bench.links`` (starts its own
SeaweedFS). Target (issue #17): at least 2,000 redirects/s on one core, p99 under 20 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["TARGET_P99_MS", "TARGET_RPS", "bench_links", "floor_app", "links_lines", "load"]

TARGET_RPS = 2000
TARGET_P99_MS = 20.0
EDITION = date(2026, 11, 24)
CODE = "benchcde"
_DESTINATION = "https://ensemble-demain.example.org/agir"
_BUCKET = "bench-bundle"
_SERVICE_CORE, _LOAD_CORE = "0", "1"


# -- the load generator (runs in its own process, pinned to the other core) ---------------


async def _client(
    host: str, port: int, request: bytes, stop: float, latencies: list[float], codes: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            codes[status] = codes.get(status, 0) + 1
    except (OSError, asyncio.IncompleteReadError):
        pass  # the server went away (the SIGTERM phase): count what was answered
    finally:
        writer.close()


def load(url: str, *, seconds: float, connections: int = 32) -> dict[str, Any]:
    """Load ``url`` (http://127.0.0.1:port/path) for ``seconds``: requests/s, p50/p99 (ms),
    and the answers by status."""
    host, _, rest = url.removeprefix("http://").partition(":")
    port, _, path = rest.partition("/")
    request = (
        f"GET /{path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: Mozilla/5.0 (bench)\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    codes: dict[int, int] = {}

    async def main() -> float:
        started = time.perf_counter()
        stop = started + seconds
        await asyncio.gather(
            *(_client(host, int(port), request, stop, latencies, codes) for _ in range(connections))
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    latencies.sort()

    def quantile(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed) if elapsed else 0,
        "p50_ms": quantile(0.50) if latencies else None,
        "p99_ms": quantile(0.99) if latencies else None,
        "status": {str(k): v for k, v in sorted(codes.items())},
        "connections": connections,
    }


def _load_pinned(url: str, seconds: float, connections: int, env: dict[str, str]) -> dict[str, Any]:
    command = [
        *_pin(_LOAD_CORE),
        sys.executable,
        "-m",
        "matinale.dev.bench.links",
        "_load",
        url,
        str(seconds),
        str(connections),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _pin(core: str) -> list[str]:
    return ["taskset", "-c", core] if (os.cpu_count() or 1) > 1 else []


# -- the floor: a bare Starlette redirect with an in-memory count ---------------------------


def floor_app() -> Any:
    """``GET /s/<code>`` → 302 to one destination, counted in a dict: a plain Starlette route
    (added to FastAPI's router as is: no validation, no dependencies), nothing else."""
    from fastapi import FastAPI, Request, Response

    counted: dict[str, int] = {}

    async def redirect(request: Request) -> Response:
        code = request.path_params["code"]
        counted[code] = counted.get(code, 0) + 1
        return Response(status_code=302, headers={"location": _DESTINATION})

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.router.add_route("/s/{code}", redirect)
    return app


# -- the run ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({process.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url}: no answer within {timeout:.0f} s")


def _publish(client: Any) -> str:
    """A promoted run with one segment page, a token and a short link; returns the token."""
    from matinale.bundle import manifest_entry
    from matinale.links import LinkState
    from matinale.publish.pointers import promote

    prefix = f"editions/{EDITION}/bench"
    files = {"s01/index.html": b"<p>bench</p>", **_pack_members()}
    for path, data in files.items():
        client.put_object(Bucket=_BUCKET, Key=f"{prefix}/{path}", Body=data)
    manifest = {
        "packs": "served",
        "segments": [{"id": "s01", "page": "s01/index.html"}],
        "files": [manifest_entry(path, data) for path, data in sorted(files.items())],
    }
    client.put_object(Bucket=_BUCKET, Key=f"{prefix}/manifest.json", Body=json.dumps(manifest))
    promote(client, _BUCKET, EDITION, "bench")
    state = LinkState(client, _BUCKET)
    state.reserve_stem(EDITION, "bench", stem=CODE[:3])  # as prepare does each night
    cell = {"segment": "s01", "theme": "logement", "channel": "x", "angle": "mobiliser"}
    state.register_run(EDITION, "bench", {CODE: {**cell, "destination": _DESTINATION}})
    return state.ensure_tokens(["s01"])["s01"]


def _pack_members() -> dict[str, bytes]:
    """A segment's pack as the 1M night makes it: 5 themes × 3 formats of cards of the night's
    mean sizes (incompressible bytes), its posts and alt texts."""
    import random

    rng = random.Random(42)
    sizes = {"landscape": 89_800, "square": 114_800, "story": 145_700}
    members = {
        f"s01/cards/theme{t}-{name}.jpg": b"\xff\xd8" + rng.randbytes(size)
        for t in range(5)
        for name, size in sizes.items()
    }
    members["s01/posts.json"] = json.dumps({"posts": ["Un texte de post."] * 90}).encode()
    members["s01/posts.md"] = b"# Posts\n" * 400
    members["s01/cards.json"] = json.dumps({"cards": []}).encode()
    members["s01/textes-alternatifs.txt"] = b"Visuel.\n" * 15
    return members


def _stored(db: Path) -> int:
    from matinale.links.counts import Counts, make_engine

    engine = make_engine(f"sqlite:///{db}")
    try:
        return sum(
            n
            for _s, event, n in Counts(engine).totals(EDITION.isoformat())
            if event in {"open", "click"}
        )
    finally:
        engine.dispose()


def bench_links(
    server: Any,
    workspace: Path,
    *,
    seconds: float = 8.0,
    connections: int = 32,
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure the service against ``server`` (a running SeaweedS3); returns the report part."""
    import httpx

    server.ensure_buckets(_BUCKET)
    token = _publish(server.client())
    folder = workspace / "links"
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "links.db"
    db.unlink(missing_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AWS_"))},
        **server.env(),
        "MATINALE_BUNDLE_BUCKET": _BUCKET,
        "MATINALE_LINKS_BUCKET": _BUCKET,
        "MATINALE_LINKS_DB_URL": f"sqlite:///{db}",
        "MATINALE_VAR": str(folder),
        "MATINALE_LINKS_RATE": "1000000000",
        "MATINALE_LINKS_BURST": "1000000000",
    }
    env.pop("AIRFLOW_CONN_AWS_DEFAULT", None)
    report: dict[str, Any] = {"connections": connections, "seconds": seconds}

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [sys.executable, "-m", "matinale.cli", "links", "serve", "--port", str(port)]
    log = (folder / "serve.log").open("wb")
    service = subprocess.Popen([*_pin(_SERVICE_CORE), *serve], env=env, stdout=log, stderr=log)
    answered = 0
    try:
        _wait(f"{base}/healthz", service)
        _wait(f"{base}/p/{token}", service)  # the state is loaded: /p/ redirects
        for name, path in (("s", f"/s/{CODE}"), ("p", f"/p/{token}")):
            result = _load_pinned(base + path, seconds, connections, env)
            answered += result["status"].get("302", 0)
            report[name] = result
            out(
                f"  links {path[:3]}: {result['rps']:,} redirects/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms"
            )
        # A served pack (issue 21 item 5): the first one built from S3, then from the cache.
        started = time.perf_counter()
        first = httpx.get(f"{base}/p/{token}/pack.zip", timeout=60)
        cold = time.perf_counter() - started
        first.raise_for_status()
        result = _load_pinned(f"{base}/p/{token}/pack.zip", seconds / 2, 8, env)
        report["pack"] = {
            **result,
            "bytes": len(first.content),
            "cold_ms": round(cold * 1000, 1),
            "mb_per_s": round(result["rps"] * len(first.content) / 1e6, 1),
        }
        out(
            f"  links pack.zip ({len(first.content) / 1e6:.2f} MB): first {cold * 1000:.0f} ms, then "
            f"{result['rps']:,}/s ({report['pack']['mb_per_s']:,} MB/s), p99 {result['p99_ms']} ms"
        )
        # SIGTERM in the middle of a load: every answered redirect must be in the database.
        term = subprocess.Popen(
            [
                *_pin(_LOAD_CORE),
                sys.executable,
                "-m",
                "matinale.dev.bench.links",
                "_load",
                f"{base}/s/{CODE}",
                "4",
                str(connections),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        service.send_signal(signal.SIGTERM)
        last = json.loads((term.communicate(timeout=60)[0] or "{}").strip().splitlines()[-1])
        answered += last["status"].get("302", 0)
        service.wait(timeout=60)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
        log.close()
    report["sigterm"] = {"answered": answered, "written": _stored(db)}
    out(
        f"  links counts after SIGTERM: {report['sigterm']['written']:,} written for {answered:,} redirects answered"
    )

    port = _free_port()
    floor_cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "matinale.dev.bench.links:floor_app",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    floor = subprocess.Popen([*_pin(_SERVICE_CORE), *floor_cmd], env=env)
    try:
        _wait(f"http://127.0.0.1:{port}/s/x", floor)
        report["floor"] = _load_pinned(
            f"http://127.0.0.1:{port}/s/{CODE}", seconds, connections, env
        )
    finally:
        floor.terminate()
        floor.wait(timeout=30)
    report["ratio_s"] = round(report["floor"]["rps"] / max(1, report["s"]["rps"]), 2)
    report["ratio_p"] = round(report["floor"]["rps"] / max(1, report["p"]["rps"]), 2)
    report["met"] = (
        all(
            report[k]["rps"] >= TARGET_RPS and (report[k]["p99_ms"] or 1e9) < TARGET_P99_MS
            for k in ("s", "p")
        )
        # Every answered redirect counted; at most one in flight per connection counted
        # whose answer the closing socket lost.
        and 0 <= report["sigterm"]["written"] - report["sigterm"]["answered"] <= connections
    )
    return report


def links_lines(links: dict[str, Any] | None) -> list[str]:
    """The link service's lines of the bench's text and README tables (``report["links"]``)."""
    if not links or "s" not in links:
        return ["Link service: not measured."]
    floor, term = links["floor"], links["sigterm"]
    lines = [
        f"**Link service** (one uvicorn worker pinned to one core, {links['connections']} keep-alive "
        f"connections from a generator on the other core, {links['seconds']:.0f} s each, 127.0.0.1):",
        "",
        "| route | redirects/s | p50 | p99 | floor (bare Starlette) ÷ service |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label, ratio in (
        ("s", "`/s/<code>`", "ratio_s"),
        ("p", "`/p/<token>` (presign cached 60 s)", "ratio_p"),
    ):
        row = links[key]
        lines.append(
            f"| {label} | {row['rps']:,} | {row['p50_ms']} ms | {row['p99_ms']} ms | {links[ratio]}× |"
        )
    lines.append(
        f"| floor: bare Starlette `/s/` | {floor['rps']:,} | {floor['p50_ms']} ms | {floor['p99_ms']} ms | 1× |"
    )
    pack = links.get("pack")
    if pack:
        lines += [
            "",
            f"Served packs (`/p/<token>/pack.zip`, a {pack['bytes'] / 1e6:.2f} MB pack of 15 cards): "
            f"the first built from S3 in {pack['cold_ms']:,.0f} ms, then {pack['rps']:,} a second "
            f"from the cache ({pack['mb_per_s']:,} MB/s, p50 {pack['p50_ms']} ms, p99 "
            f"{pack['p99_ms']} ms, {pack['connections']} connections).",
        ]
    lines += [
        "",
        f"Counts after a SIGTERM during a load: {term['written']:,} written for {term['answered']:,} "
        f"redirects answered (more written: redirects counted whose answer the closing socket "
        f"lost). Target ≥ {TARGET_RPS:,}/s per core, p99 < {TARGET_P99_MS:.0f} ms, "
        f"every count kept: {'met' if links.get('met') else 'NOT met'}.",
    ]
    return lines


def main(argv: list[str]) -> int:
    if argv[:1] == ["_load"]:
        print(json.dumps(load(argv[1], seconds=float(argv[2]), connections=int(argv[3]))))
        return 0
    import tempfile

    from matinale.dev.seaweed import S3Credentials, SeaweedS3

    with tempfile.TemporaryDirectory(prefix="matinale-bench-links-") as folder:
        with SeaweedS3(Path(folder) / "s3", S3Credentials.generate()) as server:
            report = bench_links(server, Path(folder))
    print("\n".join(links_lines(report)))  # the rows printed above, as the README has them
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
