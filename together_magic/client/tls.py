"""What a client trusts over HTTPS: the usual roots, plus one CA file when a student is given one.

A class gateway started with a self-signed certificate (``serve --ssl-certfile cert.pem``) is trusted by
no one until told: the student gets ``cert.pem`` (the certificate, never ``key.pem``) and sets
``Imagine.ca_file`` / ``ca_file=`` / ``TOGETHER_MAGIC_CA_FILE``. The file is trusted *in addition to* what
httpx trusts by default (certifi's roots, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, which httpx
honours), so setting it never breaks another HTTPS server. When a certificate is refused, ``refused_by``
finds why in the exception chain, so the error can say it and ``errors.explain`` can name the setting.
"""

from __future__ import annotations

import os
import ssl

import httpx

from ..errors import APIConnectionError

__all__ = ["CA_FILE_ENV", "ca_file_from", "refused_by", "trust"]

CA_FILE_ENV = "TOGETHER_MAGIC_CA_FILE"
"""A PEM file of certificates to trust too (a class gateway's ``cert.pem``)."""


def ca_file_from(given: str | os.PathLike[str] | None) -> str | None:
    """The CA file to use: ``given`` (an argument, ``Imagine.ca_file``), else ``TOGETHER_MAGIC_CA_FILE``;
    blank means none."""
    chosen = os.fspath(given) if given is not None else os.environ.get(CA_FILE_ENV, "")
    return chosen.strip() or None


def trust(ca_file: str | None, *, setting: str) -> ssl.SSLContext | bool:
    """httpx's ``verify``: its default (``True``) without a CA file, else that default plus the file.

    Raises ``APIConnectionError`` (one line naming ``setting``) when the file cannot be used."""
    if ca_file is None:
        return True
    path = os.path.expanduser(ca_file)
    context = httpx.create_ssl_context()
    try:
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else _reason(exc)
        raise APIConnectionError(
            f"{setting}: cannot trust {ca_file!r} ({reason}); give the PEM file of the server's "
            "certificate (a class gateway's cert.pem, from your teacher)"
        ) from None
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return "not a PEM certificate file"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)[:100]


def refused_by(exc: BaseException) -> str | None:
    """Why the server's certificate was refused (``self-signed certificate``...), or None when the failure
    was something else. httpx wraps the ``ssl`` error: it is found in the chain."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "certificate verify failed")
        seen = seen.__cause__ or seen.__context__
    return "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else None
