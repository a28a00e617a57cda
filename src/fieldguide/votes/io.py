"""Read votes, authors, AI votes and ground truth from the files crowdsourcing tools write.

This module is the one owner of the vote-file formats: ``fieldguide aggregate FILE`` builds a
:class:`VoteTable` from what it reads, and ``fieldguide ingest votes`` stages the same records
into a study, so a file means the same by either route.

Two vote layouts: CSV ``task,worker,label`` (read with pyarrow, so 9M votes load in seconds)
and peerannot's ``answers.json`` ``{task: {worker: label}}`` (a worker named "AI" is read as
the AI's vote, unless an AI answers file is given, which then wins). Side files:
``authors.txt`` (one author per line, task = line index), ``ai_answers.json`` ``{task: label}``,
``ai_scores.json`` ``{task: score}``, truth as ``truth.csv`` ``task,truth``, ``.npy`` or a
one-per-line text file; -1 is an unknown author or truth.

Bad input raises :class:`~fieldguide.errors.InputError` naming file, line and field; fixable
oddities (duplicate votes, side-file tasks nobody voted on) are warned about with a count.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fieldguide.errors import InputError
from fieldguide.votes.table import IntArray, VoteTable, lookup

Pair = tuple[npt.NDArray[Any], npt.NDArray[Any]]

AI_WORKER = "AI"
"""The worker name that marks the AI's answer inside a peerannot ``answers.json``."""


class LoadWarning(UserWarning):
    """Input that was repaired or partly skipped while loading (the message gives a count)."""


@dataclass(frozen=True)
class VoteRecords:
    """The human votes of a vote file and its side files, as read, before any coding.

    ``authors``, ``ai_labels`` and ``ai_scores`` are ``(task names, values)`` pairs or None.
    """

    task: npt.NDArray[Any]
    worker: npt.NDArray[Any]
    label: npt.NDArray[Any]
    authors: Pair | None = None
    ai_labels: Pair | None = None
    ai_scores: Pair | None = None


def read_vote_records(
    path: str | Path,
    *,
    authors: str | Path | None = None,
    ai: str | Path | None = None,
    ai_scores: str | Path | None = None,
) -> VoteRecords:
    """Read a vote file (CSV or answers.json) and its optional side files, all checked."""
    from fieldguide.inputs import regular_file

    path = regular_file(path, what="vote file")
    if path.suffix.lower() == ".json":
        task, worker, label, ai_in_answers = read_answers_json(path)
    else:
        task, worker, label = _read_votes_csv(path)
        ai_in_answers = None
    return VoteRecords(task, worker, label,
                       *read_side_files(authors, ai, ai_scores, ai_in_answers=ai_in_answers))


def read_side_files(
    authors: str | Path | None,
    ai: str | Path | None,
    ai_scores: str | Path | None,
    *,
    ai_in_answers: Pair | None = None,
) -> tuple[Pair | None, Pair | None, Pair | None]:
    """Authors, AI labels and AI scores as pairs; an AI answers file wins over the "AI"
    worker of an answers.json (``ai_in_answers``)."""
    return (
        None if authors is None else _read_authors(Path(authors)),
        ai_in_answers if ai is None else _read_task_json(Path(ai), "label"),
        None if ai_scores is None else _read_scores(Path(ai_scores)),
    )


