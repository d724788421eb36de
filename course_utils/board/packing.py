"""Pack and unpack FINN AXI-Stream data with vectorised numpy (runs on the board: numpy only).

FINN's convention (its PYNQ driver uses ``reverse_inner=True, reverse_endian=True``): the innermost
axis of a *folded* array holds the elements of one stream word; element ``i`` goes to bits
``[i*bw, (i+1)*bw)`` of a little-endian word of ``ceil(n*bw/8)`` bytes. Negative values are stored in
two's complement, BIPOLAR stores -1 as 0 and +1 as 1, FIXED<w,i> stores the value times
``2**(w-i)`` as a w-bit integer, FLOAT16/32 their IEEE bits. ``reverse_inner=False`` puts element 0
at the most significant end instead; ``reverse_endian=False`` stores the word big-endian.

These functions give the same bytes and values as ``finn.util.data_packing``'s
``finnpy_to_packed_bytearray`` / ``packed_bytearray_to_finnpy`` (a test checks many datatypes), but
work on whole batches at numpy speed and accept any integer or float container.

Why a copy of QONNX's ``DataType`` here: this module runs on the board, where neither qonnx nor FINN is
installed (and FINN's packer works element by element in Python, far too slow on a Cortex-A9). So the
board keeps the part of ``qonnx.core.datatype.DataType`` that packing needs (name parsing, bit width,
signedness, range, FIXED scale). Host tests pin the copy to the real thing so it cannot drift:
``tests/test_packing_datatype.py`` compares every type the kit packs with qonnx (attributes, names and
allowed values) and ``tests/test_packing_vs_finn.py`` compares the bytes with FINN's packer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

__all__ = ["DataType", "datatype", "pack", "unpack", "StreamSpec"]

_FIXED_RE = re.compile(r"^FIXED<\s*(\d+)\s*,\s*(-?\d+)\s*>$")


@dataclass(frozen=True)
class DataType:
    """A FINN/QONNX datatype reduced to what stream packing needs."""

    name: str
    bitwidth: int
    kind: str  # "uint", "int", "bipolar", "ternary", "fixed", "float"
    frac_bits: int = 0

    @property
    def signed(self) -> bool:
        """True if negative values are allowed."""
        return self.kind != "uint"

    @property
    def is_integer(self) -> bool:
        """True for integer-valued types (BIPOLAR and TERNARY included)."""
        return self.kind in ("uint", "int", "bipolar", "ternary")

    @property
    def min(self) -> float:
        """Smallest allowed value."""
        if self.kind == "uint":
            return 0
        if self.kind in ("bipolar", "ternary"):
            return -1
        if self.kind == "int":
            return -(1 << (self.bitwidth - 1))
        if self.kind == "fixed":
            return -(1 << (self.bitwidth - 1)) / (1 << self.frac_bits)
        return float(np.finfo(_FLOAT_DTYPES[self.bitwidth]).min)

    @property
    def max(self) -> float:
        """Largest allowed value."""
        if self.kind == "uint":
            return (1 << self.bitwidth) - 1
        if self.kind in ("bipolar", "ternary"):
            return 1
        if self.kind == "int":
            return (1 << (self.bitwidth - 1)) - 1
        if self.kind == "fixed":
            return ((1 << (self.bitwidth - 1)) - 1) / (1 << self.frac_bits)
        return float(np.finfo(_FLOAT_DTYPES[self.bitwidth]).max)


_FLOAT_DTYPES: dict[int, type[np.floating]] = {16: np.float16, 32: np.float32}


def datatype(name: Any) -> DataType:
    """Parse a FINN datatype name: UINTn, INTn (n <= 64), BINARY, BIPOLAR, TERNARY, FIXED<w,i>, FLOAT16/32.

    Also accepts a qonnx ``DataType`` object or the ``"DataType['UINT8']"`` form FINN drivers print.
    """
    if isinstance(name, DataType):
        return name
    return _parse_datatype(str(getattr(name, "name", name)).strip())


@cache
def _parse_datatype(text: str) -> DataType:
    """``datatype`` for a plain string (cached)."""
    name = text
    m = re.match(r"^DataType\[['\"](.+)['\"]\]$", text)
    if m:
        text = m.group(1)
    text = text.upper()
    if text == "BINARY":
        return DataType("BINARY", 1, "uint")
    if text == "BIPOLAR":
        return DataType("BIPOLAR", 1, "bipolar")
    if text == "TERNARY":
        return DataType("TERNARY", 2, "ternary")
    if text in ("FLOAT32", "FLOAT16"):
        return DataType(text, int(text[5:]), "float")
    m = re.match(r"^(U?)INT(\d+)$", text)
    if m and 1 <= int(m.group(2)) <= 64:
        bits = int(m.group(2))
        if m.group(1) and bits == 1:
            return DataType("BINARY", 1, "uint")
        return DataType(text, bits, "uint" if m.group(1) else "int")
    m = _FIXED_RE.match(text)
    if m and 1 <= int(m.group(1)) <= 64 and int(m.group(2)) <= int(m.group(1)):
        w, i = int(m.group(1)), int(m.group(2))
        return DataType(f"FIXED<{w},{i}>", w, "fixed", frac_bits=w - i)
    raise ValueError(f"unknown or unsupported stream datatype {name!r}: use UINTn or INTn (n = 1..64), "
                     "BINARY, BIPOLAR, TERNARY, FIXED<w,i> or FLOAT16/FLOAT32 (FINN's names).")


def _container(bits: int) -> np.dtype:
    """The smallest unsigned numpy type holding ``bits`` bits."""
    for size in (8, 16, 32, 64):
        if bits <= size:
            return np.dtype(f"uint{size}")
    raise ValueError(f"{bits}-bit elements are not supported (at most 64).")


def _signed_container(bits: int) -> np.dtype:
    """The smallest signed numpy type holding a ``bits``-bit two's-complement value."""
    return np.dtype(f"int{_container(bits).itemsize * 8}")


