"""Production Kafka settings reach every client the kit builds: TLS, SASL, group names."""

from __future__ import annotations

import ssl
from typing import Any

import certifi
import pytest
from pydantic import ValidationError

from services.common.bus import connection_options, make_consumer, make_producer, make_reader
from services.common.settings import Settings

SASL_SSL: dict[str, Any] = {
    "kafka_bootstrap": "kafka-1:9093,kafka-2:9093",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "singlewindow",
    "kafka_sasl_password": "s3cret",
    "kafka_ssl_cafile": certifi.where(),
}


def test_sasl_without_credentials_is_refused_naming_the_settings() -> None:
    with pytest.raises(ValidationError, match="SW_KAFKA_SASL_USERNAME and SW_KAFKA_SASL_PASSWORD"):
        Settings(kafka_security_protocol="SASL_SSL")


def test_plaintext_needs_no_tls_context_nor_sasl() -> None:
    options = connection_options(Settings(kafka_bootstrap="k:9092"))
    assert options == {"bootstrap_servers": "k:9092", "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_options_carry_the_mechanism_the_credentials_and_the_ca() -> None:
    settings = Settings(**SASL_SSL)
    options = connection_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "singlewindow"
    assert options["sasl_plain_password"] == "s3cret"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert context.cert_store_stats()["x509_ca"] > 0  # the CA file was loaded
    assert "s3cret" not in repr(settings)  # the password is a secret: never printed


async def test_producer_consumers_and_readers_are_built_with_them() -> None:
    settings = Settings(**SASL_SSL, kafka_group_prefix="prod-")
    producer = make_producer(settings)
    consumer = make_consumer(settings, ["sw.customs.commands"], group=settings.group_of("customs"))
    reader = make_reader(settings)
    for client in (producer.client, consumer._client, reader._client):
        assert client._bootstrap_servers == "kafka-1:9093,kafka-2:9093"
        assert client._security_protocol == "SASL_SSL"
        assert client._sasl_mechanism == "SCRAM-SHA-512"
        assert client._sasl_plain_username == "singlewindow"
        assert isinstance(client._ssl_context, ssl.SSLContext)
    assert consumer._group_id == "prod-customs"
    assert reader._group_id is None