def read_votes(
    path: str | Path,
    *,
    authors: str | Path | None = None,
    ai: str | Path | None = None,
    ai_scores: str | Path | None = None,
    label_space: Sequence[Any] | None = None,
) -> VoteTable:
    """Load votes (CSV or answers.json) and the optional side files into a :class:`VoteTable`."""
    records = read_vote_records(path, authors=authors, ai=ai, ai_scores=ai_scores)
    path = Path(path)
    side = {"authors": records.authors, "ai_labels": records.ai_labels,
            "ai_scores": records.ai_scores}
    try:
        votes = VoteTable.from_records(records.task, records.worker, records.label,
                                       label_space=label_space, **side)
    except InputError as exc:
        raise InputError(exc.reason, path=path, field=exc.field) from None
    if votes.n_duplicates_dropped:
        warnings.warn(f"{path}: {votes.n_duplicates_dropped} duplicate (task, worker) vote(s); "
                      "kept the latest row of each", LoadWarning, stacklevel=2)
    for name, given, source in (("authors", side["authors"], authors),
                                ("AI labels", side["ai_labels"], ai),
                                ("AI scores", side["ai_scores"], ai_scores)):
        if given is not None:
            n_unvoted = int((lookup(votes.task_names, given[0]) < 0).sum())
            if n_unvoted:
                warnings.warn(f"{source or path}: {n_unvoted} task(s) with {name} but no vote; "
                              "skipped", LoadWarning, stacklevel=2)
    return votes


def read_truth(path: str | Path, votes: VoteTable) -> IntArray:
    """Ground-truth label code per task of ``votes``: -1 where unknown.

    A known truth that no vote and no AI ever gave is coded -2: it counts as known (and as
    missed) in evaluation, since no strategy can return it.
    """
    tasks, labels = read_truth_pairs(path)
    pos = lookup(votes.task_names, tasks)
    code = lookup(votes.label_names, labels)
    truth = np.full(votes.n_tasks, -1, dtype=np.int64)
    truth[pos[pos >= 0]] = np.where(code[pos >= 0] >= 0, code[pos >= 0], -2)
    return truth


def read_truth_pairs(path: str | Path) -> Pair:
    """The known ground truth of a truth file as (task names, labels); unknown ones dropped."""
    from fieldguide.inputs import nonempty_file

    path = nonempty_file(path, what="truth file")
    if path.suffix.lower() == ".csv":
        cols = _read_csv_columns(path, ("task", "truth"))
        tasks, labels = cols["task"], cols["truth"]
    elif path.suffix.lower() == ".npy":
        labels = np.load(path, allow_pickle=False)
        tasks = np.arange(len(labels))
    else:
        labels = _read_lines(path, "truth")
        tasks = np.arange(len(labels))
    known = ~_is_unknown(labels)
    return tasks[known], labels[known]


def _read_csv_columns(path: Path, names: tuple[str, ...]) -> dict[str, npt.NDArray[Any]]:
    import pyarrow.csv as pacsv

    from fieldguide.inputs import first_bad_byte, regular_file

    regular_file(path)
    bad = first_bad_byte(path)
    if bad is not None:
        raise bad
    try:
        table = pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    except Exception as exc:  # pyarrow raises its own ArrowInvalid with the line in the text
        raise InputError(f"unreadable CSV: {exc}", path=path) from None
    out = {}
    for name in names:
        if name not in table.column_names:
            raise InputError(f"missing column {name!r} (found {', '.join(table.column_names)})",
                             path=path, field=name)
        col = table.column(name)
        if col.null_count:
            row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError("empty value", path=path, line=row + 2, field=name)
        out[name] = col.to_numpy()
    return out


def _read_votes_csv(path: Path) -> tuple[npt.NDArray[Any], ...]:
    cols = _read_csv_columns(path, ("task", "worker", "label"))
    return cols["task"], cols["worker"], cols["label"]


def _load_json(path: Path) -> Any:
    from fieldguide.inputs import read_json

    return read_json(path)


def ints_if_possible(values: list[Any] | npt.NDArray[Any]) -> npt.NDArray[Any]:
    """JSON keys and stored ids are strings; numeric ones become ints so codes sort (and ties
    break) as numbers, the same whichever way the votes arrived."""
    arr = np.asarray(values)
    if arr.dtype.kind in "UO":
        try:
            return arr.astype(np.int64)
        except ValueError:
            return arr
    return arr