def _bad_value(x: np.ndarray, dt: DataType) -> ValueError:
    """A ValueError naming the first value of ``x`` that ``dt`` cannot hold."""
    with np.errstate(invalid="ignore"):
        ok = (x >= dt.min) & (x <= dt.max)
        if dt.kind == "bipolar":
            ok &= x != 0
        elif x.dtype.kind == "f":
            ok &= np.floor(x) == x
    idx = tuple(int(i) for i in np.argwhere(~ok)[0]) if not ok.all() else (0,) * x.ndim
    return ValueError(f"value {x[idx]!r} at index {idx} is not allowed by {dt.name} "
                      f"(range {dt.min}..{dt.max}{', integers only' if dt.is_integer else ''}). "
                      "Check the datatype in accelerator.json and what you pass in (e.g. raw pixels "
                      "0..255 for UINT8, not pixels scaled to 0..1).")


_CHUNK = 1 << 18  # elements per step of the float -> integer cast: stays in the CPU cache


def _cast_float(x: np.ndarray, target: np.dtype, dt: DataType) -> np.ndarray:
    """Cast float values to integers in ``target``, checking each is an integer in ``dt``'s range.

    Chunked cast + compare (a value equal to its cast is an integer inside ``target``'s range), plus a
    min/max check when ``target`` is wider than ``dt``.
    """
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.size, dtype=target)
    info = np.iinfo(target)
    exact = info.min == dt.min and info.max == dt.max
    with np.errstate(invalid="ignore", over="ignore"):
        for i in range(0, flat.size, _CHUNK):
            a, b = flat[i:i + _CHUNK], out[i:i + _CHUNK]
            np.copyto(b, a, casting="unsafe")
            if not np.array_equal(b, a) or not exact and (b.min() < dt.min or b.max() > dt.max):
                raise _bad_value(x, dt)
    return out.reshape(x.shape)


