"""Pair AWRA and QBO transactions: the recorded link, then the number, then party + amount + date.

Pairing runs per entity (invoice, payment, bill, journal) over every row of both frames, in
window or looked up beyond it, whatever their status (a QBO twin of a record outside the status
filter is not "missing in AWRA"):

1. **link**: the record's ``qbo_link`` (``match_method`` ``link``), else the QBO Id of its latest
   *succeeded* sync_log attempt for ``params.connector`` (``sync_log``), against QBO ``id``.
2. **number**: AWRA ``number`` == QBO ``number`` (DocNumber / PaymentRefNum), among the rows
   still unpaired (``number``).
3. **probable**: for what would otherwise be reported missing on both sides, the AWRA party's
   QBO mapping == QBO ``party_id``, amount equal, dates at most ``params.probable_match_days``
   apart (``probable``: a QBO entry keyed by hand). Journals have no party and are not guessed.

A pair with one side outside the window (a looked-up row) is ``lookup_link`` / ``lookup_number``.
Where a key is shared by several rows the rows are paired by content, smallest difference first
(amount, then date, then party, then the ids as a stable tie-break), never by row order: the
result does not depend on how the input rows are ordered.

Everything is vectorized on integer codes (``pandas.factorize``) and numpy arrays; only the
small sets of rows that share a key are resolved with a Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconcile import frames as F
from reconcile.model import AwraData, LookupRequest, QboData
from reconcile.params import RunParams

#: The pairing/outcome frame ``match_records`` returns: one row per pair and per record left
#: unpaired, so every transaction row of either input appears exactly once as ``awra_row`` or
#: ``qbo_row`` (positions, i.e. ``iloc``, into ``awra.transactions`` / ``qbo.transactions``).
#:
#: * ``outcome``: see ``OUTCOMES``. A pair is ``matched``, ``probable``, ``out_of_window`` (one
#:   side looked up beyond the window) or ``outside_window`` (both sides beyond it).
#: * ``match_method``: link, sync_log, number, probable, lookup_link, lookup_number (pairs only).
#: * ``ref_row``: for ``duplicate_in_qbo`` the AWRA record (row in ``awra.transactions``) the
#:   extra QBO record duplicates; for ``duplicate_in_awra`` the QBO record (row in
#:   ``qbo.transactions``) that carries the same number. A reference, not owned by the row.
#: * ``sync_row``: position in ``awra.sync_log`` of the AWRA record's latest attempt for
#:   ``params.connector`` (``<NA>`` if none).
#: * ``awra_duplicate``: for pairs, True when the AWRA record carries the number of another
#:   AWRA record that comes first (lowest id): it is reported ``duplicate_in_awra`` although
#:   it has its own QBO twin.
#: * ``party_agrees``: for pairs, whether the AWRA party's QBO mapping is the QBO party
#:   (``<NA>`` when either is unknown, e.g. no mapping).
MATCHES = F.Schema(
    "matches",
    {
        "entity": F.Kind.STRING,
        "outcome": F.Kind.STRING,
        "match_method": F.Kind.STRING,
        "awra_row": F.Kind.INT,
        "qbo_row": F.Kind.INT,
        "ref_row": F.Kind.INT,
        "awra_id": F.Kind.STRING,
        "qbo_id": F.Kind.STRING,
        "sync_row": F.Kind.INT,
        "party_agrees": F.Kind.BOOL,
        "awra_duplicate": F.Kind.BOOL,
    },
)

#: Outcomes of a ``MATCHES`` row. ``repeated_row`` marks a second row with the same
#: (entity, id) on one side (the in-window copy is kept); ``outside_filter`` a record in the
#: window that is left alone by the status filter (AWRA: ready but another status, or void;
#: QBO: not on the filter's QBO side, e.g. voided when reconciling posted records);
#: ``bad_data`` an unpaired row with ``data_ok`` False (its data_quality finding stands alone).
OUTCOMES: tuple[str, ...] = (
    "matched",
    "probable",
    "out_of_window",
    "outside_window",
    "missing_in_qbo",
    "missing_in_awra",
    "duplicate_in_qbo",
    "duplicate_in_awra",
    "not_ready",
    "outside_filter",
    "repeated_row",
    "bad_data",
)
PAIR_OUTCOMES: tuple[str, ...] = ("matched", "probable", "out_of_window", "outside_window")

_METHODS = ("", "link", "sync_log", "number", "probable", "lookup_link", "lookup_number")
#: ``match_method`` values.
MATCH_METHODS: tuple[str, ...] = _METHODS[1:]
_M_LINK, _M_SYNC, _M_NUMBER, _M_PROBABLE = 1, 2, 3, 4
_NE = len(F.ENTITIES)
_BIG = np.int64(2**62)


# --------------------------------------------------------------------------------------------
# small vector helpers (shared with compare/tieout)


def label_codes(values: pd.Series, labels: Sequence[str]) -> np.ndarray:
    """Index of each value in ``labels`` (-1 for missing or unknown); fast on low-cardinality text."""
    data = getattr(values.array, "_pa_array", None)
    labels = tuple(labels)
    if (
        isinstance(data, pa.ChunkedArray)
        and (pa.types.is_string(data.type) or pa.types.is_large_string(data.type))
        and len(set(labels)) == len(labels)
    ):
        # no module-level cache: a long-lived scheduler process would keep big columns alive
        found = pc.index_in(data, value_set=pa.array(labels, type=data.type))
        return pc.fill_null(found, -1).to_numpy().astype(np.int64) if len(data) else np.zeros(0, dtype=np.int64)
    codes, uniques = pd.factorize(values)
    index = {label: i for i, label in enumerate(labels)}
    table = np.array([*(index.get(str(u), -1) for u in uniques), -1], dtype=np.int64)
    return table[codes]  # code -1 (missing) reads the last slot


def entity_codes(entity: pd.Series, entities: Sequence[str]) -> np.ndarray:
    """Index of each row's entity in ``frames.ENTITIES``; -1 when outside ``entities``."""
    codes = label_codes(entity, F.ENTITIES)
    keep = np.array([e in entities for e in F.ENTITIES] + [False])
    return np.where(keep[codes], codes, -1)


