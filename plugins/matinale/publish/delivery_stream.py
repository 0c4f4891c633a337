"""The delivery file as a stream: its memory does not grow with the number of supporters.

Two passes, the same steps as ``delivery.delivery_rows`` (same bytes for the same inputs):

1. ``spill_delivery``: the contacts are read in row batches; each batch is joined with the
   supporters' pages (``delivery.supporter_pages``, built once from the assignments: two
   columns) and turned into delivery rows (``delivery.batch_rows``: consent, addresses,
   hooks, counts), laid out as CSV lines (with their links) and written with their sort keys
   to a private temporary folder, one Arrow record batch per segment. The counts are known
   at the end of this pass (compliance.json, uploaded after the rest of the bundle, holds
   them).
2. ``DeliveryFile.upload``: segment after segment (in the file's order), that segment's
   lines of every batch are read back, sorted (channel, supporter) and sent to S3 in parts
   (a multipart upload once the file is bigger than one part; a single ``put_object``
   otherwise).

Publish runs both on a thread of their own while the bundle uploads
(``deliver_in_background``).

Peak memory: the supporters' pages (two short strings per supporter), one batch, one
segment and one part, whatever the number of supporters. The temporary folder is made
0700 by ``tempfile`` and removed by ``close`` (or when the object is collected).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from matinale.publish.delivery import (
    DeliveryCounts,
    RowHook,
    batch_rows,
    csv_body,
    csv_header,
    csv_lines,
    delivery_key,
    supporter_pages,
    with_links,
)
from matinale.publish.s3 import _put_json
from matinale.s3types import S3Client, S3Response
from matinale.store import Store

if TYPE_CHECKING:
    from concurrent.futures import Future

    import pandas as pd

__all__ = ["Audience", "DeliveryFile", "deliver_in_background", "spill_delivery"]

log = logging.getLogger(__name__)

#: Contacts per batch: a few tens of MiB of Arrow and pandas data.
BATCH_ROWS = 200_000
#: Bytes per part of the multipart upload (S3 wants at least 5 MiB but for the last one).
PART_BYTES = 32 * 1024 * 1024
#: The columns of the contacts the file reads (the others, names included, stay on disk).
CONTACT_COLUMNS = ("supporter_id", "email", "phone", "consent_email", "consent_sms")
_CONTENT_TYPE = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class Audience:
    """The private inputs of the delivery file: the contacts, batch by batch, and the
    assignments and territory memberships (two columns each, read whole)."""

    contacts: Callable[[], Iterator[pd.DataFrame]]
    assignments: Callable[[], pd.DataFrame]
    memberships: Callable[[], pd.DataFrame | None]

    @classmethod
    def from_frames(
        cls,
        contacts: pd.DataFrame,
        assignments: pd.DataFrame,
        memberships: pd.DataFrame | None = None,
        *,
        batch_rows: int = BATCH_ROWS,
    ) -> Audience:
        """Frames already in memory (tests, small runs), cut in batches of ``batch_rows``."""
        return cls(
            lambda: (
                contacts.iloc[start : start + batch_rows]
                for start in range(0, len(contacts), batch_rows)
            ),
            lambda: assignments,
            lambda: memberships,
        )

    @classmethod
    def from_store(
        cls,
        store: Store,
        contacts: str,
        assignments: str,
        memberships: str | None = None,
        *,
        batch_rows: int = BATCH_ROWS,
    ) -> Audience:
        """The segment stage's Parquet files in the work store; the contacts read in batches
        of ``batch_rows`` rows (only the columns the file needs)."""
        return cls(
            lambda: _stored_batches(store, contacts, CONTACT_COLUMNS, batch_rows),
            lambda: store.get_frame(assignments, columns=["supporter_id", "segment_id", "segment"]),
            lambda: store.get_frame(memberships) if memberships else None,
        )


def _stored_batches(
    store: Store, key: str, columns: Sequence[str], rows: int
) -> Iterator[pd.DataFrame]:
    """The frames ``Store.get_frame`` would give, ``rows`` at a time, read from the store's
    file: the whole file (every column, names included) is never in memory, only the
    columns read, a batch at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with store.open_file(key) as handle:
        parquet = pq.ParquetFile(handle)
        present = [name for name in columns if name in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(batch_size=rows, columns=present):
            yield pa.Table.from_batches([batch]).to_pandas()


class _Multipart(Protocol):
    """The multipart calls of a boto3 S3 client (``S3Client`` lists the others)."""

    def create_multipart_upload(self, **kwargs: Any) -> S3Response: ...
    def upload_part(self, **kwargs: Any) -> S3Response: ...
    def complete_multipart_upload(self, **kwargs: Any) -> S3Response: ...
    def abort_multipart_upload(self, **kwargs: Any) -> S3Response: ...


class DeliveryFile:
    """The delivery rows of a run spilled to a temporary folder, and their counts; see the
    module's docstring. ``upload`` writes the file; ``close`` removes the folder."""

    def __init__(self, folder: tempfile.TemporaryDirectory[str], counts: dict[str, Any]) -> None:
        self._folder = folder
        self.counts = counts
        #: segment → (spill file, record batch) of its rows, spill files in batch order.
        self._where: dict[str, list[tuple[int, int]]] = {}
        self._spills: list[Path] = []

    def _spill(self, rows: pd.DataFrame, first: int, links: Mapping[str, str]) -> None:
        """Write one batch's rows as CSV lines with their sort keys (``first``: the number of
        rows before it, which orders equal keys as the in-memory sort does), one record
        batch per segment."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        if not len(rows):
            return
        text = pa.large_string()  # one schema for every spill file
        table = pa.table(
            {
                **{
                    name: pa.array(rows[name], from_pandas=True).cast(text)
                    for name in ("segment", "channel", "supporter_id")
                },
                "order": np.arange(first, first + len(rows)),
                "line": csv_lines(with_links(rows, links)).cast(text),
            }
        )
        # Grouped by segment (a stable sort of the segments' codes); each segment's rows are
        # sorted by channel and supporter when the file is merged.
        encoded = pc.dictionary_encode(table.column("segment")).combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        (batch,) = table.take(np.argsort(codes, kind="stable")).combine_chunks().to_batches()
        sizes = np.bincount(codes, minlength=len(encoded.dictionary))
        starts = np.cumsum(sizes) - sizes
        path = Path(self._folder.name) / f"{len(self._spills):05d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            for index, (segment, code) in enumerate(
                sorted((name, code) for code, name in enumerate(encoded.dictionary.to_pylist()))
            ):
                writer.write_batch(batch.slice(int(starts[code]), int(sizes[code])))
                self._where.setdefault(segment, []).append((len(self._spills), index))
        self._spills.append(path)

    def _segments(self) -> Iterator[bytes]:
        """The file's bytes, segment by segment in its order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        yield csv_header()
        files = [pa.OSFile(str(path), "rb") for path in self._spills]
        try:
            readers = [pa.ipc.open_file(file) for file in files]
            for segment in sorted(self._where):
                table = pa.Table.from_batches(
                    [readers[spill].get_batch(index) for spill, index in self._where[segment]]
                )
                keys = [("channel", "ascending"), ("supporter_id", "ascending")]
                table = table.take(
                    pc.sort_indices(table, sort_keys=[*keys, ("order", "ascending")])
                )
                yield csv_body(table.column("line").combine_chunks())
        finally:
            for file in files:
                file.close()

    def upload(self, client: S3Client, bucket: str, edition: date, run: str) -> int:
        """Write the file and its counts under the run's key in ``bucket``; its size."""
        key = delivery_key(edition, run)
        size = _stream(client, bucket, key, self._segments())
        _put_json(
            client,
            bucket,
            key.replace(".csv", ".json"),
            {"edition": edition.isoformat(), "run": run, **self.counts},
        )
        return size

    def close(self) -> None:
        self._folder.cleanup()


def spill_delivery(
    audience: Audience, links: Mapping[str, str], *, hooks: Sequence[RowHook] = ()
) -> DeliveryFile:
    """First pass (see the module's docstring): ``links``, each segment with a page tonight
    → its link."""
    who = supporter_pages(audience.assignments(), audience.memberships(), links)
    counter = DeliveryCounts()
    delivery = DeliveryFile(tempfile.TemporaryDirectory(prefix="matinale-delivery-"), {})
    written = 0
    try:
        for contacts in audience.contacts():
            rows = batch_rows(contacts, who, counter, hooks)
            delivery._spill(rows, written, links)
            written += len(rows)
    except BaseException:
        delivery.close()
        raise
    delivery.counts = counter.as_dict()
    return delivery


def deliver_in_background(
    audience: Audience | tuple[Any, ...],
    links: Mapping[str, str],
    target: tuple[S3Client, str, date, str],
    *,
    hooks: Sequence[RowHook] = (),
) -> Future[tuple[dict[str, Any], int]]:
    """The whole delivery file on a thread of its own, while the caller goes on (publish
    uploads the bundle meanwhile: Arrow and pandas release the GIL for most of the work,
    and the uploads mostly wait on the network): ``spill_delivery``, then
    ``DeliveryFile.upload`` to ``target`` (client, bucket, edition, run), then the spill
    folder removed whatever happens. The future gives the counts and the file's size.

    ``audience`` may be frames (``Audience.from_frames``). The caller must let the future
    finish before removing a failed run's objects, or the thread could write after them.
    """
    from concurrent.futures import ThreadPoolExecutor

    people = Audience.from_frames(*audience) if isinstance(audience, tuple) else audience

    def deliver() -> tuple[dict[str, Any], int]:
        delivery = spill_delivery(people, links, hooks=hooks)
        try:
            return delivery.counts, delivery.upload(*target)
        finally:
            delivery.close()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matinale-delivery")
    try:
        return pool.submit(deliver)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


def _stream(client: S3Client, bucket: str, key: str, chunks: Iterable[bytes]) -> int:
    """Send ``chunks`` as one object: a multipart upload in ``PART_BYTES`` parts when they
    add up to more than one part (aborted if anything fails), else one ``put_object``."""
    buffer = bytearray()
    size = 0
    upload: str | None = None
    parts: list[dict[str, Any]] = []
    multipart = cast(_Multipart, client)
    try:
        for chunk in chunks:
            buffer += chunk
            size += len(chunk)
            while len(buffer) >= 2 * PART_BYTES:
                if upload is None:
                    upload = multipart.create_multipart_upload(
                        Bucket=bucket, Key=key, ContentType=_CONTENT_TYPE
                    )["UploadId"]
                part = bytes(buffer[:PART_BYTES])
                del buffer[:PART_BYTES]
                answer = multipart.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload, PartNumber=len(parts) + 1, Body=part
                )
                parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
        if upload is None:
            client.put_object(Bucket=bucket, Key=key, Body=bytes(buffer), ContentType=_CONTENT_TYPE)
            return size
        answer = multipart.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=len(parts) + 1, Body=bytes(buffer)
        )
        parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
        multipart.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        if upload is not None:
            try:
                multipart.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
            except Exception:  # the upload's own error is the one to raise
                log.warning("Could not abort the multipart upload of s3://%s/%s", bucket, key)
        raise
    return size
