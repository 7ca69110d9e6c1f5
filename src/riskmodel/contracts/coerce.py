"""Type coercion of raw source columns to the contract types.

Each function returns the coerced column and a boolean mask of values that were present
but could not be read (those rows go to quarantine as unparseable). Timestamps that carry
a time zone are converted to local time (Asia/Shanghai) and stored naive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from riskmodel import LOCAL_TZ

_TRUE = {"true", "t", "yes", "y", "1", "1.0", "是"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "否"}
_TZ_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"


def _present(s: pd.Series) -> pd.Series:
    return s.notna()


def _str_of(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # ids that a spreadsheet turned into floats: 2023001.0 -> "2023001"
    return str(value).strip()


def coerce_str(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text as Python ``str`` (stripped; empty text is null). Works on the distinct values."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    texts = np.array([_str_of(u) for u in uniques] + [None], dtype=object)
    texts[:-1][texts[:-1] == ""] = None
    out = pd.Series(texts[codes], index=s.index, dtype=object)  # code -1 -> the trailing None
    return out, pd.Series(False, index=s.index)


def coerce_float(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    present = _present(s)
    if ptypes.is_bool_dtype(s):
        s = s.astype("float64")
    out = pd.to_numeric(s, errors="coerce").astype("float64")
    bad = present & out.isna()
    bad |= present & np.isinf(out.fillna(0))
    out[np.isinf(out.fillna(0))] = np.nan
    return out, bad


def coerce_int(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    as_float, bad = coerce_float(s)
    integral = as_float.isna() | (as_float == np.floor(as_float.fillna(0)))
    bad |= ~integral
    vals = as_float.where(integral & ~bad)
    return vals.astype("Int64"), bad


def coerce_bool(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    present = _present(s)
    if ptypes.is_bool_dtype(s):
        return s.astype("boolean"), pd.Series(False, index=s.index)
    text = s.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[text.isin(_TRUE).fillna(False).astype(bool)] = True
    out[text.isin(_FALSE).fillna(False).astype(bool)] = False
    bad = present & out.isna()
    return out, bad


def coerce_timestamp(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    present = _present(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).astype("datetime64[ns]")
        return out, pd.Series(False, index=s.index)
    if ptypes.is_datetime64_any_dtype(s):
        return s.astype("datetime64[ns]"), pd.Series(False, index=s.index)
    if ptypes.is_object_dtype(s) and len(s) and all(
        isinstance(v, pd.Timestamp) or v is None or (isinstance(v, float) and np.isnan(v)) for v in s.iloc[:50]
    ):
        # python objects (e.g. mixed tz-aware Timestamps): go through UTC when any is aware
        aware = s.map(lambda v: isinstance(v, pd.Timestamp) and v.tzinfo is not None)
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
        if aware.any():
            out[aware] = pd.to_datetime(s[aware], utc=True).dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
        if (~aware).any():
            out[~aware] = pd.to_datetime(s[~aware], errors="coerce")
        return out, present & out.isna()
    text = s.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    has_tz = text.str.contains(_TZ_SUFFIX, regex=True, na=False).astype(bool)
    naive = present & ~has_tz
    if naive.any():
        parsed = pd.to_datetime(text[naive], errors="coerce", format="ISO8601")
        retry = parsed.isna()
        if retry.any():
            parsed[retry] = pd.to_datetime(text[naive][retry], errors="coerce", format="mixed")
        out[naive] = parsed.astype("datetime64[ns]")
    if has_tz.any():
        parsed = pd.to_datetime(text[has_tz], errors="coerce", utc=True, format="ISO8601")
        out[has_tz] = parsed.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).astype("datetime64[ns]")
    return out, present & out.isna()


def coerce_date(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    out, bad = coerce_timestamp(s)
    return out.dt.normalize(), bad


COERCERS = {
    "str": coerce_str,
    "float": coerce_float,
    "int": coerce_int,
    "bool": coerce_bool,
    "timestamp": coerce_timestamp,
    "date": coerce_date,
}


def final_dtype(ctype: str, nullable: bool) -> str | type:
    """The pandas dtype an accepted column has, whatever file format it came from."""
    dtypes: dict[str, str | type] = {
        "str": object,
        "float": "float64",
        "int": "Int64" if nullable else "int64",
        "bool": "boolean" if nullable else "bool",
        "timestamp": "datetime64[ns]",
        "date": "datetime64[ns]",
    }
    return dtypes[ctype]
