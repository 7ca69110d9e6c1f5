"""Keyed pseudonymisation of student and counselor ids (HMAC-SHA256).

The key comes from the environment variable ``RISKMODEL_PSEUDONYM_KEY`` or from a key
file whose path is configured. It is never written into the repository, MLflow, logs
or outputs. Raw ids come back only through :func:`reidentify`, which needs the key
and the raw roster.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from riskmodel.contracts.errors import PseudonymKeyError

KEY_ENV = "RISKMODEL_PSEUDONYM_KEY"
KEY_FILE_ENV = "RISKMODEL_PSEUDONYM_KEY_FILE"
#: Hex characters kept from the HMAC digest (64 bits: collision-free for any campus).
PSEUDONYM_HEX = 16
MIN_KEY_BYTES = 16

_HOW_TO = (
    "Provide the pseudonymisation key: set the environment variable "
    f"{KEY_ENV} to a secret of at least {MIN_KEY_BYTES} characters, or set {KEY_FILE_ENV} "
    "(or pass key_file=/ --key-file) to the path of a file holding it. Keep the key outside "
    "the repository; `riskmodel keygen PATH` writes a new random one."
)


class PseudonymKey:
    """A pseudonymisation key. Its repr never shows the secret."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes | str):
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        raw = raw.strip()
        if len(raw) < MIN_KEY_BYTES:
            raise PseudonymKeyError(f"the pseudonymisation key is shorter than {MIN_KEY_BYTES} bytes. " + _HOW_TO)
        self._secret = raw

    def __repr__(self) -> str:
        return "PseudonymKey(<hidden>)"

    __str__ = __repr__

    def __reduce__(self):  # never pickle the secret by accident
        raise TypeError("a PseudonymKey cannot be pickled")

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible label of the key (to tell keys apart in reports)."""
        return hashlib.sha256(b"riskmodel-key-fingerprint:" + self._secret).hexdigest()[:8]

    def pseudonymise(self, raw_id: str) -> str:
        digest = hmac.new(self._secret, str(raw_id).encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_HEX]


def resolve_key(key: PseudonymKey | str | bytes | None = None, key_file: str | Path | None = None) -> PseudonymKey:
    """Find the key: an explicit value, then ``key_file``, then the environment.

    Raises :class:`PseudonymKeyError` saying how to provide one when none is found.
    """
    if isinstance(key, PseudonymKey):
        return key
    if key is not None:
        return PseudonymKey(key)
    path = key_file or os.environ.get(KEY_FILE_ENV)
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise PseudonymKeyError(f"the key file {p} does not exist. " + _HOW_TO)
        return PseudonymKey(p.read_bytes())
    env = os.environ.get(KEY_ENV)
    if env:
        return PseudonymKey(env)
    raise PseudonymKeyError("no pseudonymisation key was given. " + _HOW_TO)


def generate_key_file(path: str | Path) -> Path:
    """Write a new random key to ``path`` (mode 600) unless it exists; return the path."""
    p = Path(path)
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
        p.chmod(0o600)
    return p


def pseudonymise_series(values: pd.Series, key: PseudonymKey) -> pd.Series:
    """Replace each non-null id by its pseudonym (nulls stay null). Vectorised over uniques."""
    mask = values.notna()
    out = pd.Series(pd.NA, index=values.index, dtype="object")
    if mask.any():
        as_str = values[mask].astype(str)
        uniques = pd.unique(as_str)
        mapping = {u: key.pseudonymise(u) for u in uniques}
        out[mask] = as_str.map(mapping)
    return out


def reidentify(pseudonyms: Iterable[str], raw_ids: Iterable[str], key: PseudonymKey | str | bytes) -> dict[str, str | None]:
    """Map pseudonyms back to raw ids: the explicit re-identification step.

    HMAC cannot be inverted, so this needs the key *and* the raw roster (``raw_ids``, e.g.
    the ``student_id`` column of the raw students export). Pseudonyms with no match map
    to None.
    """
    k = resolve_key(key)
    table = {k.pseudonymise(str(r)): str(r) for r in raw_ids}
    return {p: table.get(p) for p in pseudonyms}
