"""What a call costs: a price table you can read, edit and replace, and the arithmetic on it.

The table lives in one file, ``audiolab/data/prices.csv``: one row per (backend, model, unit) with
the price in USD, the page it came from and the date the price took effect. Units:

===================  ==========================================================================
``minute``           per minute of audio (input audio for speech-to-text, output for speech)
``minute_estimate``  OpenAI's published per-minute *estimate* for a token-billed model; used
                     only when a response carries no token usage
``1M_characters``    per million characters of input text (``tts-1``)
``1M_text_in``       per million text tokens in (likewise ``1M_text_out``, ``1M_audio_in``,
                     ``1M_audio_out``)
===================  ==========================================================================

The local backend costs nothing (rows with ``backend=local, model=*`` at 0). A model with no
price is *unknown*: its cost is NaN, never 0, so a sum over a session says it is incomplete.

Example:
    >>> from audiolab.client.pricing import load_prices
    >>> prices = load_prices()
    >>> prices.cost(backend="openai", model="whisper-1", quantities={"minutes": 2.0}).usd
    0.012
    >>> import math; math.isnan(prices.cost(backend="openai", model="no-such-model",
    ...                                        quantities={"minutes": 1.0}).usd)
    True
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from audiolab.errors import InvalidRequest

__all__ = ["Price", "Cost", "PriceTable", "load_prices", "UNITS", "TOKEN_UNITS"]

#: Token units and the usage quantity each one multiplies.
TOKEN_UNITS = {"1M_text_in": "text_in", "1M_text_out": "text_out",
               "1M_audio_in": "audio_in", "1M_audio_out": "audio_out"}
UNITS = ("minute", "minute_estimate", "1M_characters", *TOKEN_UNITS)
_COLUMNS = ("backend", "model", "unit", "price_usd", "source", "date", "note")
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Price:
    """One row of the price table.

    Attributes:
        backend: ``"openai"``, ``"local"``, a base URL, or ``"*"`` for any backend.
        model: a model id, or ``"*"`` for any model of that backend.
        unit: one of :data:`UNITS`.
        price_usd: USD per unit; NaN means "unknown".
        source: the URL (or name) the price came from.
        date: the date the price took effect (ISO ``YYYY-MM-DD``).
        note: free text.
    """

    backend: str
    model: str
    unit: str
    price_usd: float
    source: str = ""
    date: str = ""
    note: str = ""


@dataclass(frozen=True)
class Cost:
    """The estimated cost of one call.

    Attributes:
        usd: dollars, or NaN when a price or a quantity it needs is unknown.
        basis: how it was computed: ``"tokens"``, ``"minutes"``, ``"minute_estimate"``,
            ``"characters"``, ``"free"`` or ``"unknown"``.
    """

    usd: float
    basis: str


def _float(value) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _known(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


@dataclass(frozen=True)
class PriceTable:
    """An immutable price table with lookups and cost arithmetic.

    Edit it with :meth:`set` (returns a new table), or build one from a DataFrame with
    :meth:`from_frame`; assign the result to ``lab.prices``.

    Example:
        >>> t = PriceTable(()).set("tts-1", "1M_characters", 15.0)
        >>> t.cost(backend="openai", model="tts-1", quantities={"characters": 1000}).usd
        0.015
    """

    prices: tuple[Price, ...]

    # --- lookups ------------------------------------------------------------------------------
    def lookup(self, *, backend: str, model: str | None) -> tuple[Price, ...]:
        """The rows that price ``model`` on ``backend``.

        The most specific match wins: the exact model, then the model without a dated snapshot
        suffix (``gpt-4o-mini-tts-2025-12-15`` -> ``gpt-4o-mini-tts``), then the backend's
        ``*`` row; each first for the backend itself, then for backend ``*``.
        """
        candidates = [model] if model else []
        if model and _SNAPSHOT.search(model):
            candidates.append(_SNAPSHOT.sub("", model))
        candidates.append("*")
        for m in candidates:
            for b in (backend, "*"):
                rows = tuple(p for p in self.prices if p.backend == b and p.model == m)
                if rows:
                    return rows
        return ()

    def cost(self, *, backend: str, model: str | None, quantities: Mapping[str, float | None]) -> Cost:
        """The cost of one call from what it used.

        Args:
            backend: the backend the call went to.
            model: the model id as sent.
            quantities: any of ``text_in``, ``text_out``, ``audio_in``, ``audio_out`` (tokens),
                ``minutes`` (billed audio minutes) and ``characters``; missing or None means
                not known.

        Returns:
            A :class:`Cost`. Token prices are used when the call reported token usage, then
            ``minute``, ``1M_characters``, and last ``minute_estimate``. A needed price or
            quantity that is unknown gives NaN, never 0.
        """
        rows = self.lookup(backend=backend, model=model)
        if not rows:
            return Cost(math.nan, "unknown")
        by_unit = {p.unit: p.price_usd for p in rows}
        if all(_known(v) and v == 0 for v in by_unit.values()):
            return Cost(0.0, "free")
        q = {k: v for k, v in quantities.items() if _known(v)}
        token_prices = {u: by_unit[u] for u in TOKEN_UNITS if u in by_unit}
        if token_prices and any(TOKEN_UNITS[u] in q for u in TOKEN_UNITS):
            total = 0.0
            for unit, name in TOKEN_UNITS.items():
                n = q.get(name, 0) or 0
                if n == 0:
                    continue
                price = token_prices.get(unit, math.nan)
                total += n * price / 1e6  # NaN price -> NaN total: unknown, not free
            return Cost(total, "tokens")
        if "minute" in by_unit and "minutes" in q:
            return Cost(q["minutes"] * by_unit["minute"], "minutes")
        if "1M_characters" in by_unit and "characters" in q:
            return Cost(q["characters"] * by_unit["1M_characters"] / 1e6, "characters")
        if "minute_estimate" in by_unit and "minutes" in q:
            return Cost(q["minutes"] * by_unit["minute_estimate"], "minute_estimate")
        return Cost(math.nan, "unknown")

    # --- editing ------------------------------------------------------------------------------
    def set(self, model: str, unit: str, price_usd: float, *, backend: str = "openai",
            source: str = "user", date: str | None = None, note: str = "") -> PriceTable:
        """A copy with the price of (backend, model, unit) set (replacing any existing one).

        Raises:
            InvalidRequest: an unknown unit.
        """
        if unit not in UNITS:
            raise InvalidRequest(f"Unknown price unit {unit!r}; expected one of {', '.join(UNITS)}.",
                                 param="unit")
        row = Price(
            backend, model, unit, _float(price_usd), source, date or _dt.date.today().isoformat(), note
        )
        kept = tuple(p for p in self.prices if (p.backend, p.model, p.unit) != (backend, model, unit))
        return replace(self, prices=kept + (row,))

    # --- tables -------------------------------------------------------------------------------
    @property
    def frame(self):
        """The table as a pandas DataFrame (one row per price)."""
        import pandas as pd

        return pd.DataFrame([p.__dict__ for p in self.prices], columns=list(_COLUMNS))

    @classmethod
    def from_frame(cls, frame) -> PriceTable:
        """A table from a DataFrame with the columns of ``prices.csv``."""
        missing = {"backend", "model", "unit", "price_usd"} - set(frame.columns)
        if missing:
            raise InvalidRequest(f"A price table needs the columns {sorted(missing)}.", param="prices")
        records = frame.to_dict("records")
        return cls(tuple(_row(r) for r in records))

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV (the format :func:`load_prices` reads)."""
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(_COLUMNS)
            for p in self.prices:
                w.writerow([getattr(p, c) for c in _COLUMNS])
        return path

    def __len__(self) -> int:
        return len(self.prices)

    def __repr__(self) -> str:
        models = sorted({p.model for p in self.prices})
        return f"<PriceTable {len(self.prices)} prices for {len(models)} models>"

    def _repr_html_(self) -> str:
        return self.frame.to_html(index=False)


