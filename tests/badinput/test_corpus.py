"""Every corpus case through the real CLI: a non-zero exit, ONE clear error line naming the
file (and line/field where the case has them), no traceback, and the study unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.badinput.conftest import fieldguide, fingerprint
from tests.badinput.corpus import Case, all_cases

CASES = all_cases()


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 150
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_cleanly(
    case: Case, tmp_path: Path, base_study: tuple[Path, dict[str, Path]]
) -> None:
    study, good = base_study
    (tmp_path / "out").mkdir()
    argv = case.build(tmp_path, good)
    before = fingerprint(study)
    done = fieldguide(*argv, study=study, timeout=20)
    after = fingerprint(study)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode != 0, output
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    if not errors and "Usage:" in done.stderr:  # refused by an option's type (Click)
        assert done.returncode == 2 and "Invalid value" in done.stderr, done.stderr
        return
    assert len(errors) == 1, done.stderr
    assert not [line for line in done.stderr.splitlines()
                if line.strip() and not line.startswith(("error:", "warning:", "Usage:",
                                                         "Try ", "╭", "│", "╰"))], done.stderr
    line = errors[0]
    if case.names_file:
        named = [a for a in argv if a.startswith(str(tmp_path))]
        assert any(Path(a).name in line for a in named), line
    for text in case.expect:
        assert text in line, line
    assert before == after, f"study changed: {line}"
