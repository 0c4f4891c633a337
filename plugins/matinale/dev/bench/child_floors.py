"""What runs inside a floors child process: every floor of one size, on the stages' outputs.

The floors are the bare library calls (:mod:`matinale.dev.bench.floors`) each stage cannot go
below on this machine, measured on the data the size's stages wrote.
"""

from __future__ import annotations

import io
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matinale.bundle import pack_of
from matinale.checks import served_packs
from matinale.dev.bench.child import _ERROR_CHARS, _guarded, _warm, s3_client_from_env
from matinale.publish.delivery import delivery_key
from matinale.publish.delivery_stream import PART_BYTES

__all__ = ["floors_main"]


def _find(value: Any, key: str) -> Any:
    """The first value of ``key`` in nested maps, breadth first."""
    queue = [value]
    while queue:
        item = queue.pop(0)
        if isinstance(item, dict):
            if key in item:
                return item[key]
            queue.extend(item.values())
    return None


def _model_shape(report: dict[str, Any], profiles: dict[str, Any], rows: int) -> dict[str, int]:
    """How big a matrix tonight's segmentation clustered, from its report and profiles.yaml."""
    adults = _find(report, "adults") or _find(report, "segmented") or rows
    columns = _find(report, "columns") or _find(report, "features") or []
    clusters = profiles.get("clusters", 4)
    k = _find(report, "k") or (clusters.get("max", 4) if isinstance(clusters, dict) else clusters)
    fit = _find(report, "sample_size") or profiles.get("sample_size") or adults
    return {
        "adults": int(adults),
        "columns": max(1, len(columns) if isinstance(columns, list) else int(columns)),
        "k": int(k),
        "fit_rows": int(min(int(fit), int(adults))),
    }


_EMAIL_PARTS = ("subject", "txt", "html")


def _posts_and_renders(store: Any, keys: list[str]) -> tuple[int, int]:
    """Posts in the bundle's posts.json files, and the template renders they took (an e-mail: one per part)."""
    posts = renders = 0
    for key in keys:
        for post in store.get_json(key).get("posts", []):
            posts += 1
            renders += (
                max(1, sum(1 for part in _EMAIL_PARTS if part in post))
                if post.get("channel") == "email"
                else 1
            )
    return posts, renders


def _card_sizes(store: Any, keys: list[str]) -> dict[tuple[int, int, str], int]:
    from PIL import Image

    sizes: dict[tuple[int, int, str], int] = {}
    for key in keys:
        with Image.open(io.BytesIO(store.get_bytes(key))) as image:
            size = (image.width, image.height, str(image.format or "JPEG"))
        sizes[size] = sizes.get(size, 0) + 1
    return sizes


#: Cards of each size decoded for the visuals floor (spread over the night's cards).
_CARD_SAMPLES = 6


