"""``hemma-features cache verify``: is every file intact, and is every row still there?

Read-only: nothing is moved or rewritten. Each data file is checked on its own first (its
checksum, or a full read for a file from before checksums); only the intact ones are then
compared with each other, so a healthy file is never blamed for a damaged one. Then the
rows: a damaged file moved aside earlier whose rows are not back (``losses.moved_aside``),
a component partition lacking rows its combined rows hold (``losses.Shortfall``), and
schema metadata naming an embedding model other than the one that computed the vectors.
Each problem names the file or partition and the command that mends it; what cannot be
known (a moved-aside file too damaged to read) is a note.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from hemma_features.arrowfiles.checksums import verify_file
from hemma_features.arrowfiles.layout import JOURNAL, part_files, partition_dir, partitions
from hemma_features.client.cache import cache_format
from hemma_features.client.fingerprint_record import read_record
from hemma_features.client.losses import Shortfall, damaged_files, moved_aside, sample_ids
from hemma_features.contract import (
    ID_COLUMN,
    KEY_COLUMN,
    META_COMPONENTS,
    META_EMBEDDING_MODEL,
    META_FEATURE_SET,
    schema_fingerprint,
)
from hemma_features.terminal import shown


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """Something ``cache verify`` found wrong, naming the file (or partition directory)."""

    path: str
    problem: str
    partition: str = ""
    """The partition directory it concerns, when ``path`` lies elsewhere (``_damaged/``)."""


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """What ``cache verify`` found."""

    problems: list[Problem]
    """What is wrong (exit 1)."""
    notes: list[str]
    """What cannot be checked, said plainly (exit 0)."""


class _Partition:
    """What verify keeps of one partition's intact files for the checks across them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.keys: list[pa.ChunkedArray] = []
        self.ids: list[pa.ChunkedArray] = []
        self.models: dict[Path, str | None] = {}
        self.components: dict[str, str] | None = None
        self.damaged = False
        """A data file failed its check (named already: its rows are not counted short)."""

    def all_keys(self) -> pa.Array:
        return pa.concat_arrays([c for k in self.keys for c in k.chunks]) if self.keys else (
            pa.array([], pa.string())
        )  # fmt: skip

    def all_ids(self) -> pa.Array:
        return pa.concat_arrays([c for i in self.ids for c in i.chunks]) if self.ids else (
            pa.array([], pa.string())
        )  # fmt: skip


def verify(root: Path) -> list[Problem]:
    """The problems ``check`` finds (see the module docstring)."""
    return check(root).problems


def check(root: Path) -> Verdict:
    """Every file intact, one schema per partition matching its directory, unique keys,
    no row lost, metadata true to the rows (see the module docstring)."""
    if not root.is_dir():
        return Verdict(problems=[Problem(path=str(root), problem="not a directory")], notes=[])
    file_format = cache_format(root)
    problems: list[Problem] = []
    notes: list[str] = []
    held: dict[tuple[str, str], _Partition] = {}
    for fingerprint, feature_set, directory in partitions(root):
        part = held[(fingerprint, feature_set)] = _Partition(directory)
        problems += _check_files(directory, fingerprint, feature_set, file_format, part)
        if (directory / JOURNAL).exists():
            problems.append(
                Problem(path=str(directory / JOURNAL), problem="an interrupted rewrite is pending")
            )
    for fingerprint, feature_set, path in damaged_files(root):
        found = held.get((fingerprint, feature_set))
        keys = found.all_keys() if found is not None else pa.array([], pa.string())

        def present(query: pa.ChunkedArray, stored: pa.Array = keys) -> np.ndarray:
            return pc.is_in(query, value_set=stored).to_numpy(zero_copy_only=False)

        moved = moved_aside(fingerprint, feature_set, path, present)
        if moved.missing is None:
            notes.append(moved.line(root))
        elif moved.missing:
            problems.append(
                Problem(
                    path=str(path),
                    problem=f"moved aside from {moved.partition} ({moved.problem})"
                    + moved.fate(root),
                    partition=str(partition_dir(root, fingerprint, feature_set)),
                )
            )
    problems += _shortfalls(root, held)
    problems += _models(root, held)
    return Verdict(problems=problems, notes=notes)


