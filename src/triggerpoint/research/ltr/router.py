"""Routes (JSON API and pages); filled in by this part's own work."""

from __future__ import annotations

from fastapi import APIRouter

api = APIRouter()
pages = APIRouter()