def texts_at(values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """``values`` at ``rows`` (positions; -1 → ``""``) as a Python object array, for wording."""
    out = np.full(len(rows), "", dtype=object)
    has = rows >= 0
    if has.any() and len(values):
        out[has] = values.take(rows[has]).to_numpy(dtype=object, na_value="")
    return out


def arrow_strings(series: pd.Series) -> pa.ChunkedArray:
    """A string Series as a pyarrow chunked array (no copy when it is already Arrow-backed)."""
    data = getattr(series.array, "_pa_array", None)
    if isinstance(data, pa.ChunkedArray) and (pa.types.is_string(data.type) or pa.types.is_large_string(data.type)):
        return data
    values = [None if v is None or v is pd.NA or v != v else str(v) for v in series.astype(object)]
    return pa.chunked_array([pa.array(values, type=pa.string())])


def string_series(values: pa.Array | pa.ChunkedArray) -> pd.Series:
    """A pyarrow string array as a pandas ``string`` Series."""
    return pd.Series(pd.array(values, dtype="string"))


def strings_from_codes(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """A ``string`` Series from integer codes into ``labels`` (-1 → ``<NA>``), built in Arrow."""
    # taken straight into large_string (pandas' storage): no decode, no cast afterwards;
    # the extra last label is the null that code -1 reads
    indices = np.where(codes < 0, len(labels), codes).astype(np.int32)
    table = pa.array([*labels, None], type=pa.large_string())
    if len(indices) and (indices == indices[0]).all():  # one label throughout (one entity…)
        return string_series(pa.repeat(table[int(indices[0])], len(indices)))
    return string_series(pc.take(table, indices))


def _all_int_text(values: pa.ChunkedArray) -> bool:
    """Whether every present text is a plain integer: digits only, no leading zero, ≤ 18 digits.

    Arrow's aggregates skip nulls, so the column is read in place (no null-free copy).
    """
    if values.null_count == len(values):
        return True
    head = pc.drop_null(values.slice(0, 64))
    if len(head):
        first = head[0].as_py()
        if not (first.isascii() and first.isdigit()):
            return False  # cheap early answer for the usual text ids
    if not pc.all(pc.ascii_is_decimal(values)).as_py():
        return False
    lengths = pc.binary_length(values)
    if pc.max(lengths).as_py() > 18:
        return False
    leading_zero = pc.and_(pc.starts_with(values, "0"), pc.greater(lengths, 1))
    return not pc.any(leading_zero).as_py()


_PACK_MAX_BYTES = 32
_PACK_SAMPLE = 65_536


def _packed_text_codes(arrays: Sequence[pa.ChunkedArray]) -> np.ndarray | None:
    """Codes of short texts (equal texts share a code, null → -1), hashing 8-byte words, not strings.

    Each text (at most ``_PACK_MAX_BYTES`` UTF-8 bytes) is read as zero-padded uint64 words (plus
    its length when a text holds a zero byte), and the rows of words are numbered exactly (see
    ``_word_codes``). ``None`` when the texts are too long for it.
    """
    chunks = [c.cast(pa.large_string()) for a in arrays for c in a.chunks]
    if not chunks:
        return None
    arr = pa.concat_arrays(chunks) if len(chunks) > 1 else chunks[0]
    n = len(arr)
    if n == 0:
        return None
    sample = arr.slice(0, _PACK_SAMPLE)
    if pc.count_distinct(sample).as_py() * 2 < len(sample):
        return None  # few distinct texts: Arrow's hash table is faster on them
    _valid, offs_buf, data_buf = arr.buffers()
    offs = np.frombuffer(offs_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    lens = np.diff(offs)
    width = int(lens.max())
    if width > _PACK_MAX_BYTES:
        return None
    null = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else np.zeros(n, dtype=bool)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None and width else np.zeros(0, np.uint8)
    data = data[offs[0] : offs[-1]]
    columns = _text_words(data, offs[:-1] - offs[0], lens, max(1, (width + 7) // 8))
    if width and (data == 0).any():
        columns.append(lens.astype(np.uint64))
    codes = _word_codes(columns)
    codes[null] = -1  # (the code the nulls shared is left unused: codes need not be contiguous)
    return codes


def _word_codes(columns: list[np.ndarray]) -> np.ndarray:
    """Codes of rows of uint64 words (one array per word): rows with equal words share a code.

    Exact, no hash of the whole text: each word is factorized, and the codes so far are
    combined with the next word's (words of short ids and numbers have few distinct values
    each, so this beats hashing one mixed word per row).
    """
    n = len(columns[0])
    codes = pd.factorize(columns[0])[0].astype(np.int64)
    for col in columns[1:]:
        nxt = pd.factorize(col)[0].astype(np.int64)
        if int(codes.max()) == 0:  # one value so far: the next word's codes are the codes
            codes = nxt
            continue
        size = (int(codes.max()) + 1) * (int(nxt.max()) + 1)
        combined = codes * (int(nxt.max()) + 1) + nxt
        codes = _dense_codes(combined, size) if size <= 4 * n else pd.factorize(combined)[0].astype(np.int64)
    return codes


#: ``_WORD_MASKS[k]`` keeps the low ``k`` bytes of a little-endian uint64 word.
_WORD_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)


def _text_words(data: np.ndarray, start: np.ndarray, lens: np.ndarray, nwords: int) -> list[np.ndarray]:
    """Per text, its bytes ``data[start : start + lens]`` as ``nwords`` zero-padded uint64 words.

    Word ``k`` holds bytes ``8k .. 8k+7`` (byte ``8k`` lowest). Read as one unaligned 8-byte
    gather per word over all rows, masked to the text's length: no per-byte loop, so texts of
    mixed lengths cost what equal-length ones do.
    """
    padded = np.zeros(len(data) + 8, dtype=np.uint8)
    padded[: len(data)] = data
    # every byte offset as the start of a little-endian uint64 (a strided view, no copy)
    at_offset = np.ndarray(shape=(len(data) + 1,), dtype="<u8", buffer=padded, strides=(1,))
    words = []
    for k in range(nwords):
        pos = np.minimum(start + 8 * k, len(data))
        keep = np.clip(lens - 8 * k, 0, 8)
        words.append(at_offset[pos] & _WORD_MASKS[keep])
    return words


def _dense_codes(values: np.ndarray, size: int) -> np.ndarray:
    """``pandas.factorize`` codes (first seen → 0) of non-negative integers below ``size``."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    positions = np.arange(n, dtype=np.int64)
    first = np.empty(size, dtype=np.int64)
    first[values[::-1]] = positions[::-1]  # the last write wins: each value's first position
    is_first = first[values] == positions
    rank = np.empty(size, dtype=np.int64)
    rank[values[is_first]] = np.arange(int(is_first.sum()), dtype=np.int64)
    return rank[values]


def factorize_together(*series: pd.Series) -> list[np.ndarray]:
    """Integer codes of several string columns in one code space (``<NA>`` → -1).

    Ids written as plain integers (QBO Ids, AWRA integer keys read as text) take a fast path:
    parsed to int64 and factorized as numbers (``"007"`` is not an integer text, so texts that
    differ never share a code).
    """
    arrays = [arrow_strings(s) for s in series]
    if all(_all_int_text(a) for a in arrays):
        parts = [pc.cast(a, pa.int64()).fill_null(0).to_numpy() for a in arrays]
        masks = [a.is_null().to_numpy() for a in arrays]
        joined = np.concatenate([*parts, np.zeros(0, dtype=np.int64)]).astype(np.int64)
        codes = _int_codes(joined, np.concatenate([*masks, np.zeros(0, dtype=bool)]))
    else:
        packed = _packed_text_codes(arrays)
        if packed is not None:
            codes = packed
        else:
            joined_s = pd.concat([s.reset_index(drop=True) for s in series], ignore_index=True)
            codes = pd.factorize(joined_s)[0].astype(np.int64)
    out, start = [], 0
    for s in series:
        out.append(codes[start : start + len(s)])
        start += len(s)
    return out


def _int_codes(values: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Codes of non-negative int64 ``values`` (``null`` → -1): equal values share a code.

    Serial keys are dense: a value's offset from the smallest one is its slot, no hash table.
    The few values far beyond that window (a stale link, another id range) are factorized
    apart and take slots after it.
    """
    codes = np.full(len(values), -1, dtype=np.int64)
    valid = ~null
    if not valid.any():
        return codes
    present = values[valid]
    offset = present - int(present.min())
    window = 4 * len(values)
    far = offset >= window
    near_size = int(offset[~far].max()) + 1 if (~far).any() else 0
    if far.any():
        offset[far] = near_size + pd.factorize(present[far])[0].astype(np.int64)
    codes[valid] = _dense_codes(offset, int(offset.max()) + 1)
    return codes


def gather(values: np.ndarray, rows: np.ndarray, fill: object) -> np.ndarray:
    """``values[rows]`` where ``rows >= 0``, else ``fill`` (safe when ``values`` is empty)."""
    has = rows >= 0
    if not has.any():
        return np.full(len(rows), fill, dtype=values.dtype if len(values) else object)
    return np.where(has, values[np.where(has, rows, 0)], np.asarray(fill, dtype=values.dtype))


def keyed(codes: np.ndarray, ent: np.ndarray) -> np.ndarray:
    """Combine a code with the entity code into one key (-1 when either is missing)."""
    return np.where((codes >= 0) & (ent >= 0), codes * _NE + ent, -1)


def int_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """An Int64 column as (int64 values with 0 for missing, missing mask)."""
    missing = series.isna().to_numpy(dtype=bool)
    return series.to_numpy(dtype=np.int64, na_value=0), missing


def day_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A date column as (days since the epoch, missing mask)."""
    missing = series.isna().to_numpy(dtype=bool)
    values = series.to_numpy(dtype="datetime64[D]").astype(np.int64)
    return np.where(missing, 0, values), missing


def bool_values(series: pd.Series, default: bool) -> np.ndarray:
    """A boolean column as numpy bools, missing → ``default``."""
    return series.fillna(default).to_numpy(dtype=bool)


def party_codes(awra: AwraData, qbo: QboData) -> tuple[np.ndarray, np.ndarray]:
    """The AWRA party's QBO mapping and the QBO party, as codes in one space (-1 if unknown).

    The AWRA side goes through ``awra.mappings`` (customer for invoices/payments, vendor for
    bills); journals have no party. A mapping whose ``qbo_id`` names no QBO record of its kind is
    unknown: that broken mapping is the mapping checks' finding, not a party difference on every
    transaction of the party.
    """
    a, q, maps = awra.transactions, qbo.transactions, _sound_party_mappings(awra.mappings, qbo.references)
    types = ("customer", "vendor")
    party_type = np.array([types.index(t) if t in types else -1 for t in (F.PARTY_TYPE[e] for e in F.ENTITIES)] + [-1])
    ta_codes = party_type[label_codes(a["entity"], F.ENTITIES)]
    tm_codes = label_codes(maps["mapping_type"], types)
    pa_codes, pm_codes = factorize_together(a["party_id"], maps["awra_id"])
    a_key = np.where((pa_codes >= 0) & (ta_codes >= 0), pa_codes * 2 + ta_codes, -1)
    m_key = np.where((pm_codes >= 0) & (tm_codes >= 0), pm_codes * 2 + tm_codes, -1)
    q_codes, mq_codes = factorize_together(q["party_id"], maps["qbo_id"])
    size = int(max(a_key.max(initial=-1), m_key.max(initial=-1))) + 1
    lookup = np.full(size, -1, dtype=np.int64)
    ok = m_key >= 0
    lookup[m_key[ok]] = mq_codes[ok]
    a_mapped = gather(lookup, a_key, -1).astype(np.int64) if size else np.full(len(a_key), -1, dtype=np.int64)
    return a_mapped, q_codes


def _sound_party_mappings(mappings: pd.DataFrame, references: pd.DataFrame) -> pd.DataFrame:
    """The customer/vendor mappings whose ``qbo_id`` names a QBO record of their kind (active or not)."""

    def key(kind: pd.Series, ident: pd.Series) -> pd.Series:
        return kind.astype("string") + "\x1f" + ident.astype("string").str.strip()

    known = key(references["ref_type"], references["id"]).dropna()
    sound = key(mappings["mapping_type"], mappings["qbo_id"]).isin(set(known)).fillna(False)
    return mappings[sound.to_numpy(dtype=bool)]


# --------------------------------------------------------------------------------------------
# preparation


@dataclass
class _Side:
    """One side's transaction rows as arrays (positions = rows of the input frame)."""

    n: int
    ent: np.ndarray  # entity code, -1 out of scope
    keep: np.ndarray  # in scope and not a repeated (entity, id)
    inwin: np.ndarray
    nkey: np.ndarray  # (entity, number) key, -1 none
    amount: np.ndarray
    amount_na: np.ndarray
    day: np.ndarray
    day_na: np.ndarray
    party: np.ndarray  # party code (AWRA: mapped to QBO), -1 unknown
    ids: pd.Series
    ok: np.ndarray  # data_ok


@dataclass
class _Prep:
    a: _Side
    q: _Side
    a_lkey: np.ndarray  # link key against q_ikey, -1 none
    a_lmethod: np.ndarray  # 1 link, 2 sync_log, 0 none
    q_ikey: np.ndarray
    sync_row: np.ndarray  # latest sync_log position per AWRA row, -1 none
    link: pd.Series  # AWRA link used (qbo_link, else latest succeeded sync QBO Id)
    a_scope: np.ndarray  # AWRA: passes status filter and ready (a missing twin is reported)
    a_status_ok: np.ndarray  # AWRA: ready to sync
    a_void: np.ndarray  # AWRA: voided (final: never "not ready")
    a_in_filter: np.ndarray  # AWRA: status is the run's status filter
    q_scope: np.ndarray  # QBO: on the filter's QBO side
    q_void: np.ndarray  # QBO: voided


def _dedupe(key: np.ndarray, ent: np.ndarray, inwin: np.ndarray) -> np.ndarray:
    """Rows to keep: in scope, and one row per key (the in-window copy first)."""
    keep = ent >= 0
    has = keep & (key >= 0)
    idx = np.flatnonzero(has)
    if len(idx) == 0:
        return keep
    order = idx[np.lexsort((~inwin[idx], key[idx]))]
    ks = key[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = ks[1:] != ks[:-1]
    keep = keep.copy()
    keep[order[~first]] = False
    return keep


def latest_sync_rows(
    awra: AwraData, params: RunParams, a_ent: np.ndarray, a_idcodes: np.ndarray, s_idcodes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per AWRA row: position of its latest sync_log attempt, and of its latest succeeded one.

    Latest by ``attempted_at`` (missing sorts first); equal times are broken by the sync_log id.
    """
    sl = awra.sync_log
    n_a = len(a_ent)
    latest = np.full(n_a, -1, dtype=np.int64)
    latest_ok = np.full(n_a, -1, dtype=np.int64)
    if len(sl) == 0 or n_a == 0:
        return latest, latest_ok
    s_ent = entity_codes(sl["record_type"], params.entities)
    use = (sl["connector"] == params.connector).fillna(False).to_numpy(dtype=bool) & (s_ent >= 0)
    s_key = np.where(use, keyed(s_idcodes, s_ent), -1)
    a_key = keyed(a_idcodes, a_ent)
    size = int(max(a_key.max(initial=-1), s_key.max(initial=-1))) + 1
    ak = a_key >= 0  # repeated AWRA rows share the record's sync state
    att = sl["attempted_at"]
    att_na = att.isna().to_numpy(dtype=bool)
    att_v = np.where(att_na, np.iinfo(np.int64).min, att.to_numpy(dtype="datetime64[ns]").astype(np.int64))
    rows = np.flatnonzero(s_key >= 0)
    if len(rows) == 0:
        return latest, latest_ok
    # a record with one attempt needs no ordering: sort only the records with several, then
    # append the single ones (each its own group)
    several = np.bincount(s_key[rows], minlength=size)[s_key[rows]] > 1
    multi, single = rows[several], rows[~several]
    order = np.concatenate([multi[np.lexsort((att_v[multi], s_key[multi]))], single])
    # rank ties on attempted_at by id text (only the tied rows need it)
    ks, ts = s_key[order], att_v[order]
    tie = np.zeros(len(order), dtype=bool)
    tie[1:] = (ks[1:] == ks[:-1]) & (ts[1:] == ts[:-1])
    if tie.any():
        tie[:-1] |= tie[1:]
        tied = order[tie]
        sub = pd.DataFrame(
            {"k": s_key[tied], "t": att_v[tied], "id": sl["id"].iloc[tied].fillna("").to_numpy(), "p": tied}
        )
        sub = sub.sort_values(["k", "t", "id", "p"], kind="mergesort")
        order = order.copy()
        order[np.flatnonzero(tie)] = sub["p"].to_numpy()
    ks = s_key[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = ks[:-1] != ks[1:]
    lrows = order[last]
    latest_by_key = np.full(size, -1, dtype=np.int64)
    latest_by_key[s_key[lrows]] = lrows
    ok_status = (sl["status"] == "succeeded").fillna(False).to_numpy(dtype=bool)
    okorder = order[ok_status[order]]
    latest_ok_by_key = np.full(size, -1, dtype=np.int64)
    if len(okorder):
        kk = s_key[okorder]
        lst = np.ones(len(okorder), dtype=bool)
        lst[:-1] = kk[:-1] != kk[1:]
        latest_ok_by_key[kk[lst]] = okorder[lst]
    latest[ak] = latest_by_key[a_key[ak]]
    latest_ok[ak] = latest_ok_by_key[a_key[ak]]
    return latest, latest_ok


def in_filter_awra(t: pd.DataFrame, params: RunParams) -> np.ndarray:
    """AWRA rows whose status is the run's status filter."""
    return (t["status"] == params.status).fillna(False).to_numpy(dtype=bool)


def ready_awra(t: pd.DataFrame, params: RunParams) -> np.ndarray:
    """AWRA rows whose status is ready to sync."""
    return t["status"].isin(list(params.ready_statuses)).fillna(False).to_numpy(dtype=bool)


def void_flags(t: pd.DataFrame) -> np.ndarray:
    """Voided rows: ``is_void``, or status ``void`` where the flag is missing."""
    status_void = (t["status"] == "void").fillna(False)
    return t["is_void"].fillna(status_void).to_numpy(dtype=bool)


def qbo_side(t: pd.DataFrame, params: RunParams, void: np.ndarray | None = None) -> np.ndarray:
    """QBO rows on the QBO side of the run's status filter (``frames.QBO_SIDE_OF_STATUS``).

    ``void``: the rows' ``void_flags`` when the caller has them.
    """
    side = F.QBO_SIDE_OF_STATUS.get(params.status, "none")
    void = void_flags(t) if void is None else void
    if side == "live":
        return ~void
    if side == "void":
        return void
    return np.zeros(len(t), dtype=bool)


def _prepare(awra: AwraData, qbo: QboData, params: RunParams, window_only: bool = False) -> _Prep:
    a, q = awra.transactions, qbo.transactions
    a_ent = entity_codes(a["entity"], params.entities)
    q_ent = entity_codes(q["entity"], params.entities)
    a_inwin = bool_values(a["in_window"], True)
    q_inwin = bool_values(q["in_window"], True)
    if window_only:
        a_ent = np.where(a_inwin, a_ent, -1)
        q_ent = np.where(q_inwin, q_ent, -1)
    # AWRA ids with sync_log record ids (one code space) → dedupe + latest sync
    a_idc, s_idc = factorize_together(a["id"], awra.sync_log["record_id"])
    a_keep = _dedupe(keyed(a_idc, a_ent), a_ent, a_inwin)
    sync_row, sync_ok_row = latest_sync_rows(awra, params, a_ent, a_idc, s_idc)
    # the link: qbo_link, else the latest succeeded attempt's QBO Id
    link_na = a["qbo_link"].isna().to_numpy(dtype=bool)
    link = a["qbo_link"].reset_index(drop=True)
    need = link_na & (sync_ok_row >= 0)
    if need.any():
        sync_ok_qbo = arrow_take(awra.sync_log["qbo_id"], np.where(need, sync_ok_row, -1))
        link = string_series(pc.coalesce(arrow_strings(link), sync_ok_qbo))
    link_from_sync = link_na & link.notna().to_numpy(dtype=bool)
    a_lmethod = np.where(~link_na, _M_LINK, np.where(link_from_sync, _M_SYNC, 0))
    q_idc, a_lc = factorize_together(q["id"], link)
    q_ikey = keyed(q_idc, q_ent)
    q_keep = _dedupe(q_ikey, q_ent, q_inwin)
    a_lkey = np.where(a_keep, keyed(a_lc, a_ent), -1)
    a_numc, q_numc = factorize_together(a["number"], q["number"])
    a_amt, a_amt_na = int_values(a["amount_cents"])
    q_amt, q_amt_na = int_values(q["amount_cents"])
    a_day, a_day_na = day_values(a["txn_date"])
    q_day, q_day_na = day_values(q["txn_date"])
    a_party, q_party = party_codes(awra, qbo)
    side_a = _Side(
        n=len(a),
        ent=a_ent,
        keep=a_keep,
        inwin=a_inwin,
        nkey=np.where(a_keep, keyed(a_numc, a_ent), -1),
        amount=a_amt,
        amount_na=a_amt_na,
        ok=bool_values(a["data_ok"], True),
        day=a_day,
        day_na=a_day_na,
        party=a_party,
        ids=a["id"],
    )
    side_q = _Side(
        n=len(q),
        ent=q_ent,
        keep=q_keep,
        inwin=q_inwin,
        nkey=np.where(q_keep, keyed(q_numc, q_ent), -1),
        amount=q_amt,
        amount_na=q_amt_na,
        ok=bool_values(q["data_ok"], True),
        day=q_day,
        day_na=q_day_na,
        party=q_party,
        ids=q["id"],
    )
    ready = ready_awra(a, params)
    a_void, a_in_filter, q_void = void_flags(a), in_filter_awra(a, params), void_flags(q)
    return _Prep(
        a=side_a,
        q=side_q,
        a_lkey=a_lkey,
        a_lmethod=a_lmethod,
        q_ikey=np.where(q_keep, q_ikey, -1),
        sync_row=sync_row,
        link=link,
        a_scope=a_in_filter & (ready | a_void),
        a_status_ok=ready,
        a_void=a_void,
        a_in_filter=a_in_filter,
        q_scope=qbo_side(q, params, q_void),
        q_void=q_void,
    )


# --------------------------------------------------------------------------------------------
# pairing


def _content_order(p: _Prep, ai: np.ndarray, qi: np.ndarray) -> np.ndarray:
    """Order of candidate pairs by content: amount gap, date gap, party differs, then ids.

    The id tie-break is symmetric (smaller id of the pair first) so that swapping the sides
    pairs the same rows.
    """
    a, q = p.a, p.q
    amt = np.where(a.amount_na[ai] | q.amount_na[qi], _BIG, np.abs(a.amount[ai] - q.amount[qi]))
    day = np.where(a.day_na[ai] | q.day_na[qi], _BIG, np.abs(a.day[ai] - q.day[qi]))
    party = ~((a.party[ai] >= 0) & (a.party[ai] == q.party[qi]))
    aid = a.ids.iloc[ai].fillna("").to_numpy(dtype=object)
    qid = q.ids.iloc[qi].fillna("").to_numpy(dtype=object)
    first = (aid <= qid).astype(bool)
    low, high = np.where(first, aid, qid), np.where(first, qid, aid)
    frame = pd.DataFrame(
        {
            "amt": amt,
            "day": day,
            "party": party,
            "lo": low,
            "hi": high,
            "aid": aid,
            "qid": qid,
            "pos": np.arange(len(ai)),
        }
    )
    return frame.sort_values(["amt", "day", "party", "lo", "hi", "aid", "qid"], kind="mergesort")["pos"].to_numpy()


def _assign(p: _Prep, ai: np.ndarray, qi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs from candidate pairs, greedily by content (smallest difference first)."""
    if len(ai) == 0:
        return ai, qi
    order = _content_order(p, ai, qi)
    used_a: set[int] = set()
    used_q: set[int] = set()
    out_a: list[int] = []
    out_q: list[int] = []
    for x, y in zip(ai[order].tolist(), qi[order].tolist(), strict=True):
        if x in used_a or y in used_q:
            continue
        used_a.add(x)
        used_q.add(y)
        out_a.append(x)
        out_q.append(y)
    return np.array(out_a, dtype=np.int64), np.array(out_q, dtype=np.int64)


@dataclass
class _Pairing:
    a_partner: np.ndarray  # q position or -1
    q_partner: np.ndarray
    a_method: np.ndarray  # method code of the pair


def _pair_link(p: _Prep, st: _Pairing) -> None:
    size = int(max(p.q_ikey.max(initial=-1), p.a_lkey.max(initial=-1))) + 1
    if size == 0:
        return
    pos = np.full(size, -1, dtype=np.int64)
    qk = p.q_ikey >= 0
    pos[p.q_ikey[qk]] = np.flatnonzero(qk)
    ak = np.flatnonzero(p.a_lkey >= 0)
    cand = pos[p.a_lkey[ak]]
    has = cand >= 0
    ai, qi = ak[has], cand[has]
    if len(qi) == 0:
        return
    counts = np.bincount(qi, minlength=p.q.n)
    single = counts[qi] == 1
    sa, sq = ai[single], qi[single]
    ma, mq = _assign(p, ai[~single], qi[~single])
    for xa, xq in ((sa, sq), (ma, mq)):
        st.a_partner[xa] = xq
        st.q_partner[xq] = xa
        st.a_method[xa] = p.a_lmethod[xa]


def _pair_number(p: _Prep, st: _Pairing) -> None:
    ua = np.flatnonzero((st.a_partner < 0) & (p.a.nkey >= 0))
    uq = np.flatnonzero((st.q_partner < 0) & (p.q.nkey >= 0))
    if len(ua) == 0 or len(uq) == 0:
        return
    size = int(max(p.a.nkey.max(), p.q.nkey.max())) + 1
    ca = np.bincount(p.a.nkey[ua], minlength=size)
    cq = np.bincount(p.q.nkey[uq], minlength=size)
    one = (ca == 1) & (cq == 1)
    pos = np.full(size, -1, dtype=np.int64)
    qk = p.q.nkey[uq]
    pos[qk[one[qk]]] = uq[one[qk]]
    ak = p.a.nkey[ua]
    sa = ua[one[ak]]
    sq = pos[p.a.nkey[sa]]
    multi = (ca >= 1) & (cq >= 1) & ~one
    ma_rows = ua[multi[ak]]
    mq_rows = uq[multi[qk]]
    ma = mq = np.zeros(0, dtype=np.int64)
    if len(ma_rows):
        cand = pd.DataFrame({"k": p.a.nkey[ma_rows], "a": ma_rows}).merge(
            pd.DataFrame({"k": p.q.nkey[mq_rows], "q": mq_rows}), on="k"
        )
        ma, mq = _assign(p, cand["a"].to_numpy(np.int64), cand["q"].to_numpy(np.int64))
    for xa, xq in ((sa, sq), (ma, mq)):
        st.a_partner[xa] = xq
        st.q_partner[xq] = xa
        st.a_method[xa] = _M_NUMBER


def _pair_stages(p: _Prep) -> _Pairing:
    st = _Pairing(
        a_partner=np.full(p.a.n, -1, dtype=np.int64),
        q_partner=np.full(p.q.n, -1, dtype=np.int64),
        a_method=np.zeros(p.a.n, dtype=np.int64),
    )
    _pair_link(p, st)
    _pair_number(p, st)
    return st


def _natural(ids: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort keys (length, text) of the ids at ``rows``: integer ids sort as numbers."""
    text = ids.take(rows).fillna("").to_numpy(dtype=object)
    return np.array([len(t) for t in text], dtype=np.int64), text


def _duplicates(p: _Prep, st: _Pairing) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which rows are extra copies of a number, and the record each duplicates.

    An unpaired row is a duplicate when another row (either side) carries its number and
    either some row with that number is paired or a row on the other side carries it; when all
    rows with the number are unpaired and on one side, one of them (in scope first, then in
    window, then lowest id) is the record and the others are its duplicates. Two or more AWRA
    records with one number are duplicates even when each has its own QBO twin (AWRA numbers
    must be unique): the lowest id (paired first) is the record, the others are extras
    (returned as ``a_extra_paired`` for the paired ones).
    """
    a, q = p.a, p.q
    size = int(max(a.nkey.max(initial=-1), q.nkey.max(initial=-1))) + 1
    a_dup = np.zeros(a.n, dtype=bool)
    q_dup = np.zeros(q.n, dtype=bool)
    a_ref = np.full(a.n, -1, dtype=np.int64)
    q_ref = np.full(q.n, -1, dtype=np.int64)
    a_extra_paired = np.zeros(a.n, dtype=bool)
    if size == 0:
        return a_dup, q_dup, a_ref, q_ref, a_extra_paired
    ak, qk = a.nkey >= 0, q.nkey >= 0
    na = np.bincount(a.nkey[ak], minlength=size)
    nq = np.bincount(q.nkey[qk], minlength=size)
    a_un = np.flatnonzero(ak & (st.a_partner < 0))
    q_un = np.flatnonzero(qk & (st.q_partner < 0))
    # rows paired per number: all rows less the (few) unpaired ones
    npaired = na + nq - np.bincount(a.nkey[a_un], minlength=size) - np.bincount(q.nkey[q_un], minlength=size)
    for side, un, other_n, own_n, scope, dup in (
        (a, a_un, nq, na, p.a_scope, a_dup),
        (q, q_un, na, nq, p.q_scope, q_dup),
    ):
        k = side.nkey[un]
        shared = (own_n[k] + other_n[k]) > 1
        certain = shared & ((npaired[k] > 0) | (other_n[k] > 0))
        dup[un[certain]] = True
        lone = un[shared & ~certain]  # all unpaired, all on this side
        if len(lone):
            length, text = _natural(side.ids, lone)
            frame = pd.DataFrame(
                {
                    "k": side.nkey[lone],
                    "out": ~scope[lone],
                    "oow": ~side.inwin[lone],
                    "n": length,
                    "id": text,
                    "r": lone,
                }
            ).sort_values(["k", "out", "oow", "n", "id", "r"], kind="mergesort")
            extra = frame["k"].duplicated().to_numpy()
            dup[frame["r"].to_numpy()[extra]] = True
    # paired AWRA records sharing a number with another AWRA record
    shared_a = np.flatnonzero(ak & (na[np.maximum(a.nkey, 0)] >= 2))
    if len(shared_a) and (st.a_partner[shared_a] >= 0).any():
        length, text = _natural(a.ids, shared_a)
        frame = pd.DataFrame(
            {
                "k": a.nkey[shared_a],
                "unpaired": st.a_partner[shared_a] < 0,
                "out": ~p.a_scope[shared_a],
                "n": length,
                "id": text,
                "r": shared_a,
            }
        ).sort_values(["k", "unpaired", "out", "n", "id", "r"], kind="mergesort")
        extra_rows = frame["r"].to_numpy()[frame["k"].duplicated().to_numpy()]
        a_extra_paired[extra_rows[st.a_partner[extra_rows] >= 0]] = True
    # references: the other side's record carrying the number (paired first, then lowest id)
    for side, other, other_partner, dup, ref in (
        (a, q, st.q_partner, a_dup, a_ref),
        (q, a, st.a_partner, q_dup, q_ref),
    ):
        rows = np.flatnonzero(dup)
        if len(rows) == 0:
            continue
        keys = np.unique(side.nkey[rows])
        orows = np.flatnonzero(np.isin(other.nkey, keys))
        if len(orows) == 0:
            continue
        length, text = _natural(other.ids, orows)
        frame = pd.DataFrame(
            {"k": other.nkey[orows], "unpaired": other_partner[orows] < 0, "n": length, "id": text, "r": orows}
        ).sort_values(["k", "unpaired", "n", "id", "r"], kind="mergesort")
        first = frame.drop_duplicates("k")
        lookup = pd.Series(first["r"].to_numpy(), index=first["k"].to_numpy())
        ref[rows] = lookup.reindex(side.nkey[rows]).fillna(-1).to_numpy(dtype=np.int64)
    # an extra whose number the other side lacks duplicates its paired sibling's counterpart
    for side, dup, ref, partner in ((a, a_dup, a_ref, st.a_partner), (q, q_dup, q_ref, st.q_partner)):
        miss = np.flatnonzero(dup & (ref < 0))
        if len(miss) == 0:
            continue
        sib = np.flatnonzero(np.isin(side.nkey, np.unique(side.nkey[miss])) & (partner >= 0))
        if len(sib) == 0:
            continue
        frame = pd.DataFrame(
            {"k": side.nkey[sib], "id": side.ids.iloc[sib].fillna("").to_numpy(dtype=object), "o": partner[sib]}
        )
        first = frame.sort_values(["k", "id"], kind="mergesort").drop_duplicates("k")
        lookup = pd.Series(first["o"].to_numpy(), index=first["k"].to_numpy())
        ref[miss] = lookup.reindex(side.nkey[miss]).fillna(-1).to_numpy(dtype=np.int64)
    return a_dup, q_dup, a_ref, q_ref, a_extra_paired


def _pair_probable(p: _Prep, st: _Pairing, a_cand: np.ndarray, q_cand: np.ndarray, days: int) -> None:
    a, q = p.a, p.q
    journal = F.ENTITIES.index("journal")
    ai = np.flatnonzero(a_cand & (a.ent != journal) & (a.party >= 0) & ~a.amount_na & ~a.day_na)
    qi = np.flatnonzero(q_cand & (q.ent != journal) & (q.party >= 0) & ~q.amount_na & ~q.day_na)
    if len(ai) == 0 or len(qi) == 0:
        return
    cand = pd.DataFrame({"e": a.ent[ai], "p": a.party[ai], "m": a.amount[ai], "a": ai}).merge(
        pd.DataFrame({"e": q.ent[qi], "p": q.party[qi], "m": q.amount[qi], "q": qi}), on=["e", "p", "m"]
    )
    if len(cand) == 0:
        return
    ca, cq = cand["a"].to_numpy(np.int64), cand["q"].to_numpy(np.int64)
    near = np.abs(a.day[ca] - q.day[cq]) <= days
    xa, xq = _assign(p, ca[near], cq[near])
    st.a_partner[xa] = xq
    st.q_partner[xq] = xa
    st.a_method[xa] = _M_PROBABLE


# --------------------------------------------------------------------------------------------
# public API


def plan_lookups(awra: AwraData, qbo: QboData, params: RunParams) -> LookupRequest:
    """What to fetch beyond the window so a changed date reads as a date mismatch, not a miss.

    Pairs the in-window rows by link and number; for each AWRA record left unpaired asks QBO
    for its link (``qbo_link`` or latest succeeded sync Id) and its number, and for each QBO
    record left unpaired asks AWRA for records linked to its Id and for its number.
    """
    p = _prepare(awra, qbo, params, window_only=True)
    st = _pair_stages(p)
    a, q = awra.transactions, qbo.transactions
    ua = (st.a_partner < 0) & p.a.keep
    uq = (st.q_partner < 0) & p.q.keep
    link = p.link

    def collect(entity: pd.Series, values: pd.Series, mask: np.ndarray) -> dict[str, frozenset[str]]:
        frame = pd.DataFrame({"e": entity.to_numpy()[mask], "v": values.to_numpy()[mask]}).dropna()
        return {str(e): frozenset(str(v) for v in g["v"]) for e, g in frame.groupby("e", sort=True)}

    return LookupRequest(
        qbo_ids=collect(a["entity"], link, ua),
        qbo_numbers=collect(a["entity"], a["number"], ua),
        awra_links=collect(q["entity"], q["id"], uq),
        awra_numbers=collect(q["entity"], q["number"], uq),
    )


@dataclass(frozen=True)
class PairingArrays:
    """The numpy arrays behind a ``MATCHES`` frame, and the per-row flags pairing derived.

    Later stages read these instead of parsing the frame's text columns again
    (``tieout.RunArrays``). Per ``MATCHES`` row (frame order, -1 for none): ``awra_row``,
    ``qbo_row``, ``ref_row``, ``sync_row``, ``outcome`` (index in ``OUTCOMES``), ``method``
    (index in ``MATCH_METHODS``). Per AWRA row: ``a_inwin``, ``a_ok``, ``a_void``, ``a_ready``,
    ``a_in_filter``, ``a_in_total``, ``a_entity``; per QBO row: ``q_inwin``, ``q_ok``, ``q_void``,
    ``q_in_total``, ``q_entity`` (``*_in_total`` as ``tieout.awra_in_total`` / ``qbo_in_total``;
    ``*_entity`` as ``entity_codes`` for ``params.entities``).
    """

    awra_row: np.ndarray
    qbo_row: np.ndarray
    ref_row: np.ndarray
    sync_row: np.ndarray
    outcome: np.ndarray
    method: np.ndarray
    a_inwin: np.ndarray
    a_ok: np.ndarray
    a_void: np.ndarray
    a_ready: np.ndarray
    a_in_filter: np.ndarray
    a_in_total: np.ndarray
    a_entity: np.ndarray
    q_inwin: np.ndarray
    q_ok: np.ndarray
    q_void: np.ndarray
    q_in_total: np.ndarray
    q_entity: np.ndarray


def match_records(awra: AwraData, qbo: QboData, params: RunParams) -> pd.DataFrame:
    """Pair every AWRA and QBO transaction row and give each its outcome (schema ``MATCHES``).

    Rows are sorted by entity, then AWRA id, then QBO id, so the frame does not depend on the
    order of the input rows. Inputs are not modified.
    """
    return pair_records(awra, qbo, params)[0]


def pair_records(awra: AwraData, qbo: QboData, params: RunParams) -> tuple[pd.DataFrame, PairingArrays]:
    """``match_records``, with the arrays behind the frame (see ``PairingArrays``)."""
    p = _prepare(awra, qbo, params)
    st = _pair_stages(p)
    a_dup, q_dup, a_ref, q_ref, a_extra = _duplicates(p, st)
    a_un = (st.a_partner < 0) & p.a.keep
    q_un = (st.q_partner < 0) & p.q.keep
    a_missing = a_un & p.a.inwin & p.a_scope & ~a_dup & p.a.ok
    q_missing = q_un & p.q.inwin & p.q_scope & ~q_dup & p.q.ok
    _pair_probable(p, st, a_missing, q_missing, params.probable_match_days)
    a_un = (st.a_partner < 0) & p.a.keep
    q_un = (st.q_partner < 0) & p.q.keep

    oc = {name: i for i, name in enumerate(OUTCOMES)}
    # pairs
    pair_a = np.flatnonzero(st.a_partner >= 0)
    pair_q = st.a_partner[pair_a]
    a_in, q_in = p.a.inwin[pair_a], p.q.inwin[pair_q]
    method = st.a_method[pair_a]
    lookup = a_in != q_in
    method = np.where(lookup & (method == _M_NUMBER), 6, np.where(lookup & (method != _M_PROBABLE), 5, method))
    pair_outcome = np.where(
        a_in & q_in,
        np.where(st.a_method[pair_a] == _M_PROBABLE, oc["probable"], oc["matched"]),
        np.where(lookup, oc["out_of_window"], oc["outside_window"]),
    )
    # unpaired AWRA / QBO
    ua = np.flatnonzero(a_un)
    a_out = np.select(
        [
            ~p.a.inwin[ua],
            ~p.a.ok[ua],
            p.a_void[ua] & ~p.a_scope[ua],
            ~p.a_status_ok[ua] & ~p.a_void[ua],
            ~p.a_scope[ua],
            a_dup[ua],
        ],
        [
            oc["outside_window"],
            oc["bad_data"],
            oc["outside_filter"],
            oc["not_ready"],
            oc["outside_filter"],
            oc["duplicate_in_awra"],
        ],
        oc["missing_in_qbo"],
    )
    uq = np.flatnonzero(q_un)
    q_out = np.select(
        [~p.q.inwin[uq], ~p.q.ok[uq], ~p.q_scope[uq], q_dup[uq]],
        [oc["outside_window"], oc["bad_data"], oc["outside_filter"], oc["duplicate_in_qbo"]],
        oc["missing_in_awra"],
    )
    ra = np.flatnonzero(~p.a.keep & (p.a.ent >= 0))
    rq = np.flatnonzero(~p.q.keep & (p.q.ent >= 0))

    awra_row = np.concatenate([pair_a, ua, np.full(len(uq), -1), ra, np.full(len(rq), -1)]).astype(np.int64)
    qbo_row = np.concatenate([pair_q, np.full(len(ua), -1), uq, np.full(len(ra), -1), rq]).astype(np.int64)
    ref_row = np.concatenate(
        [
            np.full(len(pair_a), -1),
            np.where(a_out == oc["duplicate_in_awra"], a_ref[ua], -1),
            np.where(q_out == oc["duplicate_in_qbo"], q_ref[uq], -1),
            np.full(len(ra) + len(rq), -1),
        ]
    ).astype(np.int64)
    outcome = np.concatenate([pair_outcome, a_out, q_out, np.full(len(ra) + len(rq), oc["repeated_row"])])
    meth = np.concatenate([method, np.zeros(len(ua) + len(uq) + len(ra) + len(rq), dtype=np.int64)]) - 1
    ent_code = np.concatenate([p.a.ent[pair_a], p.a.ent[ua], p.q.ent[uq], p.a.ent[ra], p.q.ent[rq]])
    order = _stable_order(ent_code, awra_row, qbo_row, awra.transactions["id"], qbo.transactions["id"])
    sync = gather(p.sync_row, awra_row, -1).astype(np.int64)
    pa_code = gather(p.a.party, awra_row, -1).astype(np.int64)
    pq_code = gather(p.q.party, qbo_row, -1).astype(np.int64)
    agrees = pd.arrays.BooleanArray(pa_code == pq_code, (pa_code < 0) | (pq_code < 0))
    frame = pd.DataFrame(
        {
            "entity": strings_from_codes(ent_code[order], F.ENTITIES),
            "outcome": strings_from_codes(outcome[order], OUTCOMES),
            "match_method": strings_from_codes(meth[order], list(_METHODS[1:])),
            "awra_row": _int_na(awra_row[order]),
            "qbo_row": _int_na(qbo_row[order]),
            "ref_row": _int_na(ref_row[order]),
            "awra_id": string_series(arrow_take(awra.transactions["id"], awra_row[order])),
            "qbo_id": string_series(arrow_take(qbo.transactions["id"], qbo_row[order])),
            "sync_row": _int_na(sync[order]),
            "party_agrees": agrees[order],
            "awra_duplicate": pd.arrays.BooleanArray(
                (gather(a_extra, awra_row, False).astype(bool) & (qbo_row >= 0))[order],
                np.zeros(len(order), dtype=bool),
            ),
        }
    )
    arrays = PairingArrays(
        awra_row=awra_row[order],
        qbo_row=qbo_row[order],
        ref_row=ref_row[order],
        sync_row=sync[order],
        outcome=outcome[order].astype(np.int64),
        method=meth[order].astype(np.int64),
        a_inwin=p.a.inwin,
        a_ok=p.a.ok,
        a_void=p.a_void,
        a_ready=p.a_status_ok,
        a_in_filter=p.a_in_filter,
        a_in_total=p.a.inwin & p.a_in_filter & p.a.ok & (p.a.ent >= 0),
        a_entity=p.a.ent,
        q_inwin=p.q.inwin,
        q_ok=p.q.ok,
        q_void=p.q_void,
        q_in_total=p.q.inwin & p.q_scope & (p.q.ent >= 0),
        q_entity=p.q.ent,
    )
    return frame, arrays


def _stable_order(
    ent_code: np.ndarray, awra_row: np.ndarray, qbo_row: np.ndarray, awra_ids: pd.Series, qbo_ids: pd.Series
) -> np.ndarray:
    """Order of ``MATCHES`` rows by entity, AWRA id, QBO id (as text, none first; stable).

    Sorted on each id's place in text order rather than on the texts, so no id is copied
    before the sort. AWRA ids are (nearly) unique per entity, so the QBO id only decides among
    rows that share entity and AWRA id (unpaired QBO records, repeated rows): only those QBO
    ids are ranked.
    """
    a_place = gather(_text_places(arrow_strings(awra_ids)), awra_row, 0).astype(np.int64)
    first = ent_code.astype(np.int64) * (int(a_place.max(initial=0)) + 1) + a_place
    tied = np.flatnonzero((np.bincount(first)[first] > 1) & (qbo_row >= 0)) if len(first) else first
    q_place = np.zeros(len(first), dtype=np.int64)
    q_place[tied] = _text_places(arrow_take(qbo_ids, qbo_row[tied]))
    return _order_by_place(first, q_place)


def _order_by_place(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``np.lexsort((second, first))`` for non-negative ``first`` that is nearly unique.

    A counting sort: each row whose ``first`` is unique goes straight to its slot; only the
    rows that share a ``first`` are sorted (on ``second``, then position), into their slots.
    """
    counts = np.bincount(first)
    starts = np.cumsum(counts) - counts
    order = np.empty(len(first), dtype=np.int64)
    single = counts[first] == 1
    order[starts[first[single]]] = np.flatnonzero(single)
    shared = np.flatnonzero(~single)
    if len(shared):
        # slots in sorted order whose key is shared, filled by the shared rows in (first, second) order
        slots = np.flatnonzero(np.repeat(counts > 1, counts))
        order[slots] = shared[np.lexsort((second[shared], first[shared]))]
    return order


def _text_places(values: pa.ChunkedArray) -> np.ndarray:
    """Per value, its place in ascending text order (equal texts share a place).

    The first place is 1; a missing text is 0, so it sorts first, like a missing row.
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    places = pc.rank(values, sort_keys="ascending", tiebreaker="dense").to_numpy().astype(np.int64)
    return np.where(values.is_null().to_numpy(zero_copy_only=False), 0, places)


def arrow_take(column: pd.Series, rows: np.ndarray) -> pa.ChunkedArray:
    """``column`` values at ``rows`` (positions; -1 gives null) as a pyarrow string array."""
    if len(column) == 0:
        return pa.chunked_array([pa.nulls(len(rows), type=pa.string())])
    # from one contiguous array: Arrow's take is about twice as fast on an array as on a
    # chunked array, even of one chunk
    chunked = arrow_strings(column)
    values = chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()
    return pa.chunked_array([pc.take(values, pa.array(rows, mask=rows < 0))])


def _int_na(values: np.ndarray) -> pd.Series:
    """Positions with -1 as ``<NA>`` in an Int64 Series."""
    return pd.Series(pd.arrays.IntegerArray(values.astype(np.int64), values < 0))
