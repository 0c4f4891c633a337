"""Shim: moved to matinale.dev.seaweed; removed once every import is updated."""

from matinale.dev.seaweed import REGION, S3Credentials, S3ServerError, SeaweedS3

__all__ = ["REGION", "S3Credentials", "S3ServerError", "SeaweedS3"]
