"""SeaweedFS's security.toml and certificates: fresh at each start, private, complete."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from matinale.dev.seaweed_security import main, write_security
from matinale.dev.stack import AIRFLOW_COMPONENTS, LOG_SERVERS, NativeStack


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_security_files_are_private_and_complete(tmp_path: Path) -> None:
    folder = tmp_path / "security"
    path = write_security(folder, hosts=("127.0.0.1", "s3"))
    assert _mode(folder) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == [
        "ca.crt",
        "node.crt",
        "node.key",
        "security.toml",
    ]
    assert all(_mode(p) == 0o600 for p in folder.iterdir())
    config = tomllib.loads(path.read_text())
    for section in ("signing", "filer_signing"):
        assert len(config["jwt"][section]["key"]) >= 32
        assert len(config["jwt"][section]["read"]["key"]) >= 32
    keys = {config["jwt"]["signing"]["key"], config["jwt"]["filer_signing"]["key"]}
    assert len(keys) == 2, "each signing key is its own"
    ca = str(folder.resolve() / "ca.crt")
    assert config["grpc"]["ca"] == ca
    for component in ("master", "volume", "filer", "s3", "client"):
        assert config["grpc"][component]["cert"] == str(folder.resolve() / "node.crt")
    for component in ("master", "volume", "filer"):
        # With a CA, weed's HTTPS ports require a client certificate it signed.
        assert config["https"][component]["ca"] == ca
    assert config["https"]["client"]["enabled"] is True
    assert config["filer"]["expose_directory_metadata"]["enabled"] is False
    assert config["access"]["ui"] is False


def test_the_node_certificate_is_signed_by_a_ca_whose_key_is_gone(tmp_path: Path) -> None:
    folder = tmp_path / "security"
    write_security(folder, hosts=("127.0.0.1", "s3"))
    ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    node = x509.load_pem_x509_certificate((folder / "node.crt").read_bytes())
    node.verify_directly_issued_by(ca)
    usages = node.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
    names = node.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "s3" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert b"PRIVATE KEY" not in b"".join(
        p.read_bytes() for p in folder.iterdir() if p.name != "node.key"
    )


def test_each_start_makes_new_keys_in_the_same_folder(tmp_path: Path) -> None:
    folder = tmp_path / "security"
    write_security(folder)
    (folder / "left-over").write_text("x")
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    # The folder itself stays (a container's mount point); its content is replaced.
    inode = folder.stat().st_ino
    write_security(folder)
    second = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert folder.stat().st_ino == inode
    assert "left-over" not in second
    assert all(first[name] != second[name] for name in second)


def test_main_writes_for_a_container_mount(tmp_path: Path) -> None:
    folder = tmp_path / "volume"
    assert main([str(folder), "--mounted-at", "/etc/seaweedfs/security", "--host", "s3"]) == 0
    config = tomllib.loads((folder / "security.toml").read_text())
    assert config["grpc"]["ca"] == "/etc/seaweedfs/security/ca.crt"
    assert config["https"]["filer"]["key"] == "/etc/seaweedfs/security/node.key"


def test_the_stack_starts_no_log_server_on_every_interface(tmp_path: Path) -> None:
    for name in ("scheduler", "triggerer", "worker"):
        assert "--skip-serve-logs" in AIRFLOW_COMPONENTS[name], name
    assert "serve" not in " ".join(AIRFLOW_COMPONENTS["dag-processor"])
    stack = NativeStack(Path(__file__).resolve().parents[3], root=tmp_path / "stack")
    for name, port_name in LOG_SERVERS.items():
        stack.ports[port_name] = 8793
        argv = stack.log_server_argv(name)
        assert argv[argv.index("--host") + 1] == "127.0.0.1"
        assert argv[argv.index("--port") + 1] == "8793"


def test_client_context_trusts_the_ca_and_shows_the_node_certificate(tmp_path: Path) -> None:
    import ssl

    from matinale.dev.seaweed_security import certificate_hosts, client_tls_context

    folder = tmp_path / "security"
    write_security(folder, hosts=certificate_hosts("127.0.0.1"))
    context = client_tls_context(folder)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "matinale seaweedfs ca"),),)
    ]
    assert certificate_hosts("s3") == ("s3", "127.0.0.1", "localhost")
