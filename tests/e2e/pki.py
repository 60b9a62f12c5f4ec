"""Test credentials minted on the fly: a CA with server and client certificates and a CRL, an
untrusted CA, and an OIDC issuer's signing keys with their JWKS."""

import base64
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.timezone.utc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "scif tests"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class CA:
    def __init__(self, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, cn: str, *, email: str | None = None, server: bool = False):
        key = ec.generate_private_key(ec.SECP256R1())
        sans = []
        if server:
            sans = [x509.DNSName("localhost"), x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
        if email:
            sans.append(x509.RFC822Name(email))
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=10))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        )
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return key, b.sign(self.key, hashes.SHA256())

    def crl(self, revoked_certs) -> bytes:
        b = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.name)
            .last_update(NOW - dt.timedelta(hours=1))
            .next_update(NOW + dt.timedelta(days=7))
            .add_extension(x509.CRLNumber(1), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        for c in revoked_certs:
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(c.serial_number).revocation_date(NOW - dt.timedelta(minutes=5)).build())
        return b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def write_pair(d: Path, name: str, key, cert) -> tuple[str, str]:
    c, k = d / f"{name}.crt", d / f"{name}.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(_pem_key(key))
    return str(c), str(k)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """An OIDC issuer: RS256, ES256 and EdDSA keys, and a look-alike key that is not in the JWKS."""

    ISS = "https://idp.example.mil"
    AUD = "scif"

    def __init__(self):
        self.keys = {
            "rsa1": ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "ec1": ("ES256", ec.generate_private_key(ec.SECP256R1())),
            "ed1": ("EdDSA", ed25519.Ed25519PrivateKey.generate()),
        }
        self.impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> str:
        out = []
        for kid, (alg, key) in self.keys.items():
            if alg == "RS256":
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            elif alg == "ES256":
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
            else:
                jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "alg": alg, "use": "sig"})
            out.append(jwk)
        return json.dumps({"keys": out})

    def claims(self, **over):
        now = int(NOW.timestamp()) if False else int(dt.datetime.now(dt.timezone.utc).timestamp())
        c = {"iss": self.ISS, "aud": self.AUD, "sub": "oidc-user", "iat": now, "nbf": now - 5, "exp": now + 600}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def token(self, kid="rsa1", key=None, headers=None, **claims) -> str:
        alg, own = self.keys[kid]
        return jwt.encode(self.claims(**claims), key or own, algorithm=alg, headers={"kid": kid, **(headers or {})})

    def alg_none(self, **claims) -> str:
        header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa1"}).encode())
        return f"{header}.{b64(json.dumps(self.claims(**claims)).encode())}."

    def hs256_with_public_key(self, **claims) -> str:
        """Algorithm confusion: HMAC keyed with the RSA public key the verifier trusts."""
        pub = self.keys["rsa1"][1].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa1"}).encode())
        body = b64(json.dumps(self.claims(**claims)).encode())
        sig = hmac.new(pub, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{b64(sig)}"
