"""A local S3-compatible server for the tests (moto's, in this process, on a free
port of 127.0.0.1): nothing reaches the internet. The fixture `s3_server` is
registered for every test by `pytest_plugins` in tests/conftest.py."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class S3:
    endpoint: str
    region: str = "us-east-1"
    access_key_id: str = "test-key"
    secret_access_key: str = "test-secret"

    def new_bucket(self) -> str:
        import boto3

        name = "media-" + secrets.token_hex(4)
        client = boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                              aws_access_key_id=self.access_key_id,
                              aws_secret_access_key=self.secret_access_key)
        client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                              aws_access_key_id=self.access_key_id,
                              aws_secret_access_key=self.secret_access_key)
        return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3]:
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3(f"http://{host}:{port}")
    finally:
        server.stop()
