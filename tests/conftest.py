"""Shared fixtures: a real S3 endpoint (moto's standalone server over HTTP on 127.0.0.1).

No in-process patching: boto3 talks HTTP to the server, as it would to S3 or MinIO, so
endpoint handling, signing, pagination and error codes are exercised for real.
"""

from __future__ import annotations

import logging
import os
import uuid

# The suite tests the tokenizers numba compiles, whatever kernels were built ahead of time in this
# checkout (by make bench-week); tests/test_tokenizer_aot.py builds and tests those on its own.
os.environ["INGRESS_AUDIT_TOKENIZER_AOT"] = "off"

import boto3
import pytest
from moto.server import ThreadedMotoServer

# The environment every S3 test sees: fake credentials, a region, the moto endpoint, and no
# way to pick up a developer's real profile, config files or an instance role.
_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_RETRY_MODE",
    "AWS_MAX_ATTEMPTS",
    "INGRESS_AUDIT_S3_PATH_STYLE",
)


@pytest.fixture(scope="session")
def s3_server():
    """The endpoint URL of a moto S3 server, started once per session (per xdist worker).

    For the session, the environment points boto3 at it with fake credentials (so code under
    test that builds its own client finds the server); it is restored when the session ends.
    Tests that need a different environment use `monkeypatch`, which restores it per test.
    """
    # One access-log line per request would bury a failing test's own log output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _FAKE_AWS_ENV.items():
            mp.setenv(name, value)
        for name in _UNSET:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        try:
            yield endpoint
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_server):
    """A boto3 S3 client talking HTTP to the moto server (clients are thread-safe)."""
    return boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket(s3_client):
    """A fresh, empty bucket per test: the server lives for the session, so names never repeat."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name
