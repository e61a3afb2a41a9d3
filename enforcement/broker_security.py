"""How every Kafka client authenticates to the broker and encrypts its traffic (`ZES_KAFKA_*`).

One setting for all three client libraries: kafka-python (the edge publisher, the case intake,
the flows sink), aiokafka under Faust (the stream workers). `PLAINTEXT` is the default for the
embedded Tansu broker of `zes up` and the tests; a deployment sets `SASL_SSL` with SCRAM
(`ZES_KAFKA_SECURITY_PROTOCOL=SASL_SSL`, `ZES_KAFKA_SASL_USERNAME`, `ZES_KAFKA_SASL_PASSWORD`,
`ZES_KAFKA_SSL_CAFILE`) or `SSL` with a client certificate (mTLS: `ZES_KAFKA_SSL_CERTFILE`,
`ZES_KAFKA_SSL_KEYFILE`). See deploy/README.md, "Broker authentication and TLS".

The mapping to each library's keywords is here, pure; the libraries are imported by the
callers only.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

from enforcement.settings import load_role_settings, role_settings_config

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]


class BrokerSecurity(BaseSettings):
    model_config = role_settings_config("ZES_KAFKA_")

    security_protocol: Protocol = Field(
        "PLAINTEXT",
        description="PLAINTEXT (embedded broker on loopback only), SSL (TLS; with a client "
        "certificate: mTLS), SASL_SSL (SCRAM over TLS: production) or SASL_PLAINTEXT.",
    )
    sasl_mechanism: Mechanism = Field(
        "SCRAM-SHA-512",
        description="SASL mechanism for SASL_*: SCRAM-SHA-512 or SCRAM-SHA-256; PLAIN only "
        "over SASL_SSL (it sends the password itself).",
    )
    sasl_username: str | None = Field(None, description="SASL user of this process.")
    sasl_password: SecretStr | None = Field(None, description="SASL password of that user.")
    ssl_cafile: Path | None = Field(
        None, description="PEM file of the CA that signed the broker's certificate "
        "(default: the system's trust store).",
    )  # fmt: skip
    ssl_certfile: Path | None = Field(
        None, description="PEM client certificate for mTLS (with ssl_keyfile)."
    )
    ssl_keyfile: Path | None = Field(None, description="PEM private key of ssl_certfile.")
    ssl_check_hostname: bool = Field(
        True, description="Check that the broker's certificate names the host dialled."
    )

    @model_validator(mode="after")
    def _consistent(self) -> BrokerSecurity:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and not (self.sasl_username and self.sasl_password):
            raise ValueError(
                f"{self.security_protocol} needs ZES_KAFKA_SASL_USERNAME and "
                "ZES_KAFKA_SASL_PASSWORD"
            )
        if self.sasl_mechanism == "PLAIN" and self.security_protocol == "SASL_PLAINTEXT":
            raise ValueError("SASL PLAIN sends the password in clear: use SASL_SSL or SCRAM")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("a client certificate needs both ssl_certfile and ssl_keyfile")
        if self.ssl_certfile is not None and not self.tls:
            raise ValueError("a client certificate needs security_protocol SSL or SASL_SSL")
        return self

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of aiokafka and Faust (None without TLS)."""
        if not self.tls:
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None
        )
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile is not None and self.ssl_keyfile is not None:
            context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile))
        return context

    def _protocol_and_sasl(self) -> dict[str, Any]:
        """The keywords kafka-python and aiokafka name alike: the protocol and the SASL
        login (they differ only in how TLS is given)."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.sasl:
            assert self.sasl_password is not None
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        return options

    def kafka_python(self) -> dict[str, Any]:
        """Keywords for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
        options = self._protocol_and_sasl()
        if self.tls:
            options["ssl_check_hostname"] = self.ssl_check_hostname
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                value = getattr(self, name)
                if value is not None:
                    options[name] = str(value)
        return options

    def aiokafka(self) -> dict[str, Any]:
        """Keywords for aiokafka's clients (Faust's `broker_credentials` maps to the same)."""
        options = self._protocol_and_sasl()
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        return options


def load_broker_security(**overrides: Any) -> BrokerSecurity:
    return load_role_settings(BrokerSecurity, **overrides)
