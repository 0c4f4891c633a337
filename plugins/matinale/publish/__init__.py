"""Publish a bundle to S3 atomically, promote it, roll it back, list editions.

Readers only ever follow ``latest.json`` → ``editions/<date>/current.json`` → a run prefix,
so nobody sees half a bundle: until the pointers move, the previous run is served.

Publishing one run, in order (``stage.publish_bundle``):

1. check the credentials and buckets once (one clear error, not a stack of retries; ``s3``);
2. re-render the pages with presigned links (``presign``: the bucket is private and relative
   links do not survive presigned URLs), and build the private delivery file's rows
   (``delivery``);
3. run every pre-publish check (``matinale.checks``) on the exact bytes to publish: nothing
   with personal data ever reaches S3, not even under an unpromoted prefix. The files the
   checks stage passed and that are byte for byte unchanged are not scanned again (see
   ``publish_bundle``); the pages, re-rendered here, and compliance.json always are;
4. upload everything under ``editions/<date>/<run>/``, manifest last, each object with the
   SHA-256 of the manifest, which the server verifies before storing it, then list the run's
   objects and compare each size and ETag with what its upload answered (a server that does
   not confirm the checksum has its objects read back and compared with the manifest;
   ``upload``);
5. write the delivery file to the private bucket (under the run's own key; ``delivery``);
6. write ``editions/<date>/current.json``, then ``latest.json`` last (only if this edition is
   not older than the one it names), then the delivery pointer and a history event
   (``pointers``, which also lists editions and rolls back).

Any failure before step 6 leaves both pointers as they were, and the run's objects are
removed (when S3 is down they stay: ``matinale retention`` removes runs never promoted,
``expiry``); a rerun publishes a new run. A failure between the two pointer writes puts
back what was written or says exactly which pointer moved (``moves``; ``matinale editions``
flags a split); a retry of the run, or the next run, completes the move. A retry of a run
whose pointers already moved re-uploads nothing (idempotent).
Takes a boto3 client; ``matinale.airflow`` builds it from the ``aws_default`` connection.
"""

from matinale.publish.delivery import DELIVERY, DELIVERY_COLUMNS, delivery_key, delivery_rows
from matinale.publish.pointers import (
    HISTORY,
    LATEST,
    current_key,
    edition_prefix,
    list_editions,
    promote,
    resolve_target,
    rollback,
    split_pointers,
)
from matinale.publish.presign import Presigner, latest_links, signing_client
from matinale.publish.s3 import (
    PublishError,
    S3AccessError,
    check_access,
    make_client,
    read_pointer,
    retry_config,
)
from matinale.publish.stage import PublishConfig, publish_bundle

__all__ = [
    "DELIVERY",
    "DELIVERY_COLUMNS",
    "HISTORY",
    "LATEST",
    "Presigner",
    "PublishConfig",
    "PublishError",
    "S3AccessError",
    "check_access",
    "current_key",
    "delivery_key",
    "delivery_rows",
    "edition_prefix",
    "latest_links",
    "signing_client",
    "list_editions",
    "make_client",
    "promote",
    "publish_bundle",
    "read_pointer",
    "resolve_target",
    "retry_config",
    "rollback",
    "split_pointers",
]
