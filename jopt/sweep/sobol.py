"""Sobol' points drawn with NumPy, bit for bit those of ``scipy.stats.qmc.Sobol``.

``points(n, directions(table, d), scramble=s, seed=k)`` equals
``scipy.stats.qmc.Sobol(d, scramble=s, rng=k).random(n)`` exactly (every bit of every
float64), and its first ``n1`` rows, next ``n2`` rows, ... equal successive calls
``random(n1)``, ``random(n2)``, ...: the points are the same integers, scaled by the same
power of two.  Why the same bits: quasi-random sweeps stored their drawn values in
manifests and tests compare the draws with scipy's; drawing here spares importing
``scipy.stats`` (all of it loads, about a second), most of a small sweep's first draw.

The rule (scipy's, for its default ``bits=30``):

* **Direction numbers**: Joe & Kuo's (2008, search criterion D(6), 21201 dimensions),
  read from the table scipy ships (``scipy/stats/_sobol_direction_numbers.npz``: ``poly``,
  each dimension's primitive polynomial as an integer, and ``vinit``, its initial
  direction integers), found without importing scipy (:func:`table_file`).  Dimension 1
  is all ones; dimension ``k`` continues its initial integers by its polynomial's
  recurrence (Bratley & Fox 1988; :func:`direction_integers`).
* **Scrambling** (``scramble=True``): a left linear matrix scramble (Matoušek 1998; Owen's
  scrambles of Sobol' points, 1998) then a digital shift, drawn as scipy draws them: from
  ``numpy.random.default_rng(seed)`` spawned once (``Generator.spawn``), first the shift's
  ``d x 30`` bits, then ``d`` lower-triangular ``30 x 30`` bit matrices, all with
  ``integers(2, dtype=uint32)`` (:func:`scramble_draws`, :func:`linear_matrix_scramble`).
* **Order**: Gray code (Antonov & Saleev 1979): point ``i`` is the shift XOR the direction
  numbers of the set bits of ``i ^ (i >> 1)``, i.e. point ``i + 1`` is point ``i`` XOR the
  direction number of the lowest zero bit of ``i`` (:func:`integer_points`).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import zipfile
from typing import NamedTuple, Optional

import numpy as np

__all__ = ["BITS", "DirectionTable", "table_file", "direction_table", "directions", "points"]

BITS = 30
"""Bits of each coordinate (scipy's default ``bits=None``): at most ``2**30`` points."""

DRAW_DTYPE = np.uint32
"""The dtype scipy draws the scramble's bits in for ``bits <= 32``: it fixes how much of
the generator's stream each draw takes, so it must be scipy's."""

TABLE_PATH = ("stats", "_sobol_direction_numbers.npz")
"""Where the Joe & Kuo table lies inside the installed scipy package."""


class DirectionTable(NamedTuple):
    """Joe & Kuo's table: ``poly[k]``, dimension ``k``'s primitive polynomial as the integer
    of its coefficients (``2 a + 2**s + 1`` for degree ``s``; 1 for the first dimension),
    and ``vinit[k, :s]``, its initial direction integers (odd, ``vinit[k, j] < 2**(j+1)``)."""

    poly: np.ndarray
    vinit: np.ndarray


def table_file() -> Optional[str]:
    """The path of scipy's direction-number table, or None where scipy or the file is
    missing.  ``find_spec`` of the top-level package locates it without running any of
    scipy (``scipy.stats`` would cost a second)."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], *TABLE_PATH)
    return path if os.path.isfile(path) else None


@functools.lru_cache(maxsize=1)
def direction_table() -> Optional[DirectionTable]:
    """scipy's table, read once, or None where it is missing or not of the expected form
    (the caller then draws through scipy itself)."""
    path = table_file()
    if path is None:
        return None
    try:
        with np.load(path) as stored:
            table = DirectionTable(np.array(stored["poly"]), np.array(stored["vinit"]))
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    for array in table:
        array.setflags(write=False)  # shared by every caller
    return table if is_usable(table) else None


def is_usable(table: DirectionTable) -> bool:
    """Whether ``table`` has the form this module reads: integer arrays, one polynomial
    per row of ``vinit``, the first polynomial 1, the others of degree 1 to the width of
    ``vinit`` (and below :data:`BITS`)."""
    poly, vinit = table
    if not (poly.ndim == 1 and vinit.ndim == 2 and len(poly) == len(vinit) > 0
            and np.issubdtype(poly.dtype, np.integer) and np.issubdtype(vinit.dtype, np.integer)):
        return False
    degrees = polynomial_degrees(poly)
    return bool(poly[0] == 1 and np.all(poly >= 1) and np.all(vinit >= 0)
                and np.all((degrees[1:] >= 1) & (degrees[1:] <= min(vinit.shape[1], BITS - 1))))


def polynomial_degrees(poly: np.ndarray) -> np.ndarray:
    """Each polynomial's degree: its integer's bit length less one (``frexp`` is exact
    for these integers, below ``2**53``)."""
    return np.frexp(np.asarray(poly, np.float64))[1].astype(np.int64) - 1


def direction_integers(table: DirectionTable, dims: int, bits: int = BITS) -> np.ndarray:
    """The ``dims x bits`` direction integers ``m[k, j]`` (``m[k, j] < 2**(j+1)``), scipy's
    ``_initialize_v`` before its scaling: row 0 all ones; row ``k`` of degree ``s`` starts
    with ``vinit[k, :s]`` and goes on by its polynomial's recurrence

        m[j] = m[j-s] ^ (2**s m[j-s]) ^ XOR over c = 1 .. s-1 of a_c 2**c m[j-c],

    ``a_c`` the bit ``s - c`` of ``poly[k]`` (Bratley & Fox 1988, sec. 2)."""
    poly = np.asarray(table.poly[:dims], np.uint64)
    degrees = polynomial_degrees(poly)
    m = np.zeros((dims, bits), np.uint64)
    m[:1] = 1
    for degree in np.unique(degrees[1:]).tolist():
        rows = np.flatnonzero(degrees == degree)
        m[rows, :degree] = table.vinit[rows, :degree]
        # taps[:, c - 1]: the bit s - c of poly, which multiplies 2**c m[j - c] (c = s: always 1)
        taps = (poly[rows, None] >> np.arange(degree - 1, -1, -1, dtype=np.uint64)) & np.uint64(1)
        for j in range(degree, bits):
            column = m[rows, j - degree].copy()
            for c in range(1, degree + 1):
                column ^= taps[:, c - 1] * (m[rows, j - c] << np.uint64(c))
            m[rows, j] = column
    return m


def directions(table: DirectionTable, dims: int, bits: int = BITS) -> np.ndarray:
    """The ``dims x bits`` direction numbers as ``bits``-bit integers: column ``j`` of
    :func:`direction_integers` times ``2**(bits - 1 - j)`` (its binary fraction's bits)."""
    return direction_integers(table, dims, bits) << msb_first_powers(bits)


def msb_first_powers(bits: int) -> np.ndarray:
    """``bits - 1, ..., 1, 0``: the bit position of digit ``i`` of a ``bits``-digit binary
    fraction, most significant first (uint64, to shift by)."""
    return np.arange(bits - 1, -1, -1, dtype=np.uint64)


def scramble_draws(rng: np.random.Generator, dims: int,
                   bits: int = BITS) -> tuple[np.ndarray, np.ndarray]:
    """``(shift, lower)`` drawn from ``rng`` in scipy's order (``Sobol._scramble``): the
    digital shift, ``sum_i b[k, i] 2**i`` of a ``dims x bits`` draw of bits, then ``dims``
    lower-triangular ``bits x bits`` bit matrices with ones on the diagonal (scipy draws
    the diagonal too, then sets it)."""
    shift_bits = rng.integers(2, size=(dims, bits), dtype=DRAW_DTYPE).astype(np.uint64)
    shift = (shift_bits << np.arange(bits, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
    lower = np.tril(rng.integers(2, size=(dims, bits, bits), dtype=DRAW_DTYPE))
    lower[:, np.arange(bits), np.arange(bits)] = 1
    return shift, lower


def linear_matrix_scramble(direction_numbers: np.ndarray, lower: np.ndarray,
                           bits: int = BITS) -> np.ndarray:
    """The left linear matrix scramble of each dimension's direction numbers, scipy's
    ``_cscramble``: digit ``p`` (most significant first) of the scrambled number is the
    parity of ``sum_i lower[k, p, i] digit_i``, so each digit mixes in the ones above it.
    (The sums in float64: exact, at most ``bits``, and a fast product.)"""
    digits = (direction_numbers[:, :, None] >> msb_first_powers(bits)) & np.uint64(1)
    sums = digits.astype(np.float64) @ np.swapaxes(lower, 1, 2).astype(np.float64)
    mixed = sums.astype(np.uint64) & np.uint64(1)
    return (mixed << msb_first_powers(bits)).sum(axis=2, dtype=np.uint64)


def scipy_generator(seed) -> np.random.Generator:
    """The generator ``Sobol(d, rng=seed)`` scrambles with (scipy >= 1.15): ``rng`` made a
    Generator by ``numpy.random.default_rng``, then spawned once (``QMCEngine._initialize``)."""
    return np.random.default_rng(seed).spawn(1)[0]


def integer_points(direction_numbers: np.ndarray, shift: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` points as ``count x dims`` integers, in Gray-code order: point
    ``i`` is ``shift`` XOR the direction numbers of the set bits of ``i ^ (i >> 1)`` (scipy's
    ``_draw`` steps point by point: point ``i + 1`` = point ``i`` XOR the number of the
    lowest zero bit of ``i``; the same points)."""
    index = np.arange(count, dtype=np.uint64)
    gray = index ^ (index >> np.uint64(1))
    result = np.repeat(shift[None, :], count, axis=0)
    for j in range(max(count - 1, 0).bit_length()):
        result[((gray >> np.uint64(j)) & np.uint64(1)) == 1] ^= direction_numbers[:, j]
    return result


def points(count: int, direction_numbers: np.ndarray, *, scramble: bool, seed,
           bits: int = BITS) -> np.ndarray:
    """The first ``count`` points of the (scrambled) Sobol' sequence whose unscrambled
    direction numbers are ``direction_numbers`` (:func:`directions`), ``count x dims``
    float64 in [0, 1): ``scipy.stats.qmc.Sobol(dims, scramble=scramble, rng=seed)``'s
    ``random(count)``, bit for bit."""
    if count > 2 ** bits:
        raise ValueError(f"at most 2**{bits} = {2 ** bits} distinct Sobol' points, asked for {count}")
    dims = len(direction_numbers)
    if scramble:
        shift, lower = scramble_draws(scipy_generator(seed), dims, bits)
        direction_numbers = linear_matrix_scramble(direction_numbers, lower, bits)
    else:
        shift = np.zeros(dims, np.uint64)
    return integer_points(direction_numbers, shift, count) * (1.0 / 2 ** bits)
