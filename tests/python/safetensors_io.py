"""The safetensors format written out for the reference implementations (make_gpt2.py, make_llama.py).

A file is an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
byte range, padding to 8 bytes, then the raw little-endian data. Both directions work one tensor at a
time, so a multi-gigabyte checkpoint never sits in memory twice: `write_safetensors` takes tensors or
(dtype, shape, producer) triples and calls each producer only when its bytes are due; `read_safetensors`
seeks to each tensor and can convert it to the caller's dtype as it arrives.
"""
import json
import os
import struct

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64", torch.bfloat16: "BF16", torch.int64: "I64"}
NAMES = {v: k for k, v in DTYPES.items()}


def nbytes(dtype, shape):
    count = 1
    for s in shape:
        count *= s
    return count * torch.empty(0, dtype=dtype).element_size()


def write_safetensors(path, tensors):
    """tensors: name -> tensor, or name -> (dtype, shape, producer) where producer() returns the tensor.
    Writes to a temporary file and renames it, so a failed write leaves no half file behind."""
    specs = {}
    for name, t in tensors.items():
        specs[name] = (t.dtype, tuple(t.shape), (lambda t=t: t)) if isinstance(t, torch.Tensor) else t
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, (dtype, shape, _) in specs.items():
        size = nbytes(dtype, shape)
        header[name] = {"dtype": DTYPES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, (dtype, shape, produce) in specs.items():
            t = produce().contiguous()
            assert t.dtype == dtype and tuple(t.shape) == shape, (name, t.dtype, t.shape, dtype, shape)
            f.write((t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().data)  # numpy has no bfloat16
    os.replace(path + ".tmp", path)


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)), 8 + n


def read_safetensors(path, dtype=None):
    """name -> tensor in the file's order; with dtype, each tensor is converted as soon as it is read."""
    header, start = read_header(path)
    # transformers refuses a safetensors file whose metadata does not say it holds PyTorch tensors
    assert header.get("__metadata__", {}).get("format") == "pt", f"{path}: __metadata__ format is not 'pt'"
    out = {}
    with open(path, "rb") as f:
        for name, e in header.items():
            if name == "__metadata__":
                continue
            a, b = e["data_offsets"]
            kind = NAMES[e["dtype"]]
            f.seek(start + a)
            data = bytearray(b - a)  # read straight into the buffer the tensor keeps: one copy, not two
            assert f.readinto(data) == b - a, f"{path}: {name} runs past the end of the file"
            t = torch.frombuffer(data, dtype=kind) if b > a else torch.zeros(0, dtype=kind)
            t = t.reshape(e["shape"])
            out[name] = t if dtype is None or dtype == kind else t.to(dtype)
    return out
