"""The one way the kit runs a lesson without a browser: an nbclient ``NotebookClient`` that cannot
wait out its timeout on a lesson that ends in a slider.

Used by ``make site`` (site/build.py), ``make claims`` (benchmarks/claims.py), ``make bench``
(benchmarks/bench_notebooks.py) and tests/test_headless.py.

Why a client of our own. nbclient mimics a browser's ipywidgets ``Output`` widget (the panel under
every ``interactive`` slider): each output the kernel sends into it is echoed back to the kernel as a
``comm_msg`` on the shell channel, from inside nbclient's IOPub handler, while nbclient is awaiting
the cell's ``execute_reply`` on that same shell socket. jupyter_client's ``Session.send`` writes
through a plain (synchronous) shadow of the asyncio socket, so pyzmq's asyncio layer never learns of
that send. A libzmq send processes the socket's pending commands, and with them can consume the
edge-triggered ``ZMQ_FD`` wake-up of an ``execute_reply`` that lands at the same moment: the reply then
sits in the socket and nbclient sleeps until the cell's timeout, then finds it (measured here: lesson
04, last cell done at 50.5 s, reply read at 288.0 s = the cell's start + its 240 s timeout; and 1 in
300 round trips in a bare pyzmq loop that sends through such a shadow). nbclient issue #312 reports the
same hang with widgets.

The fix: keep capturing what the Output widget shows (so ``make site`` still shows each slider's first
figure) but send nothing back. A kernel run headless never reads its Output widgets' ``outputs``, so
nothing else changes, and the shell socket is then only used between cells, never while a reply is
awaited.
"""

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.output_widget import OutputWidget


class CapturingOutputWidget(OutputWidget):
    """nbclient's Output-widget mimic, minus the echo of every output to the kernel (see above)."""

    def sync_state(self) -> None:
        pass


WIDGET_REGISTRY = {"@jupyter-widgets/output": {"OutputModel": CapturingOutputWidget}}


def lesson_client(notebook: nbformat.NotebookNode, folder: Path, timeout: int, **options) -> NotebookClient:
    """A ``NotebookClient`` that runs ``notebook`` in ``folder`` (a lesson's cwd is notebooks/, as a
    student's is), ``timeout`` seconds per cell, with the Python 3 kernel. ``options`` go to nbclient."""
    return NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                          resources={"metadata": {"path": str(folder)}},
                          widget_registry=WIDGET_REGISTRY, **options)


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