def _row(r: Mapping) -> Price:
    unit = str(r.get("unit", "")).strip()
    if unit not in UNITS:
        raise InvalidRequest(f"Unknown price unit {unit!r}; expected one of {', '.join(UNITS)}.",
                             param="unit")

    def text(key):
        v = r.get(key)
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()

    return Price(text("backend") or "*", text("model") or "*", unit, _float(r.get("price_usd")),
                 text("source"), text("date"), text("note"))


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Read a price table: the bundled ``audiolab/data/prices.csv``, or your own CSV.

    Args:
        path: a CSV with the columns ``backend, model, unit, price_usd, source, date, note``;
            None for the bundled table. An empty ``price_usd`` means "unknown".

    Raises:
        InvalidRequest: a row with an unknown unit, or missing columns.

    Example:
        >>> len(load_prices()) > 10
        True
    """
    if path is None:
        text = resources.files("audiolab").joinpath("data/prices.csv").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    missing = {"backend", "model", "unit", "price_usd"} - set(reader.fieldnames or ())
    if missing:
        raise InvalidRequest(f"The price table {path or 'prices.csv'} lacks the columns {sorted(missing)}.",
                             param="prices")
    return PriceTable(tuple(_row(r) for r in reader if any((v or "").strip() for v in r.values())))
