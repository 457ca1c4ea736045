"""The one way the kit runs a lesson without a browser: an nbclient ``NotebookClient`` that cannot
wait out its timeout on a lesson that ends in a slider.

Used by ``make site`` (site/build.py), ``make claims`` (benchmarks/claims.py), ``make bench``
(benchmarks/bench_notebooks.py) and tests/test_tools_headless.py.

Why a client of our own. nbclient waits for a cell's ``execute_reply`` with one asyncio ``poll`` on
the shell socket, as long as the cell's timeout, and pyzmq's asyncio layer wakes that poll through
libzmq's edge-triggered ``ZMQ_FD``. Any libzmq call on the socket that pyzmq's asyncio layer does not
see consumes that edge: jupyter_client's ``Session.send`` writes through a plain (synchronous) shadow
of the asyncio socket, and nbclient sends from inside its IOPub handler while the poll is pending (its
mimic of the ipywidgets ``Output`` widget, the panel under every ``interactive`` slider, echoes each
output to the kernel). When the reply lands in that window it sits in the socket and nbclient sleeps
until the timeout, then finds it: measured here on lesson 04 under load, last cell done at 50.5 s and
its reply read at 288.0 s (= the cell's start + its 240 s timeout); 1 of 12 runs, and again 1 of 2
with the echo switched off, so the echo is not the only trigger. nbclient issue #312 reports the hang
with widgets.

The fix is where the wait is: the client polls the shell and IOPub channels in slices of
``POLL_SLICE_S``, up to the same deadline. A poll that times out checks the socket itself (a level
check, not the edge), so a lost wake-up costs at most one slice instead of the whole timeout.
"""

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient

POLL_SLICE_S = 1.0


def _in_slices(get_msg):
    """``get_msg(timeout)`` of a jupyter_client async channel, polled in slices of POLL_SLICE_S up to
    the same deadline (``timeout=None``: no deadline)."""

    async def sliced(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE_S if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await get_msg(timeout=min(POLL_SLICE_S, left))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return sliced


class LessonClient(NotebookClient):
    """nbclient's client, whose shell and IOPub waits cannot miss a message that has arrived."""

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        for channel in (client.shell_channel, client.iopub_channel):
            channel.get_msg = _in_slices(channel.get_msg)
        return client


def lesson_client(notebook: nbformat.NotebookNode, folder: Path, timeout: int, **options) -> NotebookClient:
    """A ``LessonClient`` that runs ``notebook`` in ``folder`` (a lesson's cwd is notebooks/, as a
    student's is), ``timeout`` seconds per cell, with the Python 3 kernel. ``options`` go to nbclient."""
    return LessonClient(notebook, timeout=timeout, kernel_name="python3",
                        resources={"metadata": {"path": str(folder)}}, **options)


def reply_lags(path: Path, timeout: int) -> dict:
    """Execute the lesson at ``path`` (errors allowed: this measures waiting, not the lesson's claims)
    and measure, for every code cell, how long the client still waited after the kernel had finished
    it: from the kernel's ``idle`` status (its own timestamp; same machine, same clock) to the moment
    the client held the cell's ``execute_reply``. A lost wake-up shows as a lag near ``timeout``."""
    notebook = nbformat.read(path, as_version=4)
    lags = {}

    def on_cell_executed(cell, cell_index, execute_reply):
        idle = cell.metadata.get("execution", {}).get("iopub.status.idle")
        if idle:  # "2026-12-07T13:25:28.123456Z", UTC
            finished = datetime.strptime(idle, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
            lags[cell_index] = (datetime.now(timezone.utc) - finished).total_seconds()

    client = lesson_client(notebook, path.parent, timeout, allow_errors=True,
                           on_cell_executed=on_cell_executed)
    start = time.perf_counter()
    client.execute()
    worst = max(lags, key=lags.get)
    return {"notebook": path.name, "seconds": time.perf_counter() - start, "cells": len(lags),
            "worst_cell": worst, "worst_lag_s": lags[worst]}


if __name__ == "__main__":  # python tools/headless.py notebooks/04_channel_pruning.ipynb
    parser = argparse.ArgumentParser(description="Run a lesson headless; print how long replies lagged.")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    args = parser.parse_args()
    print(json.dumps(reply_lags(args.notebook.resolve(), args.timeout)))
