"""`triggerpoint worker`: the job queue's consumer (questionnaire emails, reminders, expiry,
research export jobs)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from triggerpoint.cli.output import console


def worker(
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            max=64,
            help="Worker threads in this process (run more processes, here or on other "
            "machines, to scale out: each message is still sent once).",
        ),
    ] = 1,
    periodic: Annotated[
        bool,
        typer.Option(
            help="Also run the periodic jobs (reminders every minute, expiry every five; "
            "research export jobs whose worker stopped, or whose task was lost, queued "
            "again every minute, old export bundles deleted every ten). Any number of workers may: the claims keep each "
            "reminder to one message and each export job to one worker."
        ),
    ] = True,
) -> None:
    """Run the background jobs until stopped (Ctrl+C, or SIGTERM)."""
    from triggerpoint.listeners import register_listeners
    from triggerpoint.portal import jobs  # the queue is opened only by the commands using it
    from triggerpoint.research.exports import jobs as _export_jobs  # noqa: F401 - its tasks
    from triggerpoint.research.ltr import jobs as _ltr_jobs  # noqa: F401 - its task

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
    )
    console.print(
        f"triggerpoint worker: {workers} thread(s), queue {_shown(jobs.queue_url())} "
        "(Ctrl+C stops it)"
    )
    register_listeners()  # the jobs write: tallies, pain-map rows, data version follow (idempotent)
    consumer = jobs.huey.create_consumer(
        workers=workers, worker_type="thread", periodic=periodic, max_delay=5.0
    )
    consumer.run()


def _shown(url: str) -> str:
    """The queue URL without a password (redis://:secret@host)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return f"{scheme}{sep}{rest}"