def read_answers_json(path: Path) -> tuple[npt.NDArray[Any], npt.NDArray[Any],
                                           npt.NDArray[Any], Pair | None]:
    """peerannot's ``{task: {worker: label}}``: human (task, worker, label) columns and the
    "AI" worker's answers as a (task names, labels) pair, or None when it has none."""
    from fieldguide.inputs import expect_nested_mapping

    answers = expect_nested_mapping(_load_json(path), path, "{task: {worker: label}}")
    rows = [(t, w, lab) for t, by_worker in answers.items() for w, lab in by_worker.items()]
    ai_rows = [r for r in rows if r[1] == AI_WORKER]
    rows = [r for r in rows if r[1] != AI_WORKER]
    if not rows:
        raise InputError("no votes", path=path)
    task, worker, label = (list(c) for c in zip(*rows, strict=True))
    ai = None
    if ai_rows:
        ai = (ints_if_possible([r[0] for r in ai_rows]), np.asarray([r[2] for r in ai_rows]))
    return (ints_if_possible(task), ints_if_possible(worker), np.asarray(label), ai)


def _read_task_json(path: Path, what: str) -> Pair:
    from fieldguide.inputs import expect_mapping, expect_scalars

    data = expect_scalars(expect_mapping(_load_json(path), path, f"{{task: {what}}}"), path,
                          what)
    return ints_if_possible(list(data.keys())), np.asarray(list(data.values()))


def _read_scores(path: Path) -> Pair:
    tasks, raw = _read_task_json(path, "score")
    try:
        scores = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError("AI scores must be numbers", path=path, field="score") from None
    bad = np.flatnonzero(~((scores >= 0) & (scores <= 1)))  # NaN fails both comparisons
    if len(bad):
        i = int(bad[0])
        raise InputError(f"AI score {raw[i]} of task {tasks[i]} not in [0, 1] ({len(bad)} "
                         f"such; the first is entry {i + 1}, task '{tasks[i]}')",
                         path=path, field="score")
    return tasks, scores


def _read_lines(path: Path, what: str) -> npt.NDArray[Any]:
    from fieldguide.inputs import no_nul, read_lines

    lines = read_lines(path, what=f"{what} file")
    empty = [i for i, line in enumerate(lines) if not line.strip()]
    if empty:
        raise InputError(f"empty {what} line (task = line index)", path=path, line=empty[0] + 1)
    for n, line in enumerate(lines, start=1):
        no_nul(line, path, n)
    return ints_if_possible([line.strip() for line in lines])


def _read_authors(path: Path) -> Pair:
    from fieldguide.inputs import nonempty_file

    nonempty_file(path, what="authors file")
    authors = _read_lines(path, "author")
    known = ~_is_unknown(authors)  # -1: the task's author is not known
    return np.flatnonzero(known), authors[known]