def _encode(x: np.ndarray, dt: DataType) -> np.ndarray:
    """The unsigned bit pattern of every element (validated), in the smallest container."""
    cont = _container(dt.bitwidth)
    if dt.kind == "float":
        f = np.asarray(x, dtype=_FLOAT_DTYPES[dt.bitwidth])
        return f.view(f"uint{dt.bitwidth}").astype(cont, copy=False)
    if dt.kind == "fixed":
        x = np.asarray(x, dtype=np.float64) * float(1 << dt.frac_bits)
        dt = DataType(f"INT{dt.bitwidth}", dt.bitwidth, "int")
    if dt.kind == "bipolar":
        ok = (x == 1) | (x == -1)
        if not ok.all():
            raise _bad_value(x, dt)
        return (x > 0).astype(cont)
    target = _signed_container(dt.bitwidth) if dt.signed else cont
    if x.dtype.kind == "f":
        ints = _cast_float(x, target, dt)
    else:
        info = np.iinfo(np.uint8 if x.dtype == bool else x.dtype)
        fits = info.min >= dt.min and info.max <= dt.max  # e.g. a uint8 array for UINT8: nothing to check
        if x.size and not fits and not (x.min() >= dt.min and x.max() <= dt.max):
            raise _bad_value(x, dt)
        ints = x.astype(target, copy=False)
    if not dt.signed:
        return ints
    u = ints.view(cont)
    if dt.bitwidth < cont.itemsize * 8:
        u = u & cont.type((1 << dt.bitwidth) - 1)
    return u


def _decode(u: np.ndarray, dt: DataType) -> np.ndarray:
    """Values from unsigned bit patterns ``u``: int64 for integer types, float for FIXED/FLOAT."""
    if dt.kind == "float":
        return u.astype(f"uint{dt.bitwidth}").view(_FLOAT_DTYPES[dt.bitwidth])
    if dt.kind == "bipolar":
        return u.astype(np.int64) * 2 - 1
    if dt.kind == "uint":
        if dt.bitwidth == 64:
            return u.astype(np.uint64)
        return u.astype(np.int64)
    v = u.astype(np.uint64).view(np.int64) if dt.bitwidth == 64 else u.astype(np.int64)
    if dt.bitwidth < 64:  # sign-extend: move the sign bit to bit 63, shift back arithmetically
        k = np.int64(64 - dt.bitwidth)
        v = (v << k) >> k
    if dt.kind == "fixed":
        return (v / float(1 << dt.frac_bits)).astype(np.float32)
    return v


