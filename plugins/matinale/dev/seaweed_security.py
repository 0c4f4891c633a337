"""Credentials for SeaweedFS's own ports, generated at each start: no side door to storage.

Only the S3 gateway should answer, and only to the S3 keys. Without this, the filer's HTTP
port lists, reads, writes and deletes every object of every bucket for any local process, and
the master's HTTP port assigns writes and deletes whole collections (buckets). SeaweedFS's
``security.toml`` closes them; :func:`write_security` writes one into a private folder, to be
handed to ``weed -config_dir=<folder>``:

* the master, volume and filer HTTP ports serve HTTPS only and require a client certificate
  signed by a CA made for this start (``[https.*]`` with ``ca``); weed's own components
  present ``[https.client]``;
* every gRPC port requires mutual TLS with the same CA (``[grpc.*]``, ``[grpc.client]``);
* JWT signing keys: writes and reads on volume servers need a token the master signs
  (``jwt.signing``), writes and reads on the filer's HTTP API a token only holders of
  ``jwt.filer_signing`` can make (the S3 gateway);
* the filer UI and directory metadata are off.

The CA's private key is never written: once the one node certificate is signed, nothing can
issue another. The node certificate serves every component (SeaweedFS does not check host
names on gRPC; HTTPS clients check the names in ``hosts``). Run
``python -m matinale.dev.seaweed_security <folder> [--mounted-at <path>] [--host <name>]``
to write the same for a container (docker-compose.yml's ``s3-security`` step).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import secrets
import shutil
import ssl
from collections.abc import Sequence
from pathlib import Path

from matinale.dev.s3_credentials import _write_private

__all__ = [
    "CA_FILE",
    "CERT_FILE",
    "KEY_FILE",
    "SECURITY_FILE",
    "certificate_hosts",
    "client_tls_context",
    "write_security",
]

SECURITY_FILE = "security.toml"
CA_FILE = "ca.crt"
CERT_FILE = "node.crt"
KEY_FILE = "node.key"
_VALIDITY = dt.timedelta(days=397)
_DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")
# Every gRPC section weed reads as a server; each one requires a client certificate.
_GRPC_COMPONENTS = (
    "master",
    "volume",
    "filer",
    "s3",
    "msg_broker",
    "msg_agent",
    "admin",
    "worker",
    "mq",
)
_HTTPS_COMPONENTS = ("master", "volume", "filer")
# A JWT lives long enough for one chunk transfer between weed's components.
_JWT_SECONDS = 10


def write_security(
    folder: Path, *, hosts: Sequence[str] = _DEFAULT_HOSTS, mounted_at: str | None = None
) -> Path:
    """Write fresh keys, a CA and one node certificate, and ``security.toml`` into ``folder``.

    ``folder`` is emptied first and made 0700, every file 0600. ``mounted_at`` is where the
    folder is seen by ``weed`` when that differs (a container's mount point). Returns the path
    of ``security.toml``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    # Emptied, not replaced: in a container the folder is a volume's mount point.
    for item in folder.iterdir():
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()
    ca_pem, cert_pem, key_pem = _certificates(hosts)
    _write_private(folder / CA_FILE, ca_pem)
    _write_private(folder / CERT_FILE, cert_pem)
    _write_private(folder / KEY_FILE, key_pem)
    seen = Path(mounted_at) if mounted_at else folder.resolve()
    path = folder / SECURITY_FILE
    _write_private(path, _toml(seen))
    return path


def certificate_hosts(host: str) -> tuple[str, ...]:
    """The names weed's HTTPS ports are reached at: ``host`` and loopback's."""
    return tuple(dict.fromkeys([host, "127.0.0.1", "localhost"]))


def client_tls_context(folder: Path) -> ssl.SSLContext:
    """A TLS client context trusting ``folder``'s CA and showing its node certificate."""
    context = ssl.create_default_context(cafile=str(folder / CA_FILE))
    context.load_cert_chain(folder / CERT_FILE, folder / KEY_FILE)
    return context


def _toml(seen: Path) -> str:
    ca, cert, key = (str(seen / name) for name in (CA_FILE, CERT_FILE, KEY_FILE))
    lines = [
        "# Generated at each start by matinale.dev.seaweed_security; do not edit.",
        "[jwt.signing]",
        f'key = "{secrets.token_urlsafe(32)}"',
        f"expires_after_seconds = {_JWT_SECONDS}",
        "[jwt.signing.read]",
        f'key = "{secrets.token_urlsafe(32)}"',
        f"expires_after_seconds = {_JWT_SECONDS}",
        "[jwt.filer_signing]",
        f'key = "{secrets.token_urlsafe(32)}"',
        f"expires_after_seconds = {_JWT_SECONDS}",
        "[jwt.filer_signing.read]",
        f'key = "{secrets.token_urlsafe(32)}"',
        f"expires_after_seconds = {_JWT_SECONDS}",
        "[access]",
        "ui = false",
        "[filer.expose_directory_metadata]",
        "enabled = false",
        "[grpc]",
        f'ca = "{ca}"',
    ]
    for component in _GRPC_COMPONENTS:
        lines += [f"[grpc.{component}]", f'cert = "{cert}"', f'key = "{key}"']
    lines += ["[grpc.client]", f'cert = "{cert}"', f'key = "{key}"']
    lines += [
        "[https.client]",
        "enabled = true",
        f'cert = "{cert}"',
        f'key = "{key}"',
        f'ca = "{ca}"',
    ]
    for component in _HTTPS_COMPONENTS:
        lines += [f"[https.{component}]", f'cert = "{cert}"', f'key = "{key}"', f'ca = "{ca}"']
    return "\n".join(lines) + "\n"


def _certificates(hosts: Sequence[str]) -> tuple[str, str, str]:
    """A throwaway CA and one node certificate (server and client) for ``hosts``: PEM texts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "matinale seaweedfs ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    node_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    node = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "matinale seaweedfs")]))
        .issuer_name(ca_name)
        .public_key(node_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = node_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (
        ca.public_bytes(pem).decode(),
        node.public_bytes(pem).decode(),
        key_pem.decode(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write a fresh ``security.toml`` and certificates (for a container's init step)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--mounted-at", help="where weed sees the folder (default: the folder)")
    parser.add_argument(
        "--host",
        action="append",
        dest="hosts",
        help="a name or address the HTTPS ports are reached at (repeat; default: loopback)",
    )
    parser.add_argument(
        "--owner", type=int, help="uid that must own the files (the weed process's)"
    )
    args = parser.parse_args(argv)
    hosts = tuple(args.hosts or _DEFAULT_HOSTS)
    path = write_security(args.folder, hosts=hosts, mounted_at=args.mounted_at)
    if args.owner is not None:
        for item in [args.folder, *args.folder.iterdir()]:
            os.chown(item, args.owner, -1)
    print(f"wrote {path} and certificates for {', '.join(hosts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
