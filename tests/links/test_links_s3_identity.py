"""The link service's own S3 identity on a real SeaweedFS: it reads pages, pointers and the
link state, and is refused the private bucket (the delivery files) and every write."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from matinale.dev.s3_credentials import S3Credentials, link_service_identity
from matinale.dev.seaweed import SeaweedS3
from matinale.links import LinkState
from matinale.publish import make_client

pytestmark = pytest.mark.s3

BUNDLE, STATE, PRIVATE = "ident-bundle", "ident-state", "ident-private"


def _denied(call: object, *args: object, **kwargs: object) -> bool:
    try:
        call(*args, **kwargs)  # type: ignore[operator]
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "AccessDenied"
    return False


def test_the_link_identity_reads_the_bundle_and_its_prefix_only(tmp_path: Path) -> None:
    keys = S3Credentials.generate()
    # Link state in a bucket of its own (one prefix of it); the default keeps it in the
    # bundle bucket, which the identity reads whole.
    identities = (link_service_identity(keys, BUNDLE, STATE, "links/"),)
    with SeaweedS3(tmp_path / "s3", S3Credentials.generate(), identities=identities) as server:
        server.ensure_buckets(BUNDLE, STATE, PRIVATE)
        admin = server.client()
        page = "editions/2026-11-24/run1/s01/index.html"
        admin.put_object(Bucket=BUNDLE, Key=page, Body=b"<p>page</p>")
        admin.put_object(Bucket=PRIVATE, Key="delivery/2026-11-24/run1/delivery.csv", Body=b"x")
        admin.put_object(Bucket=STATE, Key="other/secret.json", Body=b"{}")
        LinkState(admin, BUNDLE).ensure_tokens(["s01"])
        LinkState(admin, STATE).ensure_tokens(["s01"])

        links = make_client(server.endpoint_url, keys.access_key, keys.secret_key)
        assert links.get_object(Bucket=BUNDLE, Key=page)["Body"].read() == b"<p>page</p>"
        assert set(LinkState(links, BUNDLE).tokens().values()) == set(
            LinkState(admin, BUNDLE).tokens().values()
        )
        assert LinkState(links, STATE).tokens()  # the state prefix of another bucket
        assert LinkState(links, BUNDLE).list_keys("tables") == []  # listing works
        assert _denied(links.get_object, Bucket=STATE, Key="other/secret.json")
        assert _denied(
            links.get_object, Bucket=PRIVATE, Key="delivery/2026-11-24/run1/delivery.csv"
        )
        assert _denied(links.list_objects_v2, Bucket=PRIVATE)
        assert _denied(links.put_object, Bucket=BUNDLE, Key="latest.json", Body=b"{}")
        assert _denied(links.put_object, Bucket=STATE, Key="links/tokens.json", Body=b"{}")
        assert _denied(links.delete_object, Bucket=BUNDLE, Key=page)
