"""QBO snapshots (CONTRACTS §2): a folder with one ``<Entity>.json`` per QBO entity.

Each file holds a JSON array of entity objects exactly as QBO returns them inside
``QueryResponse``; a missing file means "QBO has none of that entity". Numbers are read as
``Decimal`` (no binary floats) and written back digit for digit, so a snapshot round trip is
exact. A snapshot is written whole or not at all: into a temporary folder beside the target,
then renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import simplejson

from reconcile.errors import UsageError

#: File name pattern of a snapshot: ``<Entity>.json`` (``Invoice.json``, ``TaxCode.json``…).
SUFFIX = ".json"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _read_file(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"QBO snapshot {path}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"QBO snapshot {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"QBO snapshot {path}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    except ValueError as exc:
        raise UsageError(f"QBO snapshot {path}: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise UsageError(f"QBO snapshot {path}: not a JSON array of {path.stem} objects (found {type(data).__name__})")
    for position, element in enumerate(data):
        if not isinstance(element, dict):
            raise UsageError(
                f"QBO snapshot {path}: element {position} is not a JSON object (found {type(element).__name__})"
            )
    return data


def read_snapshot(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Entity name → payloads for every ``<Entity>.json`` in ``folder`` (numbers as ``Decimal``).

    Raises ``UsageError`` (one line, naming the folder or file) for a missing folder, a file that
    is not a JSON array, or an element that is not an object.
    """
    folder = Path(folder)
    if not folder.exists():
        raise UsageError(f"QBO snapshot {folder}: no such folder")
    if not folder.is_dir():
        raise UsageError(f"QBO snapshot {folder}: not a folder")
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != SUFFIX or path.name.startswith("."):
            continue
        if not path.is_file():
            raise UsageError(f"QBO snapshot {path}: not a file")
        out[path.stem] = _read_file(path)
    return out


def _check_entity_name(name: str) -> None:
    if not name or not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"not a QBO entity name for a snapshot file: {name!r}")


def write_snapshot(folder: Path, payloads_by_entity: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Write one ``<Entity>.json`` per entity into ``folder``, atomically.

    The files go to a temporary folder beside ``folder`` that is then renamed into place, so
    readers see the old snapshot or the new one, never a mix. An existing ``folder`` is replaced
    only if it holds nothing but snapshot files (``*.json``); otherwise ``UsageError``. Decimals
    are written as JSON numbers exactly as they are (``Decimal("0.10")`` → ``0.10``).
    """
    folder = Path(folder)
    for name in payloads_by_entity:
        _check_entity_name(name)
    if folder.exists():
        if not folder.is_dir():
            raise UsageError(f"QBO snapshot {folder}: exists and is not a folder")
        strangers = [p.name for p in folder.iterdir() if p.suffix != SUFFIX or not p.is_file()]
        if strangers:
            raise UsageError(
                f"QBO snapshot {folder}: exists and holds other files ({', '.join(sorted(strangers)[:3])}); "
                "choose an empty or new folder"
            )
    parent = folder.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise UsageError(f"QBO snapshot {folder}: cannot create it ({exc.strerror or exc})") from None
    try:
        for name, payloads in payloads_by_entity.items():
            path = staging / f"{name}{SUFFIX}"
            with path.open("w", encoding="utf-8") as fh:
                simplejson.dump(list(payloads), fh, use_decimal=True, ensure_ascii=False, allow_nan=False, indent=1)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(staging, 0o755)
        _swap_into_place(staging, folder)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"QBO snapshot {folder}: cannot be written ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_into_place(staging: Path, folder: Path) -> None:
    """Rename ``staging`` to ``folder``; an existing ``folder`` is moved aside first, then removed."""
    if not folder.exists():
        os.rename(staging, folder)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    os.rmdir(old)
    os.rename(folder, old)
    try:
        os.rename(staging, folder)
    except OSError:
        os.rename(old, folder)  # put the previous snapshot back
        raise
    shutil.rmtree(old, ignore_errors=True)


__all__ = ["SUFFIX", "read_snapshot", "write_snapshot"]
