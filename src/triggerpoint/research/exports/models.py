"""A research export run in the background (issue 17, "At scale"): who asked, in which
format, how far it got, and where its zip bundle lives once done.

Tenant-owned (`TenantMixin`), so one clinic never sees another's jobs. The row is the truth
about a job: the queue only says "look at job N", so a lost task leaves a `queued` row that
can be enqueued again, and a failure is written here with its message.

A running job holds a lease (`lease_expires_at`), renewed by each progress write; `attempts`
counts the workers that claimed it. The claim and every later write of a worker are
compare-and-set on (status, attempts), so a worker whose lease ran out and whose job was
re-queued (and perhaps claimed by another) can no longer change the row (service.py,
"leases").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from triggerpoint.db import Base, TenantMixin, utcnow

FORMATS = ("redcap", "odm", "parquet")
# What a researcher reads for each format (the page; the API keeps the ids).
FORMAT_LABELS = {
    "redcap": "REDCap (data dictionary and records, CSV)",
    "odm": "CDISC ODM 1.3.2 (XML)",
    "parquet": "Parquet (one file per table, for DuckDB, pandas or R)",
}
# expired: done once, its bundle since deleted by the retention sweep (the row stays, for the
# audit trail that names it).
STATUSES = ("queued", "running", "done", "failed", "expired")


class ResearchExportJob(TenantMixin, Base):
    """One export job; `parts_done`/`parts_total` count the export's parts (tables, files)
    and the bundling step, so the fraction moves while a large export runs."""

    __tablename__ = "research_export_job"
    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    format: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    parts_done: Mapped[int] = mapped_column(Integer, default=0)
    parts_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result_file: Mapped[str | None] = mapped_column(String(200))  # name inside export_dir
    result_size: Mapped[int | None] = mapped_column(BigInteger)
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # running: the lease, renewed by each progress write; queued: when its task counts as
    # lost and is sent again (None: created_at + a lease); service.py, "leases"
    lease_expires_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]  # when the retention sweep deleted the bundle

    @property
    def fraction(self) -> float:
        """Share of the parts done, 0.0 to 1.0 (1.0 once done)."""
        if self.status == "done":
            return 1.0
        return self.parts_done / self.parts_total if self.parts_total else 0.0
