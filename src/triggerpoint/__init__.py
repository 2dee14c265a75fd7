"""triggerpoint: clinical software for trigger point dry needling."""

from __future__ import annotations

from typing import Any

__all__ = ["suggest"]


def __getattr__(name: str) -> Any:
    """Lazy exports, so `import triggerpoint` stays cheap for the CLI and the web app."""
    if name == "suggest":
        from triggerpoint.inference.service import suggest

        return suggest
    raise AttributeError(f"module 'triggerpoint' has no attribute {name!r}")