def _card_samples(store: Any, keys: list[str]) -> tuple[dict[Any, list[bytes]], dict[Any, int]]:
    """A few of the night's card files per size (spread over the night), and cards per size."""
    from PIL import Image

    by_size: dict[tuple[int, int], list[str]] = {}
    for key in keys:
        with Image.open(io.BytesIO(store.get_bytes(key))) as image:
            by_size.setdefault(image.size, []).append(key)
    samples = {
        size: [store.get_bytes(k) for k in found[:: max(1, len(found) // _CARD_SAMPLES)]][
            :_CARD_SAMPLES
        ]
        for size, found in by_size.items()
    }
    return samples, {size: len(found) for size, found in by_size.items()}


def _card_bytes(store: Any, keys: list[str], bundle_keys: list[str]) -> dict[str, Any]:
    """Mean bytes per card of each format and per pack, stored or served (the cards' names
    end ``-<format>``): a served pack is built as the link service builds it."""
    formats: dict[str, list[int]] = {}
    for key in keys:
        name = key.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        formats.setdefault(name.rsplit("-", 1)[-1], []).append(len(store.get_bytes(key)))
    packs = [len(store.get_bytes(k)) for k in bundle_keys if k.endswith("/pack.zip")]
    listed = next((k for k in bundle_keys if k.endswith("/manifest.json")), None)
    manifest = json.loads(store.get_bytes(listed)) if listed else {}
    root = listed.rsplit("/", 1)[0] if listed else ""
    served = served_packs(manifest)
    for path in served:  # built as the link service builds it: the bytes it answers
        pack = pack_of(manifest, path, lambda member: store.get_bytes(f"{root}/{member}"))
        packs.append(len(pack or b""))
    return {
        "card_bytes": {name: round(sum(v) / len(v)) for name, v in sorted(formats.items())},
        "card_bytes_mean": round(sum(map(sum, formats.values())) / max(1, len(keys))),
        "pack_bytes": round(sum(packs) / len(packs)) if packs else 0,
        "packs": len(packs),
        "packs_served": len(served),
    }


def _card_quality(templates_dir: Path) -> int:
    from matinale.yamlfile import load_yaml

    if not (templates_dir / "brand.yaml").is_file():
        return 90
    brand = load_yaml(templates_dir / "brand.yaml").data or {}
    quality = _find(brand, "quality")
    return int(quality) if isinstance(quality, int) else 90


_IMAGE = (".jpg", ".jpeg", ".webp", ".png")
_FLOOR_IMPORTS = (
    "pandas",
    "pyarrow.csv",
    "pyarrow.parquet",
    "sklearn.cluster",
    "sklearn.datasets",
    "jinja2",
    "PIL.Image",
    "boto3",
    "yaml",
)


def _floors(spec: dict[str, Any]) -> dict[str, Any]:
    from matinale import night
    from matinale.dev.bench import floors
    from matinale.settings import load_settings

    _warm(
        _FLOOR_IMPORTS
    )  # a floor times work, not a first import (pyarrow.parquet pulls pandas in)
    settings = load_settings()
    store = night.make_store(settings)
    ctx = night.RunContext.from_xcom(spec["ctx"])
    ran: dict[str, dict[str, Any]] = spec[
        "stages"
    ]  # stage name → its summary, for stages that succeeded
    scratch = Path(spec["scratch"])
    bundle_keys = store.list(ctx.bundle)
    prefix = len(ctx.bundle) + 1
    cards = [k for k in bundle_keys if "/cards/" in k and k.lower().endswith(_IMAGE)]
    sheets = [
        k
        for k in bundle_keys
        if k[prefix:].startswith("contact-sheet") and k.lower().endswith(_IMAGE)
    ]
    posts, renders = _posts_and_renders(
        store, [k for k in bundle_keys if k.endswith("/posts.json")]
    )
    posts = int((ran.get("content") or {}).get("posts") or posts)
    result: dict[str, Any] = {}
    skipped: dict[str, str] = {}

    def measure(name: str, run: Callable[[], dict[str, Any]]) -> None:
        if name not in ran:
            return
        try:
            result[name] = run()
        except Exception as exc:  # one floor failing must not hide the others
            traceback.print_exc()
            skipped[name] = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]

    measure(
        "prepare", lambda: floors.file_hashes([Path(ctx.supporters_file), Path(ctx.brief_file)])
    )
    measure("ingest", lambda: floors.csv_read(Path(ctx.supporters_file)))
    valid_key = f"{ctx.prefix}/private/valid.parquet"
    if store.exists(valid_key):
        measure("privacy", lambda: floors.parquet_round_trip(store.get_bytes(valid_key)))
    elif "privacy" in ran:
        skipped["privacy"] = f"{valid_key} is not in the work store"

    def kmeans() -> dict[str, Any]:
        from matinale.yamlfile import load_yaml

        report = store.get_json(f"{ctx.prefix}/segments.json").get("report") or {}
        profiles = load_yaml(settings.segments_dir / "profiles.yaml").data or {}
        shape = _model_shape(report, profiles, int(spec["rows"]))
        return floors.kmeans_fit(
            fit_rows=shape["fit_rows"],
            predict_rows=shape["adults"],
            columns=shape["columns"],
            k=shape["k"],
        )

    measure("segment", kmeans)

    def learn() -> dict[str, Any]:
        learned = store.get_json(f"{ctx.prefix}/learned.json")
        themes = [t for entry in learned["segments"].values() for t in entry["themes"].values()]
        widest = max((len(t["weights"]) for t in themes), default=1)
        return floors.beta_draws(max(1, len(themes)), widest)

    measure("learn", learn)
    measure("content", lambda: floors.jinja_renders(renders or posts))
    quality = _card_quality(settings.templates_dir)
    workers = floors.cpu_count()

    def visuals() -> dict[str, Any]:
        from matinale.visuals import load_kit

        samples, counts = _card_samples(store, cards)
        encoder = load_kit(settings.templates_dir).brand.encoder  # the night's settings
        return floors.card_encodes(samples, counts, encoder=encoder, workers=workers)

    measure("visuals", visuals)
    measure(
        "contact_sheet",
        lambda: floors.blank_encodes(_card_sizes(store, sheets), quality=quality, workers=1),
    )
    measure(
        "bundle", lambda: floors.read_hash_write(bundle_keys, store.get_bytes, scratch / "bundle")
    )
    measure("checks", lambda: floors.read_scan_hash(bundle_keys, store.get_bytes))

    def uploads() -> dict[str, Any]:
        client = s3_client_from_env(pool=floors.S3_FLOOR_THREADS * 2)
        files = [(key[prefix:], store.get_bytes(key)) for key in bundle_keys]
        bundle = floors.s3_uploads(client, spec["floor_bucket"], f"floor-{spec['rows']}", files)
        if not (ran.get("publish") or {}).get("delivery"):
            return bundle
        # Publish also writes the delivery file to the private bucket: its floor is part of
        # publish's (at 1M supporters it is a fifth of the bytes publish sends).
        csv_bytes = client.get_object(
            Bucket=settings.private_bucket, Key=delivery_key(ctx.edition, ctx.run)
        )["Body"].read()
        delivery = floors.delivery_write_upload(
            client,
            spec["floor_bucket"],
            f"floor-{spec['rows']}/delivery.csv",
            csv_bytes,
        )
        return {
            **bundle,
            "seconds": bundle["seconds"] + delivery["seconds"],
            "what": (
                f"{bundle['what']}, then the delivery file ({delivery['rows']:,} rows, "
                f"{delivery['bytes'] / 1e6:.1f} MB): pyarrow write_csv and one upload in "
                f"{PART_BYTES >> 20} MiB parts"
            ),
            "bundle_seconds": bundle["seconds"],
            "delivery_seconds": delivery["seconds"],
            "delivery_bytes": delivery["bytes"],
        }

    measure("publish", uploads)
    bundle_bytes = sum(len(store.get_bytes(k)) for k in bundle_keys)
    segments_key = f"{ctx.prefix}/segments.json"
    sizes = {
        "segments": len(store.get_json(segments_key).get("segments", []))
        if store.exists(segments_key)
        else 0,
        "supporters_bytes": Path(ctx.supporters_file).stat().st_size,
        "bundle_bytes": bundle_bytes,
        "bundle_files": len(bundle_keys),
        "cards": len(cards),
        **_card_bytes(store, cards, bundle_keys),
        "contact_sheets": len(sheets),
        "posts": posts,
    }
    return {"floors": result, "skipped": skipped, "sizes": sizes}


def floors_main(spec_path: str) -> int:
    """``python -m matinale.dev.bench _floors SPEC``: every floor of one size, on the stages' outputs."""
    return _guarded(_floors, spec_path)


#: What the night imports: warmed (and timed) before ``dag.test()``, as the direct stages warm theirs.
