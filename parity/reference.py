"""Pure-Python parity: the definition the compiled module is tested against.

Written for obviousness, not speed: Q is computed straight from its definition
Q = sum g^i * D_i (one multiplication table per data shard, applied with bytes.translate),
not with the Horner scheme of the C kernels, so the two share no algorithm. Recovery solves
the two linear equations P and Q for the lost shards. XOR runs on Python big integers.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._types import Buffer, WritableBuffer

MIN_DATA = 2
MAX_DATA = 32
POLYNOMIAL = 0x11D


def gf_mul(a: int, b: int) -> int:
    """Product in GF(2^8) with polynomial 0x11d (shift-and-add, no tables)."""
    result = 0
    while b:
        if b & 1:
            result ^= a
        a <<= 1
        if a & 0x100:
            a ^= POLYNOMIAL
        b >>= 1
    return result


def gf_pow(a: int, e: int) -> int:
    result = 1
    for _ in range(e % 255):
        result = gf_mul(result, a)
    return result


def gf_inv(a: int) -> int:
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(2^8)")
    return gf_pow(a, 254)  # a^255 = 1


_MUL_TABLES: dict[int, bytes] = {}


def _mul_table(c: int) -> bytes:
    table = _MUL_TABLES.get(c)
    if table is None:
        table = bytes(gf_mul(c, x) for x in range(256))
        _MUL_TABLES[c] = table
    return table


def gf_scale(c: int, data: bytes) -> bytes:
    """Every byte of data multiplied by the constant c."""
    return data.translate(_mul_table(c))


def xor_all(shards: Sequence[bytes], length: int) -> bytes:
    acc = 0
    for shard in shards:
        acc ^= int.from_bytes(shard, "little")
    return acc.to_bytes(length, "little")


def syndrome_q(data: Sequence[bytes | None], length: int) -> bytes:
    """Q = sum over present data shards of g^i * D_i (None counts as zeros)."""
    return xor_all([gf_scale(gf_pow(2, i), d) for i, d in enumerate(data) if d is not None],
                   length)


def _as_bytes(obj: object, what: str) -> bytes:
    try:
        view = memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be a bytes-like object, not {type(obj).__name__}") from None
    with view:
        if not view.c_contiguous:
            raise ValueError(f"{what} is not a contiguous buffer")
        return view.tobytes()


def _check_nparity(nparity: object) -> int:
    if not isinstance(nparity, int) or isinstance(nparity, bool):
        raise TypeError(f"nparity must be an int, not {type(nparity).__name__}")
    if nparity not in (1, 2):
        raise ValueError(f"nparity must be 1 or 2, not {nparity}")
    return nparity


def _common_length(shards: Sequence[bytes | None]) -> int:
    lengths = {len(s) for s in shards if s is not None}
    if len(lengths) > 1:
        raise ValueError(f"shard lengths differ: {sorted(lengths)}")
    return lengths.pop()


def encode(data: Sequence[Buffer], nparity: int) -> list[bytes]:
    """The parity shards [P] or [P, Q] of 2..32 equally long data shards."""
    nparity = _check_nparity(nparity)
    if not MIN_DATA <= len(data) <= MAX_DATA:
        raise ValueError(f"data shard count {len(data)} is out of range {MIN_DATA}..{MAX_DATA}")
    shards = [_as_bytes(d, f"data shard {i}") for i, d in enumerate(data)]
    length = _common_length(shards)
    out = [xor_all(shards, length)]
    if nparity == 2:
        out.append(syndrome_q(shards, length))
    return out


def reconstruct(shards: Sequence[Buffer | None], nparity: int) -> list[bytes]:
    """All k + nparity shards, with the None entries (at most nparity) rebuilt."""
    nparity = _check_nparity(nparity)
    k = len(shards) - nparity
    if not MIN_DATA <= k <= MAX_DATA:
        raise ValueError(
            f"shard count {len(shards)} with nparity {nparity} means {k} data shards, "
            f"out of range {MIN_DATA}..{MAX_DATA}"
        )
    have: list[bytes | None] = [
        None if s is None else _as_bytes(s, f"shard {i}") for i, s in enumerate(shards)
    ]
    lost = [i for i, s in enumerate(have) if s is None]
    if len(lost) > nparity:
        raise ValueError(
            f"too many missing shards: {len(lost)} are None but nparity {nparity} "
            f"rebuilds at most {nparity}"
        )
    length = _common_length(have)
    lost_data = [i for i in lost if i < k]
    data = have[:k]
    p = have[k]
    q = have[k + 1] if nparity == 2 else None

    if len(lost_data) == 1 and p is not None:
        x = lost_data[0]
        data[x] = xor_all([d for d in data if d is not None] + [p], length)
    elif len(lost_data) == 1:
        # D_x and P lost: g^x * D_x = Q + Q' where Q' leaves D_x out.
        assert q is not None
        x = lost_data[0]
        qx = xor_all([q, syndrome_q(data, length)], length)
        data[x] = gf_scale(gf_inv(gf_pow(2, x)), qx)
    elif len(lost_data) == 2:
        # D_x + D_y = Pxy and g^x D_x + g^y D_y = Qxy; eliminate D_y.
        assert p is not None and q is not None
        x, y = lost_data
        pxy = xor_all([p] + [d for d in data if d is not None], length)
        qxy = xor_all([q, syndrome_q(data, length)], length)
        gx, gy = gf_pow(2, x), gf_pow(2, y)
        denominator_inv = gf_inv(gx ^ gy)
        dx = xor_all([gf_scale(gf_mul(gy, denominator_inv), pxy),
                      gf_scale(denominator_inv, qxy)], length)
        data[x] = dx
        data[y] = xor_all([pxy, dx], length)

    full = [d for d in data if d is not None]
    assert len(full) == k
    parity = encode(full, nparity)
    return full + parity


def encode_into(data: Sequence[Buffer], out: Sequence[WritableBuffer]) -> None:
    """encode() writing [P] or [P, Q] into the buffers of out."""
    if len(out) not in (1, 2):
        raise ValueError(f"out must hold 1 (P) or 2 (P, Q) parity buffers, not {len(out)}")
    _write_all(encode(data, len(out)), out, range(len(out)))


def reconstruct_into(
    shards: Sequence[Buffer | None], nparity: int, out: Sequence[WritableBuffer | None]
) -> None:
    """reconstruct() writing each rebuilt shard i into out[i]."""
    full = reconstruct(shards, nparity)
    if len(out) != len(shards):
        raise ValueError(f"out has {len(out)} entries but there are {len(shards)} shards")
    _write_all(full, out, [i for i, s in enumerate(shards) if s is None])


def _write_all(
    results: Sequence[bytes], out: Sequence[WritableBuffer | None], which: Sequence[int]
) -> None:
    for i in which:
        target = out[i]
        if target is None:
            raise ValueError(f"shard {i} is missing but output {i} is None")
        with memoryview(target) as view:
            if not view.c_contiguous:
                raise ValueError(f"output {i} is not a contiguous buffer")
            if view.readonly:
                raise ValueError(f"output {i} is a read-only buffer and cannot receive output")
            if view.nbytes != len(results[i]):
                raise ValueError(
                    f"shard lengths differ: output {i} is {view.nbytes} bytes but shards are "
                    f"{len(results[i])} bytes"
                )
            view.cast("B")[:] = results[i]
