"""Benchmark of the content stage: posts rendered, fitted and checked per second.

``run(segments=500)`` writes every post of ``segments`` segments for the sample brief
(3 themes × 6 channels × 3 variants each, e-mail as three templates) the way the night
does, on one process and on as many processes as the machine has cores (at most 2, the
target machine), and measures the floor: bare Jinja2 renders of the same templates, one per
template render the stage needs, with none of the checks. Ratios to the floor, not
absolute times, are what compare between machines. Not a test: nothing here asserts on time.

    PYTHONPATH=plugins .venv/bin/python bench/content_bench.py [segments]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))  # this checkout's code, not an installed copy

__all__ = ["run"]

EDITION = date(2026, 11, 24)
_BANDS = (("18-24", "mobiliser"), ("25-34", "quotidien"), ("35-49", "familles"), ("50-64", "travail"), ("65plus", "devoir-civique"))
_INTERESTS = ("sante", "ecole", "transition-ecologique", "pouvoir-achat", "europe", "emploi", "logement", "securite")
_PLACES = ("L'Haÿ-les-Roses", "Saint-Rémy-de-Provence", "Paris 20e Arrondissement", "Brest", "Lille", "Châlons-en-Champagne")


def _segments(count: int) -> list[dict[str, Any]]:
    """Main segments over the five bands, one in ten a territorial pack, as segments.json has them."""
    segments: list[dict[str, Any]] = []
    for index in range(count):
        if index % 10 == 9:
            code = f"{94000 + index:05d}"
            segments.append(
                {
                    "id": f"t-{code}",
                    "kind": "territory",
                    "band": None,
                    "label": _PLACES[index % len(_PLACES)],
                    "territory": {"code": code, "name": _PLACES[index % len(_PLACES)]},
                    "theme": ("sante", "transition-ecologique", "pouvoir-achat")[index % 3],
                    "size": 200,
                    "top_interests": [],
                }
            )
            continue
        band, framing = _BANDS[index % len(_BANDS)]
        interests = [_INTERESTS[(index // 5 + k) % len(_INTERESTS)] for k in range(3)]
        segments.append(
            {
                "id": f"{band}-p{index // 5 + 1:03d}",
                "kind": "main",
                "band": band,
                "band_label": band,
                "framing": framing,
                "profile": f"p{index // 5 + 1:03d}",
                "label": f"{band} · {interests[0]}",
                "size": 120,
                "top_interests": interests,
            }
        )
    return segments


def _writer() -> Any:
    from matinale.content import PostWriter, load_brief
    from matinale.settings import load_settings

    os.environ.setdefault("MATINALE_HOME", str(ROOT))
    settings = load_settings()
    brief = load_brief(settings.templates_dir / "sample_brief.yaml", allowed_domains=settings.allowed_domains)
    return PostWriter.from_settings(brief, settings)


def _write(segments: list[dict[str, Any]]) -> dict[str, int]:
    """Every post of ``segments``, serialised as posts.json would be; counts only."""
    from matinale.segment import Segment

    writer = _writer()
    posts = renders = 0
    for segment in segments:
        result = writer.segment(Segment.from_json(segment))
        json.dumps(result.to_json(), ensure_ascii=False)
        posts += len(result.posts)
        renders += sum(3 if p["channel"] == "email" else 1 for p in result.posts)
    return {"posts": posts, "renders": renders}


def _ready(_: int) -> None:
    time.sleep(0.05)  # long enough that each worker takes one call: all are started


def _write_timed(segments: list[dict[str, Any]]) -> dict[str, Any]:
    started = time.process_time()
    counts = _write(segments)
    return {**counts, "cpu": time.process_time() - started}


def _floor(renders_per_channel: dict[str, int]) -> float:
    """CPU seconds for bare Jinja2 renders (no sandbox, no checks) of the same templates."""
    from jinja2 import Environment, FileSystemLoader

    env = Environment(loader=FileSystemLoader(ROOT / "content_templates" / "posts"), trim_blocks=True, lstrip_blocks=True)
    writer = _writer()
    theme = writer.brief.themes[0]
    context = {
        "campaign": writer.campaign,
        "segment": {"id": "65plus-p01", "label": "65 ans et +", "territory": "", "interest": ""},
        "angle": "devoir-civique",
        "theme": {"id": theme.id, "title": theme.title, "key_message": theme.key_message, "local": False},
        "variant": 1,
        "opener": "Chaque génération a son rendez-vous civique.",
        "cta": theme.call_to_action,
        "cta_intro": "Pour agir :",
        "link": theme.link + "?utm_source=matinale&utm_medium=x&utm_campaign=2026-11-24&utm_content=65plus-p01-1",
        "facts": [{"text": f.text, "source": f.source, "site": "insee.fr"} for f in theme.facts],
        "hashtag_list": list(theme.hashtags),
        "hashtags": " ".join(f"#{h}" for h in theme.hashtags),
        "compact": True,
        "minimal": False,
        "territory": "",
        "interest": "",
    }
    started = time.process_time()
    for channel, count in renders_per_channel.items():
        names = ["email.subject.j2", "email.txt.j2", "email.html.j2"] if channel == "email" else [f"{channel}.j2"]
        templates = [env.get_template(name) for name in names]
        for _ in range(count):
            for template in templates:
                template.render(context)
    return time.process_time() - started


def _chunks(items: list[Any], parts: int) -> list[list[Any]]:
    size = -(-len(items) // parts)
    return [items[i : i + size] for i in range(0, len(items), size)]


def run(segments: int = 500) -> dict[str, Any]:
    """Measure the content stage on ``segments`` segments; a dict of counts, seconds and ratios."""
    cores = max(1, min(2, os.cpu_count() or 1))
    items = _segments(segments)
    _write(items[:5])  # warm up: imports, templates, rules

    # CPU seconds beside wall seconds: the machine is shared, and CPU time is what other
    # engineers' work does not inflate (much).
    started, cpu = time.perf_counter(), time.process_time()
    counts = _write(items)
    single, single_cpu = time.perf_counter() - started, time.process_time() - cpu

    # Fresh processes, as the night's mapped tasks are: imports done and one segment written
    # before the clock starts, but no cache inherited from this process.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=cores, mp_context=context, initializer=_write, initargs=(items[:1],)) as pool:
        list(pool.map(_ready, range(cores)))
        started = time.perf_counter()
        results = list(pool.map(_write_timed, _chunks(items, cores)))
        parallel = time.perf_counter() - started
    pool_cpu = sum(r["cpu"] for r in results)
    assert sum(r["posts"] for r in results) == counts["posts"]

    posts_per_channel = {"x": 0, "facebook": 0, "instagram": 0, "whatsapp": 0, "sms": 0, "email": 0}
    writer = _writer()
    from matinale.segment import Segment

    sample = writer.segment(Segment.from_json(items[0]))
    for post in sample.posts:
        posts_per_channel[post["channel"]] += 1
    scale = counts["posts"] / max(1, len(sample.posts))
    floor = _floor({channel: round(n * scale) for channel, n in posts_per_channel.items()})
    themes = len(writer.brief.themes)
    return {
        "stage": "content",
        "segments": segments,
        "themes": themes,
        "channels": len(writer.channels),
        "variants": writer.variants,
        "posts": counts["posts"],
        "template_renders": counts["renders"],
        "cores": cores,
        "seconds_one_process": round(single, 3),
        "cpu_seconds_one_process": round(single_cpu, 3),
        "seconds": round(parallel, 3),
        "cpu_seconds_pool": round(pool_cpu, 3),
        "posts_per_second": round(counts["posts"] / parallel),
        # The target counts 500 segments × 6 channels × 3 variants: one theme.
        "seconds_per_theme": round(parallel / themes, 3),
        "floor_cpu_seconds": round(floor, 3),
        "ratio_to_floor": round(single_cpu / floor, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "floor": "bare Jinja2 renders (no sandbox, typography, fitting, checks or similarity) of the same templates",
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 500), indent=1))
