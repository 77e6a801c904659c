"""How busy the machine is outside this process: the cores other programs kept busy over the last second.

The scheduler lets an interactive job compute with the whole CPU budget when the server is idle
(:class:`~audiolab.server.jobs.JobRunner`, *wide jobs*). That pays only when the machine is idle
too: llama.cpp, CTranslate2 and onnxruntime threads spin at barriers, and when another program
(a notebook kernel, a browser, a second server) holds a core, a two-thread job waits on its
descheduled thread at every step and runs several times *slower* than on one thread (a streamed
answer's first sentence measured 7.7 s instead of 1.1 s at load 4 on 2 cores).

On Linux the busy time comes from ``/proc/stat`` (the whole machine) minus ``/proc/self/stat``
(this process), sampled at most every :data:`SAMPLE_S` seconds. Elsewhere nothing is measured and
:func:`other_busy_cores` answers ``None``.

Example:
    >>> probe = OtherLoad()
    >>> busy = probe.busy_cores()
    >>> busy is None or busy >= 0.0
    True
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["OtherLoad", "other_busy_cores", "SAMPLE_S"]

#: Shortest time between two samples (a shorter one measures noise).
SAMPLE_S = 0.5
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_s() -> float | None:
    """Seconds of CPU time all processes have spent busy since boot (``/proc/stat``), or None."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / _TICKS


def _own_busy_s() -> float:
    """Seconds of CPU time this process has used (all its threads)."""
    t = os.times()
    return t.user + t.system


class OtherLoad:
    """Samples, in a daemon thread every :data:`SAMPLE_S` seconds, the CPU time other processes
    used; :meth:`busy_cores` is their average over the last interval, in cores.

    Until the first interval is measured it answers from the load average (busy when it is 0.5
    or more); where ``/proc/stat`` is missing it answers ``None``.
    """

    def __init__(self):
        self._busy: float | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _sample(self) -> None:
        last = (_machine_busy_s(), _own_busy_s(), time.monotonic())
        while True:
            time.sleep(SAMPLE_S)
            now = (_machine_busy_s(), _own_busy_s(), time.monotonic())
            others = (now[0] - last[0]) - (now[1] - last[1])
            self._busy = max(0.0, others / max(now[2] - last[2], 1e-3))
            last = now

    def busy_cores(self) -> float | None:
        if self._thread is None:
            if _machine_busy_s() is None:
                return None
            with self._lock:
                if self._thread is None:
                    self._busy = 0.0 if os.getloadavg()[0] < 0.5 else float(os.getloadavg()[0])
                    self._thread = threading.Thread(target=self._sample, name="audiolab-machine-load", daemon=True)
                    self._thread.start()
        return self._busy


_PROBE = OtherLoad()


def other_busy_cores() -> float | None:
    """Cores other processes kept busy lately (see :class:`OtherLoad`); ``None`` where not measurable."""
    return _PROBE.busy_cores()