def _is_unknown(labels: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    if labels.dtype.kind in "iuf":
        return np.asarray(labels < 0)
    return np.isin(labels.astype(str), ["-1", ""])


def _did_you_mean(value: str, names: npt.NDArray[Any]) -> str:
    import difflib

    close = difflib.get_close_matches(value, [str(n) for n in names[:100_000]], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _codes_or_fail(path: Path, names: npt.NDArray[Any], values: npt.NDArray[Any],
                   field: str, what: str) -> IntArray:
    """Codes of ``values`` among ``names`` (compared as text when a column mixes numbers and
    words); the first value not found is one InputError."""
    codes = lookup(names, values)
    if (codes < 0).any() and names.dtype.kind != values.dtype.kind:
        codes = lookup(names.astype(str), values.astype(str))
    missing = np.flatnonzero(codes < 0)
    if len(missing):
        bad = str(values[missing[0]])
        raise InputError(f"{what} {bad!r} is not in the votes{_did_you_mean(bad, names)}",
                         path=path, line=int(missing[0]) + 2, field=field)
    return codes


def read_gold(path: str | Path, votes: VoteTable) -> IntArray:
    """Known true labels (a ``task,truth`` CSV) as a label code per task of ``votes``, -1
    where not given: what :meth:`fieldguide.votes.dawid_skene.DawidSkene.fit` clamps.

    Unlike a truth file for evaluation, every row must name a task that was voted on and a
    label of the votes (a gold label nobody can output would be a typo), and a task given two
    different labels is refused; each as one line naming the row.
    """
    from fieldguide.inputs import nonempty_file

    path = nonempty_file(path, what="gold file")
    cols = _read_csv_columns(path, ("task", "truth"))
    tasks = _codes_or_fail(path, votes.task_names, ints_if_possible(cols["task"]), "task", "task")
    labels = _codes_or_fail(path, votes.label_names, ints_if_possible(cols["truth"]), "truth",
                            "label")
    gold = np.full(votes.n_tasks, -1, dtype=np.int64)
    for row, (t, k) in enumerate(zip(tasks, labels, strict=True)):
        if gold[t] >= 0 and gold[t] != k:
            raise InputError(f"task {votes.task_names[t]!r} already has gold label "
                             f"{votes.label_names[gold[t]]!r}", path=path, line=row + 2,
                             field="truth")
        gold[t] = k
    return gold


def read_confusion(path: str | Path, votes: VoteTable) -> npt.NDArray[np.float64]:
    """Initial confusion matrices from a ``worker,truth,label,probability`` CSV: the
    probability that the worker answers ``label`` when the answer is ``truth``. Worker ``*``
    sets every worker's matrix (a named worker's rows replace it). A given (worker, truth) row
    is normalised to sum to 1; cells not given are 0. Returns (workers, K, K), NaN for the
    workers the file leaves to majority vote. Bad rows are one InputError naming the line.
    """
    from fieldguide.inputs import nonempty_file

    path = nonempty_file(path, what="confusion file")
    cols = _read_csv_columns(path, ("worker", "truth", "label", "probability"))
    k = votes.n_labels
    worker = np.asarray(cols["worker"])
    every = np.array([str(w) == "*" for w in worker])
    codes = np.full(len(worker), -1, dtype=np.int64)
    codes[~every] = lookup(votes.worker_names, ints_if_possible(worker[~every].astype(str)))
    missing = np.flatnonzero((codes < 0) & ~every)
    if len(missing):
        bad_worker = str(worker[missing[0]])
        raise InputError(f"worker {bad_worker!r} is not in the votes"
                         f"{_did_you_mean(bad_worker, votes.worker_names)}", path=path,
                         line=int(missing[0]) + 2, field="worker")
    truth = _codes_or_fail(path, votes.label_names, ints_if_possible(cols["truth"]), "truth",
                           "label")
    label = _codes_or_fail(path, votes.label_names, ints_if_possible(cols["label"]), "label",
                           "label")
    prob = cols["probability"]
    try:
        p = np.asarray(prob, dtype=np.float64)
    except (TypeError, ValueError):
        p = np.full(len(prob), np.nan)
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if len(bad):
        shown = p[bad[0]] if np.isfinite(p[bad[0]]) else prob[bad[0]]
        raise InputError(f"{shown!s} is not a probability in [0, 1]", path=path,
                         line=int(bad[0]) + 2, field="probability")
    default = np.zeros((k, k))
    np.add.at(default, (truth[every], label[every]), p[every])
    out = np.full((votes.n_workers, k, k), np.nan)
    if every.any():
        out[:] = default
    named = np.unique(codes[~every])
    out[named] = 0.0
    if every.any():
        out[named] = default
    mine = np.flatnonzero(~every)
    touched = np.zeros((votes.n_workers, k), dtype=bool)
    touched[codes[mine], truth[mine]] = True
    out[np.nonzero(touched)] = 0.0
    np.add.at(out, (codes[mine], truth[mine], label[mine]), p[mine])
    sums = out.sum(axis=2, keepdims=True)
    given = ~np.isnan(out[:, 0, 0])
    empty = np.argwhere(given[:, None] & (sums[:, :, 0] <= 0))
    if len(empty):
        w, t = empty[0]
        raise InputError(f"worker {votes.worker_names[w]!r} has no row with a probability "
                         f"above 0 for truth {votes.label_names[t]!r} (give one, or a '*' row "
                         "for every worker)", path=path, field="truth")
    with np.errstate(invalid="ignore"):
        return np.where(given[:, None, None], out / sums, np.nan)