def _word_bytes(elems: int, dt: DataType, word_bytes: int | None) -> int:
    """Bytes per packed word: ``ceil(elems*bw/8)`` unless a (larger) width is given."""
    need = -(-elems * dt.bitwidth // 8)
    if word_bytes is None:
        return need
    if word_bytes < need:
        raise ValueError(f"a word of {elems} x {dt.name} needs {need} bytes, but word_bytes={word_bytes}.")
    return int(word_bytes)


def _pack_le(u: np.ndarray, bw: int, nbytes: int) -> np.ndarray:
    """Little-endian packing of the last axis of bit patterns ``u`` into ``nbytes``-byte words."""
    lead, elems = u.shape[:-1], u.shape[-1]
    used = -(-elems * bw // 8)
    if bw % 8 == 0:
        k, size = bw // 8, _container(bw).itemsize
        body = np.ascontiguousarray(u, dtype=f"<u{size}").view(np.uint8).reshape(*lead, elems, size)
        body = body.reshape(*lead, elems * k) if k == size else body[..., :k].reshape(*lead, elems * k)
    elif 8 % bw == 0 and (elems * bw) % 8 == 0:
        per = 8 // bw
        g = u.astype(np.uint8, copy=False).reshape(*lead, elems // per, per)
        body = g[..., 0].copy()
        for j in range(1, per):
            body |= g[..., j] << np.uint8(j * bw)
    else:
        body = np.zeros((*lead, used), dtype=np.uint8)
        w = u.astype(np.uint64, copy=False)
        for i in range(elems):
            bit = i * bw
            for b in range(bit // 8, (bit + bw - 1) // 8 + 1):
                e0 = 8 * b - bit  # bit of the element that lands on bit 0 of byte b
                part = w[..., i] >> np.uint64(e0) if e0 >= 0 else w[..., i] << np.uint64(-e0)
                body[..., b] |= (part & np.uint64(0xFF)).astype(np.uint8)
    if nbytes == used:
        return body
    out = np.zeros((*lead, nbytes), dtype=np.uint8)
    out[..., :used] = body
    return out


def _unpack_le(p: np.ndarray, bw: int, elems: int) -> np.ndarray:
    """Bit patterns (uint64) of ``elems`` elements from little-endian words on the last axis of ``p``."""
    lead = p.shape[:-1]
    if bw % 8 == 0:
        k, size = bw // 8, _container(bw).itemsize
        raw = p[..., : elems * k].reshape(*lead, elems, k)
        if k != size:
            raw = np.concatenate([raw, np.zeros((*lead, elems, size - k), np.uint8)], axis=-1)
        return np.ascontiguousarray(raw).view(f"<u{size}").reshape(*lead, elems).astype(np.uint64)
    if 8 % bw == 0:
        per = 8 // bw
        nb = -(-elems // per)
        shifts = np.arange(per, dtype=np.uint8) * np.uint8(bw)
        vals = (p[..., :nb, None] >> shifts) & np.uint8((1 << bw) - 1)
        return vals.reshape(*lead, nb * per)[..., :elems].astype(np.uint64)
    mask = np.uint64((1 << bw) - 1)
    out = np.empty((*lead, elems), dtype=np.uint64)
    p64 = p.astype(np.uint64)
    for i in range(elems):
        bit = i * bw
        first, shift = divmod(bit, 8)
        acc = np.zeros(lead, dtype=np.uint64)
        for b in range(first, min((bit + bw - 1) // 8 + 1, first + 8)):
            acc |= p64[..., b] << np.uint64(8 * (b - first))
        acc >>= np.uint64(shift)
        span = 64 - shift
        if bw > span:  # element crosses more than 8 bytes after the shift
            acc |= p64[..., first + 8] << np.uint64(span)
        out[..., i] = acc & mask
    return out


def pack(x: Any, dt: str | DataType, *, word_bytes: int | None = None,
         reverse_inner: bool = True, reverse_endian: bool = True) -> np.ndarray:
    """Pack the innermost axis of ``x`` (elements of one stream word) into bytes (uint8).

    The result has shape ``x.shape[:-1] + (word_bytes,)``; ``word_bytes`` defaults to
    ``ceil(x.shape[-1] * bitwidth / 8)`` (FINN's padding), a larger value pads each word with zero
    bytes (a stream padded to a wider AXI width). Same bytes as FINN's ``finnpy_to_packed_bytearray``.
    """
    dt = datatype(dt)
    x = np.asarray(x)
    if x.ndim == 0:
        x = x.reshape(1)
    u = _encode(x, dt)
    if not reverse_inner:
        u = u[..., ::-1]
    nbytes = _word_bytes(x.shape[-1], dt, word_bytes)
    out = _pack_le(u, dt.bitwidth, nbytes)
    if not reverse_endian:
        out = np.ascontiguousarray(out[..., ::-1])
    return out


def unpack(packed: Any, dt: str | DataType, elems: int | tuple[int, ...], *,
           reverse_inner: bool = True, reverse_endian: bool = True) -> np.ndarray:
    """Unpack words (last axis = bytes) into values: the inverse of :func:`pack`.

    ``elems`` is the number of elements per word, or FINN's folded output shape (its last entry is
    used and the result is reshaped to it). Integer types come back as int64, FIXED as float32,
    FLOAT16/32 as themselves. Same values as FINN's ``packed_bytearray_to_finnpy``.
    """
    dt = datatype(dt)
    p = np.asarray(packed)
    if p.dtype != np.uint8:
        raise TypeError(f"unpack needs bytes (a uint8 array), got {p.dtype}: pass the receive buffer "
                        "as allocated with dtype=np.uint8, or view it with .view(np.uint8).")
    if p.ndim == 0:
        raise ValueError("unpack needs at least one word (an array with a last axis of bytes).")
    shape = tuple(elems) if isinstance(elems, (tuple, list)) else None
    n = int(shape[-1]) if shape else int(elems)  # type: ignore[arg-type]  # elems is an int here
    need = -(-n * dt.bitwidth // 8)
    if p.shape[-1] < need:
        raise ValueError(f"a word of {n} x {dt.name} needs {need} bytes, "
                         f"but the last axis has {p.shape[-1]}.")
    if not reverse_endian:
        p = p[..., ::-1]
    k = dt.bitwidth // 8
    if dt.kind in ("int", "uint") and dt.bitwidth in (8, 16, 32, 64) and p.shape[-1] == n * k:
        # whole native words: a view of the bytes (FINN's fast path), then one conversion
        native = np.ascontiguousarray(p).view(f"<{'i' if dt.kind == 'int' else 'u'}{k}")
        v = native[..., ::-1] if not reverse_inner else native
        v = v.astype(np.uint64 if dt.kind == "uint" and k == 8 else np.int64)
        return v.reshape(shape) if shape else v
    u = _unpack_le(p, dt.bitwidth, n)
    if not reverse_inner:
        u = u[..., ::-1]
    v = _decode(u, dt)
    return v.reshape(shape) if shape else v


def _shape(value: Any, what: str) -> tuple[int, ...]:
    """A shape from a JSON list, checked to be positive integers."""
    if not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError(f"{what} must be a list of positive integers, got {value!r}.")
    return tuple(int(v) for v in value)


@dataclass(frozen=True)
class StreamSpec:
    """One accelerator stream as described in accelerator.json ("input" or "output")."""

    datatype: DataType
    shape_normal: tuple[int, ...]
    shape_folded: tuple[int, ...]
    shape_packed: tuple[int, ...]
    stream_width_bits: int

    @classmethod
    def from_dict(cls, d: dict, where: str = "stream") -> StreamSpec:
        """Build and check a spec from its accelerator.json entry; errors name the bad field."""
        try:
            try:
                dt = datatype(d["datatype"])
            except ValueError as err:
                raise ValueError(f"{where}.datatype: {err}") from None
            spec = cls(dt, _shape(d["shape_normal"], f"{where}.shape_normal"),
                       _shape(d["shape_folded"], f"{where}.shape_folded"),
                       _shape(d["shape_packed"], f"{where}.shape_packed"), int(d["stream_width_bits"]))
        except KeyError as err:
            raise ValueError(f"{where} has no field {err.args[0]!r}.") from None
        spec.check(where)
        if "bytes_per_sample" in d and int(d["bytes_per_sample"]) != spec.bytes_per_sample:
            raise ValueError(f"{where}.bytes_per_sample is {d['bytes_per_sample']} but shape_packed "
                             f"{list(spec.shape_packed)} gives {spec.bytes_per_sample}.")
        return spec

    def check(self, where: str = "stream") -> None:
        """Raise ValueError if the shapes and widths do not fit together."""
        n, f, p = self.shape_normal, self.shape_folded, self.shape_packed
        if int(np.prod(n[1:])) != int(np.prod(f[1:])):
            raise ValueError(f"{where}: shape_normal {list(n)} and shape_folded {list(f)} hold different "
                             "numbers of elements per sample.")
        if f[:-1] != p[:-1]:
            raise ValueError(f"{where}: shape_packed {list(p)} must equal shape_folded {list(f)} except "
                             "its last axis (bytes per word).")
        need = -(-f[-1] * self.datatype.bitwidth // 8)
        if p[-1] < need:
            raise ValueError(f"{where}: a word of {f[-1]} x {self.datatype.name} needs {need} bytes, "
                             f"shape_packed gives {p[-1]}.")
        if self.stream_width_bits != 8 * p[-1]:
            raise ValueError(f"{where}: stream_width_bits {self.stream_width_bits} does not match "
                             f"{p[-1]} bytes per word in shape_packed.")

    def __str__(self) -> str:
        return (f"{self.datatype.name} {list(self.shape_normal)} -> folded {list(self.shape_folded)} "
                f"-> packed {list(self.shape_packed)} bytes, {self.stream_width_bits}-bit stream, "
                f"{self.bytes_per_sample} bytes per sample")

    @property
    def elems_per_word(self) -> int:
        """Elements carried by one stream word (SIMD or PE)."""
        return self.shape_folded[-1]

    @property
    def word_bytes(self) -> int:
        """Bytes of one stream word."""
        return self.shape_packed[-1]

    @property
    def words_per_sample(self) -> int:
        """Stream words (beats) per sample."""
        return int(np.prod(self.shape_packed[1:-1], dtype=np.int64))

    @property
    def bytes_per_sample(self) -> int:
        """Bytes one sample occupies in a DMA buffer."""
        return int(np.prod(self.shape_packed[1:], dtype=np.int64))

    @property
    def elems_per_sample(self) -> int:
        """Values per sample (400 for the default network: the 20x20 centre crop of an MNIST image)."""
        return int(np.prod(self.shape_normal[1:], dtype=np.int64))

    def from_images(self, images: Any) -> np.ndarray:
        """Whole square images -> the samples this stream takes.

        Each image's centre crop when the accelerator takes fewer pixels (the default network: the 20x20
        centre of a 28x28 MNIST image, 400 bytes), else the image flattened.

        Parameters
        ----------
        images : array_like, shape (N, H, W) or (N, H*W)
            Square images, e.g. ``data.load("mnist", "test")[0]``.

        Returns
        -------
        numpy.ndarray, shape (N, elems_per_sample)

        Raises
        ------
        ValueError
            Images that are not square, or smaller than the crop the stream takes.
        """
        x = np.asarray(images)
        if x.ndim == 2:
            side = int(round(np.sqrt(x.shape[1])))
            if side * side != x.shape[1]:
                raise ValueError(f"expected square images (N, H, W) or (N, H*W), got {x.shape}.")
            x = x.reshape(len(x), side, side)
        if x.ndim != 3 or x.shape[1] != x.shape[2]:
            raise ValueError(f"expected square images (N, H, W) or (N, H*W), got {x.shape}.")
        want, side = self.elems_per_sample, x.shape[1]
        crop = int(round(np.sqrt(want)))
        if crop * crop != want or crop > side:
            raise ValueError(f"this stream takes {want} values per sample, not a square crop of "
                             f"{side}x{side} images.")
        lo = (side - crop) // 2
        return np.ascontiguousarray(x[:, lo:lo + crop, lo:lo + crop].reshape(len(x), want))

    def pack(self, x: Any) -> np.ndarray:
        """Pack a batch into the bytes the DMA sends (FINN's stream layout).

        Parameters
        ----------
        x : array_like, shape (N, ...)
            N samples in normal shape (``(N, 400)`` for the default network), values of the stream's
            datatype (raw pixels 0..255 for UINT8).

        Returns
        -------
        numpy.ndarray of uint8, shape ``(N, *shape_packed[1:])``
            Ready to copy into a buffer from ``pynq.allocate(..., dtype=np.uint8)``.

        Raises
        ------
        ValueError
            Whole images instead of crops (use :meth:`from_images`), a value outside the datatype, or a
            size that is not a whole number of samples.
        """
        x = np.asarray(x)
        per = int(np.prod(x.shape[1:], dtype=np.int64)) if x.ndim >= 2 else self.elems_per_sample
        if per != self.elems_per_sample and per > self.elems_per_sample \
                and int(round(np.sqrt(per))) ** 2 == per:
            raise ValueError(f"this accelerator takes {self.elems_per_sample} values per sample, got "
                             f"{per} (whole images?): crop them first with "
                             "pkg.input.from_images(images).")
        n = self._batch(x.size, self.elems_per_sample, "values")
        return pack(x.reshape(n, *self.shape_folded[1:]), self.datatype, word_bytes=self.word_bytes)

    def unpack(self, buf: Any) -> np.ndarray:
        """Unpack the bytes the DMA received into values: the inverse of :meth:`pack`.

        Parameters
        ----------
        buf : array_like of uint8
            The receive buffer (or a slice of it) holding N whole samples.

        Returns
        -------
        numpy.ndarray, shape ``(N, *shape_normal[1:])``
            int64 for integer datatypes (the accelerator's integer outputs).

        Raises
        ------
        TypeError
            A buffer that is not uint8 (allocate it with ``dtype=np.uint8``).
        ValueError
            A size that is not a whole number of samples.
        """
        b = np.asarray(buf)
        if b.dtype != np.uint8:
            raise TypeError(f"expected a uint8 buffer, got {b.dtype}: allocate it with dtype=np.uint8.")
        n = self._batch(b.size, self.bytes_per_sample, "bytes")
        vals = unpack(b.reshape(n, *self.shape_packed[1:]), self.datatype, self.elems_per_word)
        return vals.reshape(n, *self.shape_normal[1:])

    def _batch(self, size: int, per: int, unit: str) -> int:
        """The number of samples in ``size`` units, checked to be whole and non-zero."""
        n, rest = divmod(int(size), per)
        if rest or n == 0:
            raise ValueError(f"{size} {unit} is not a whole number of samples ({per} {unit} per sample, "
                             f"sample shape {list(self.shape_normal[1:])}).")
        return n