def _check_files(
    directory: Path, fingerprint: str, feature_set: str, file_format: str, part: _Partition
) -> list[Problem]:
    problems: list[Problem] = []
    schema: pa.Schema | None = None
    keys: dict[str, Path] = {}
    intact = []
    for path in part_files(directory, file_format):  # type: ignore[arg-type]
        try:
            damage = verify_file(path, memo=False)  # checking is the point: hash afresh
        except FileNotFoundError:  # compacted by another process meanwhile
            continue
        if damage is None:
            intact.append(path)
        else:
            part.damaged = True
            problems.append(
                Problem(
                    path=str(path),
                    problem=f"{damage}; the next `hemma-features extract` with --feature-set "
                    f"{shown(feature_set)} over its essays moves it aside and fetches its rows "
                    "again",
                )
            )
    for path in intact:
        try:
            table = ds.dataset(path, format=file_format).to_table()
        except (pa.ArrowInvalid, OSError) as exc:
            problems.append(Problem(path=str(path), problem=f"unreadable: {shown(exc)}"))
            continue
        meta = table.schema.metadata or {}
        if schema_fingerprint(table.schema) != fingerprint:
            problems.append(
                Problem(path=str(path), problem="fingerprint in metadata differs from directory")
            )
        meta_set = meta.get(META_FEATURE_SET, b"").decode(errors="replace")
        if meta_set != feature_set:
            problems.append(
                Problem(
                    path=str(path),
                    problem=f"feature_set {meta_set!r} in a {shown(feature_set)} directory",
                )
            )
        if schema is None:
            schema = table.schema
        elif not table.schema.equals(schema, check_metadata=False):
            problems.append(Problem(path=str(path), problem="schema differs from the partition's"))
        model = meta.get(META_EMBEDDING_MODEL)
        part.models[path] = model.decode(errors="replace") if model is not None else None
        if part.components is None and META_COMPONENTS in meta:
            part.components = msgspec.json.decode(meta[META_COMPONENTS], type=dict[str, str])
        if KEY_COLUMN not in table.column_names:
            problems.append(Problem(path=str(path), problem="no key column"))
            continue
        part.keys.append(table.column(KEY_COLUMN))
        part.ids.append(table.column(ID_COLUMN).cast(pa.string()))
        for key in table.column(KEY_COLUMN).to_pylist():
            if key in keys:
                problems.append(
                    Problem(path=str(path), problem=f"key {shown(key)} also in {keys[key].name}")
                )
                break
            keys[key] = path
    return problems


def _shortfalls(root: Path, held: dict[tuple[str, str], _Partition]) -> list[Problem]:
    """Component partitions lacking rows their combined rows hold (combined rows are
    always stored with both parts, so such rows were lost)."""
    problems = []
    for (fingerprint, feature_set), part in held.items():
        if feature_set != "combined" or not part.components:
            continue
        keys = part.all_keys()
        for component in ("embeddings", "handcrafted"):
            fp = part.components.get(component)
            if fp is None:
                continue
            other = held.get((fp, component))
            if other is not None and other.damaged:
                continue  # its damaged file is named; its rows are not lost yet
            stored = other.all_keys() if other is not None else pa.array([], pa.string())
            lacking = pc.invert(pc.is_in(keys, value_set=stored)).to_numpy(zero_copy_only=False)
            if not lacking.any():
                continue
            short = Shortfall(
                fingerprint=fp,
                feature_set=component,
                combined=fingerprint,
                missing=int(lacking.sum()),
                missing_ids=sample_ids(part.all_ids(), lacking),
            )
            problems.append(
                Problem(path=str(partition_dir(root, fp, component)), problem=short.fate(root))
            )
    return problems


def _models(root: Path, held: dict[tuple[str, str], _Partition]) -> list[Problem]:
    """Files of ``embeddings`` or ``combined`` rows whose metadata names an embedding model
    other than the one behind the fingerprint (an older client joined combined rows with
    the metadata of handcrafted rows cached by another model's run)."""
    problems = []
    for (fingerprint, feature_set), part in held.items():
        if feature_set == "handcrafted":
            continue
        expected, source = _model_of(root, fingerprint, feature_set, part, held)
        if expected is None:
            continue
        for path, model in part.models.items():
            if model is not None and model != expected:
                problems.append(
                    Problem(
                        path=str(path),
                        problem=f"schema metadata names embedding model {model!r}, but "
                        f"{source} say {expected!r}: an older client wrote it; "
                        f"`hemma-features cache compact {shown(root)}` rewrites it",
                    )
                )
    return problems


def _model_of(
    root: Path,
    fingerprint: str,
    feature_set: str,
    part: _Partition,
    held: dict[tuple[str, str], _Partition],
) -> tuple[str | None, str]:
    """The embedding model behind a partition's vectors and where that comes from."""
    record = read_record(root, fingerprint)
    embedding = record.components.get("embedding") if record is not None else None
    if isinstance(embedding, dict) and isinstance(embedding.get("model_id"), str):
        return embedding["model_id"], f"the fingerprint record (fingerprint={fingerprint})"
    if feature_set == "combined" and part.components and "embeddings" in part.components:
        fp = part.components["embeddings"]
        other = held.get((fp, "embeddings"))
        models = {m for m in (other.models.values() if other else ()) if m is not None}
        if len(models) == 1:
            return models.pop(), f"its embeddings rows (fingerprint={fp})"
    return None, ""
