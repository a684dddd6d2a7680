"""The emulator's clock: the wall clock, or a logical time that a test sets.

AWS stamps what it records (ECS deployments' ``createdAt``/``updatedAt``, service
deployments and revisions, CloudWatch alarm history) with its own
clock. moto reads ``moto.core.utils.utcnow`` for all of these. A test whose events carry a
logical time (the storm: step ``i`` happens at ``t0 + i`` seconds) sets the emulator's
clock to the same time, so that no decision compares a logical time with the machine's
wall clock and a seeded run replays exactly, however fast the machine is:

    POST /_rollgate/clock {"now": <epoch seconds>}   -> the clock reads that time
    POST /_rollgate/clock {"now": null}              -> the wall clock again

While set, each reading is one millisecond after the one before (AWS's answers carry
milliseconds), so two things recorded within one logical second keep the order they happened
in, as they do on AWS. The clock never goes back: a time set before the last reading goes on
from that reading.

``install()`` must run before moto's service modules are imported: they bind ``utcnow``
with ``from moto.core.utils import utcnow``.
"""

from __future__ import annotations

import datetime
import sys
import threading
from typing import Callable

_lock = threading.Lock()
_set: datetime.datetime | None = None
_last: datetime.datetime | None = None
_TICK = datetime.timedelta(milliseconds=1)
_original: Callable[[], datetime.datetime] | None = None


def utcnow() -> datetime.datetime:
    """Now, naive UTC (as moto's ``utcnow``)."""
    global _last
    with _lock:
        if _set is None:
            assert _original is not None, "clock.install() was not called"
            return _original()
        _last = max(_set, _last + _TICK) if _last is not None else _set
        return _last


def set_now(epoch_seconds: float | None) -> None:
    """Reads ``epoch_seconds`` from now on (``None``: the wall clock again)."""
    global _set, _last
    with _lock:
        _last = None if epoch_seconds is None else _last
        _set = (
            None
            if epoch_seconds is None
            else datetime.datetime.fromtimestamp(float(epoch_seconds), datetime.timezone.utc).replace(tzinfo=None)
        )


def install() -> None:
    """Routes moto's ``utcnow`` through this clock, in moto.core.utils and in every module
    imported so far that bound it."""
    global _original
    from moto.core import utils

    if _original is not None:
        return
    _original = utils.utcnow
    utils.utcnow = utcnow
    for module in list(sys.modules.values()):
        if getattr(module, "utcnow", None) is _original:
            module.utcnow = utcnow
