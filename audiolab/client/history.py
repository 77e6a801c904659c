"""Every call measured: ``lab.history``, a thread-safe log of calls shown as a pandas DataFrame.

Rows are written by the instrumented transport (``audiolab.client.transport``) for every HTTP request
the SDK makes through ``lab.client`` / ``lab.aclient``, and per response of a realtime session.
Costs are computed when the table is built, from the current price table, so editing
``lab.prices`` re-prices the whole session.

Columns: ``start, backend, endpoint, method, model, voice, params, status, stream, cache_hit,
ttfb_s, total_s, input_chars, input_audio_s, output_audio_s, usage, text_in, text_out,
audio_in, audio_out, billed_seconds, cost_usd, cost_basis, cost_live_usd, error``. Realtime
rows have endpoint ``realtime`` (one per response) or ``realtime/transcription`` (one per
transcribed input item). ``cost_usd`` is 0 for cache hits; ``cost_live_usd`` is what the call
would cost live. The key is never a column.

Example:
    >>> lab = audiolab.connect("local")                                     # doctest: +SKIP
    >>> lab.client.audio.speech.create(model="tts-1", voice="alloy", input="Hi")  # doctest: +SKIP
    >>> lab.history.summary()                                               # doctest: +SKIP
    >>> lab.cost_so_far                                                     # doctest: +SKIP
    Session cost so far: $0.0000 over 1 call
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import threading
from dataclasses import dataclass

from audiolab.client.pricing import PriceTable, load_prices

__all__ = ["History", "SessionCost", "COLUMNS"]

COLUMNS = ("start", "backend", "endpoint", "method", "model", "voice", "params", "status", "stream",
           "cache_hit", "ttfb_s", "total_s", "input_chars", "input_audio_s", "output_audio_s", "usage",
           "text_in", "text_out", "audio_in", "audio_out", "billed_seconds", "cost_usd", "cost_basis",
           "cost_live_usd", "error")
_FREE_ENDPOINTS = ("models",)


@dataclass(frozen=True)
class SessionCost:
    """The session's estimated spend so far.

    Attributes:
        usd: the sum over calls with a known price.
        calls: number of calls recorded.
        unknown: calls whose price is unknown (not counted in ``usd``).
        cache_hits: calls served from the response cache (cost 0).
    """

    usd: float
    calls: int
    unknown: int
    cache_hits: int

    def __float__(self) -> float:
        return float(self.usd)

    def __str__(self) -> str:
        s = f"Session cost so far: ${self.usd:.4f} over {self.calls} call{'s' if self.calls != 1 else ''}"
        extras = []
        if self.cache_hits:
            extras.append(f"{self.cache_hits} from cache")
        if self.unknown:
            extras.append(f"{self.unknown} with unknown price")
        return s + (f" ({', '.join(extras)})" if extras else "")

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#b35900" if self.unknown else "#1a7f37"
        return (f'<div style="font-family:sans-serif"><span style="color:{colour}">&#36;</span> '
                f"{html.escape(str(self))}</div>")


def _quantities(row: dict) -> dict:
    """What the price table multiplies, for one row."""
    ep = row.get("endpoint") or ""
    minutes = None
    billed = row.get("billed_seconds")
    if billed is not None and not _nan(billed):
        minutes = billed / 60
    elif ep in ("audio/transcriptions", "audio/translations", "realtime/transcription"):
        minutes = _minutes(row.get("input_audio_s"))
    elif ep == "audio/speech":
        minutes = _minutes(row.get("output_audio_s"))
    q = {"minutes": minutes, "characters": row.get("input_chars")}
    for k in ("text_in", "text_out", "audio_in", "audio_out"):
        q[k] = row.get(k)
    return q


def _nan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _minutes(seconds):
    return None if seconds is None or _nan(seconds) else seconds / 60


class History:
    """A thread-safe recorder of calls; ``.frame`` is the pandas DataFrame view.

    Attribute access falls through to the frame, so ``lab.history.tail()``,
    ``lab.history["model"]`` and ``len(lab.history)`` work as on a DataFrame.

    Args:
        prices: the :class:`~audiolab.client.pricing.PriceTable` used for costs (bundled table if None).
    """

    def __init__(self, *, prices: PriceTable | None = None):
        self._rows: list[dict] = []
        self._lock = threading.Lock()
        self._prices = prices

    # --- recording (called by the transport) ------------------------------------------------
    def record(self, **fields) -> int:
        """Append a row; returns its index for :meth:`update`."""
        row = {c: None for c in COLUMNS if c not in ("cost_usd", "cost_basis", "cost_live_usd")}
        row["start"] = _dt.datetime.now().astimezone()
        row["cache_hit"] = False
        row.update(fields)
        with self._lock:
            self._rows.append(row)
            return len(self._rows) - 1

    def update(self, index: int, **fields) -> None:
        with self._lock:
            self._rows[index].update(fields)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def rows(self) -> list[dict]:
        """A snapshot of the raw rows (copies)."""
        with self._lock:
            return [dict(r) for r in self._rows]

    # --- prices -----------------------------------------------------------------------------
    @property
    def prices(self) -> PriceTable:
        if self._prices is None:
            self._prices = load_prices()
        return self._prices

    @prices.setter
    def prices(self, table) -> None:
        self._prices = _as_table(table)

    def _priced(self, row: dict) -> dict:
        row = dict(row)
        if (row.get("endpoint") or "") in _FREE_ENDPOINTS or (row.get("status") or 0) >= 400 \
                or row.get("status") is None:
            live, basis = 0.0, "free"
        else:
            c = self.prices.cost(backend=row.get("backend") or "", model=row.get("model"),
                                 quantities=_quantities(row))
            live, basis = c.usd, c.basis
        row["cost_live_usd"] = live
        row["cost_usd"] = 0.0 if row.get("cache_hit") else live
        row["cost_basis"] = "cache" if row.get("cache_hit") else basis
        return row

    # --- views ------------------------------------------------------------------------------
    @property
    def frame(self):
        """The history as a pandas DataFrame, one row per call, costs from the current prices."""
        import pandas as pd

        rows = [self._priced(r) for r in self.rows()]
        df = pd.DataFrame(rows, columns=list(COLUMNS))
        for col in ("ttfb_s", "total_s", "input_audio_s", "output_audio_s", "cost_usd", "cost_live_usd",
                    "billed_seconds"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
        for col in ("text_in", "text_out", "audio_in", "audio_out", "input_chars", "status"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        return df

    def cost_so_far(self) -> SessionCost:
        """The session's spend: known costs summed, unknown ones counted apart."""
        rows = [self._priced(r) for r in self.rows()]
        known = [r["cost_usd"] for r in rows if not _nan(r["cost_usd"])]
        return SessionCost(usd=float(sum(known)), calls=len(rows),
                           unknown=sum(1 for r in rows if _nan(r["cost_usd"])),
                           cache_hits=sum(1 for r in rows if r.get("cache_hit")))

    def summary(self, by: str | list[str] = "model"):
        """Cost and latency by model (or ``by``): calls, hits, errors, cost, p50/p90 of TTFB and total.

        Returns:
            A DataFrame indexed by ``by``. ``cost_usd`` sums known costs; ``unknown_cost``
            counts calls with no price, so a partial sum is visible as such.
        """
        import pandas as pd

        df = self.frame
        keys = [by] if isinstance(by, str) else list(by)
        if df.empty:
            cols = ["calls", "cache_hits", "errors", "cost_usd", "unknown_cost", "ttfb_p50_s", "ttfb_p90_s",
                    "total_p50_s", "total_p90_s", "input_audio_s", "output_audio_s"]
            return pd.DataFrame(columns=cols).rename_axis(keys[0] if len(keys) == 1 else None)
        df = df.assign(**{k: df[k].fillna("(none)") for k in keys})
        g = df.groupby(keys, sort=True, dropna=False)
        out = pd.DataFrame({
            "calls": g.size(),
            "cache_hits": g["cache_hit"].sum().astype(int),
            "errors": g["status"].apply(lambda s: int((s.fillna(599) >= 400).sum())),
            "cost_usd": g["cost_usd"].sum(min_count=0),
            "unknown_cost": g["cost_usd"].apply(lambda s: int(s.isna().sum())),
            "ttfb_p50_s": g["ttfb_s"].quantile(0.5),
            "ttfb_p90_s": g["ttfb_s"].quantile(0.9),
            "total_p50_s": g["total_s"].quantile(0.5),
            "total_p90_s": g["total_s"].quantile(0.9),
            "input_audio_s": g["input_audio_s"].sum(min_count=1),
            "output_audio_s": g["output_audio_s"].sum(min_count=1),
        })
        return out

    def plot(self, *, ax=None):
        """Latency per call (total and time to first byte) by model, with cumulative cost. Returns Axes."""
        from audiolab.plots.usage import plot_history

        return plot_history(self.frame, ax=ax)

    # --- DataFrame-like -----------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def __getitem__(self, key):
        return self.frame[key]

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.frame, name)

    def __repr__(self) -> str:
        return f"{self.cost_so_far()}\n{self.frame!r}" if len(self) else "<History: no calls yet>"

    def _repr_html_(self) -> str:
        head = self.cost_so_far()._repr_html_()
        if not len(self):
            return head
        cols = ["start", "endpoint", "model", "voice", "status", "cache_hit", "ttfb_s", "total_s",
                "input_audio_s", "output_audio_s", "cost_usd"]
        return head + self.frame[cols].to_html(index=True, float_format=lambda x: f"{x:.3g}")


def _as_table(table) -> PriceTable:
    if isinstance(table, PriceTable):
        return table
    if table is None:
        return load_prices()
    if isinstance(table, (str, bytes)) or hasattr(table, "__fspath__"):
        return load_prices(table)
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        return PriceTable.from_frame(table)
    from audiolab.errors import InvalidRequest

    raise InvalidRequest("prices must be a PriceTable, a DataFrame, or the path of a CSV.", param="prices")
