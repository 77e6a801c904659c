"""TLS for the local backend: a self-signed certificate for localhost, or the caller's own.

Some clients only speak TLS to a realtime server: the OpenAI Node SDK's ``OpenAIRealtimeWS`` and
the Python SDK's beta realtime client always dial ``wss://``. ``audiolab serve --tls`` therefore
makes a private certificate authority and a certificate for ``localhost``, ``127.0.0.1`` and
``::1`` with `trustme <https://trustme.readthedocs.io>`_, keeps them in ``cache_dir/tls`` and
reuses them until a month before they expire. A client trusts the server by trusting that CA:
``NODE_EXTRA_CA_CERTS=<cache_dir>/tls/ca.pem`` for Node, ``ssl.create_default_context(cafile=...)``
for Python. The CA's private key is never written: nothing else can be signed with it.

Example:
    >>> from pathlib import Path; import tempfile
    >>> files = localhost_certificate(Path(tempfile.mkdtemp()))
    >>> files.ca.name, files.certfile.name, files.keyfile.name
    ('ca.pem', 'localhost.pem', 'localhost-key.pem')
"""

from __future__ import annotations

import datetime as _dt
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from audiolab.errors import InvalidRequest

__all__ = ["TlsFiles", "localhost_certificate", "user_certificate", "client_context", "HOSTNAMES"]

#: Names the generated certificate is valid for.
HOSTNAMES = ("localhost", "127.0.0.1", "::1")
_VALID_DAYS = 397  # within what browsers accept for a leaf certificate
_RENEW_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS server.

    Attributes:
        certfile: the server certificate (chain).
        keyfile: its private key.
        ca: the certificate a client must trust, or None when the certificate is the caller's own.
    """

    certfile: Path
    keyfile: Path
    ca: Path | None = None


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if private:
            os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fresh(cert: Path) -> bool:
    from cryptography import x509

    try:
        not_after = x509.load_pem_x509_certificate(cert.read_bytes()).not_valid_after_utc
    except (OSError, ValueError):
        return False
    return not_after - _dt.datetime.now(_dt.UTC) > _dt.timedelta(days=_RENEW_DAYS)


def localhost_certificate(directory: Path) -> TlsFiles:
    """A CA and a certificate for localhost in ``directory``, made once and reused while fresh.

    Returns:
        :class:`TlsFiles` with ``ca`` set: the file clients must trust.
    """
    directory = Path(directory)
    files = TlsFiles(directory / "localhost.pem", directory / "localhost-key.pem", directory / "ca.pem")
    if all(p.is_file() for p in (files.certfile, files.keyfile, files.ca)) and _fresh(files.certfile):
        return files
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="audiolab local backend")
    now = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    leaf = authority.issue_cert(
        *HOSTNAMES, not_before=now - _dt.timedelta(days=1), not_after=now + _dt.timedelta(days=_VALID_DAYS)
    )
    _write(files.keyfile, leaf.private_key_pem.bytes(), private=True)
    _write(files.certfile, b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    _write(files.ca, authority.cert_pem.bytes())
    return files


def user_certificate(certfile: str | Path, keyfile: str | Path) -> TlsFiles:
    """The caller's own certificate and key (``--ssl-certfile`` / ``--ssl-keyfile``), checked.

    Raises:
        InvalidRequest: a missing file, or a key that does not match the certificate.
    """
    files = TlsFiles(Path(certfile).expanduser(), Path(keyfile).expanduser())
    for name, path in (("ssl_certfile", files.certfile), ("ssl_keyfile", files.keyfile)):
        if not path.is_file():
            raise InvalidRequest(f"No such file for --{name.replace('_', '-')}: {path}.", param=name)
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(files.certfile, files.keyfile)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidRequest(
            f"The TLS certificate and key do not load together: {exc}.", param="ssl_certfile"
        ) from exc
    return files


def client_context(ca: str | Path | None = None) -> ssl.SSLContext:
    """An SSL context for clients that trusts the system's CAs plus ``ca`` (the local CA)."""
    ctx = ssl.create_default_context()
    if ca is not None:
        ctx.load_verify_locations(cafile=str(ca))
    return ctx
