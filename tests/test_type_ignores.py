"""Every `# type: ignore` in src/ names its error code and says why.

`make test` runs mypy over src/ (pyproject.toml `[tool.mypy]`), which refuses an ignore
without a code (`ignore-without-code`) and one that no longer silences anything
(`warn_unused_ignores`). The reason is for the next reader: this test asks for it.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "triggerpoint"
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<rest>.*)$")
WITH_REASON = re.compile(r"^\[[a-z-]+(, *[a-z-]+)*\]  # \S")


def ignores() -> list[tuple[str, str]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if m := IGNORE.search(line):
                found.append((f"{path.relative_to(SRC)}:{n}", m["rest"]))
    return found


def test_every_type_ignore_names_its_code_and_a_reason() -> None:
    bare = [where for where, rest in ignores() if not WITH_REASON.match(rest)]
    assert bare == [], "write `# type: ignore[code]  # why` at: " + ", ".join(bare)


def test_the_check_reads_ignores_as_written() -> None:
    assert WITH_REASON.match("[arg-type]  # typer options are plain str")
    assert not WITH_REASON.match("[arg-type]")
    assert not WITH_REASON.match("")  # a bare ignore
    m = IGNORE.search("x = f(y)  # type: ignore[arg-type]  # why")
    assert m is not None and m["rest"] == "[arg-type]  # why"
