"""RSA key pairs for key-pair login tests, in the forms Snowflake users handle them."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class KeyPair:
    private_key: rsa.RSAPrivateKey
    private_pem: str  # what goes into the Vault secret's private_key (encrypted if a passphrase was given)
    public_der: bytes

    @property
    def public_key_body(self) -> str:
        """The base64 body of the PEM public key: what ALTER USER .. SET RSA_PUBLIC_KEY takes."""
        pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "".join(line for line in pem.decode().splitlines() if not line.startswith("-----"))

    @property
    def private_der(self) -> bytes:
        """Unencrypted PKCS#8 DER: what the connector's private_key option takes."""
        return self.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def new_key_pair(passphrase: str | None = None) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(key, pem.decode(), public_der)
