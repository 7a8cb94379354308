"""Debian's nginx for the deploy tests: a self-signed certificate, a main config around the
site file in a temp prefix (its own pid file and logs), and the site rewritten to loopback."""

from __future__ import annotations

import datetime
import os
import re
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
)
SERVER_NAME = "taskflow.example.com"


def self_signed_certificate(directory: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def nginx_config(prefix: Path, site: str, *, foreground: bool = False) -> Path:
    """nginx.conf in `prefix`: its own pid file, logs and temp paths, then the site file."""
    (prefix / "site.conf").write_text(site)
    for name in ("logs", "temp"):
        (prefix / name).mkdir(exist_ok=True)
    lines = [
        f"pid {prefix}/nginx.pid;",
        f"error_log {prefix}/logs/error.log;",
        "worker_processes 1;",
        *(["daemon off;"] if foreground else []),
        # as root, workers would be `nobody`, who cannot enter pytest's 0700 temp directories
        *(["user root root;"] if os.geteuid() == 0 else []),
        "events { worker_connections 256; }",
        "http {",
        f"    access_log {prefix}/logs/access.log;",
        *(
            f"    {kind}_temp_path {prefix}/temp/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        f"    include {prefix}/site.conf;",
        "}",
    ]
    config = prefix / "nginx.conf"
    config.write_text("\n".join(lines) + "\n")
    return config


def site_on_loopback(site: str, *, http_port: int, https_port: int, upstream_port: int) -> str:
    """The real site file, listening on loopback ports and proxying to a test TaskFlow."""
    site = re.sub(r"^\s*listen \[::\]:.*$\n", "", site, flags=re.M)
    site = re.sub(r"listen 80;", f"listen 127.0.0.1:{http_port};", site)
    site = re.sub(r"listen 443 ", f"listen 127.0.0.1:{https_port} ", site)
    return site.replace(
        "server unix:/run/taskflow/taskflow.sock;", f"server 127.0.0.1:{upstream_port};"
    )
