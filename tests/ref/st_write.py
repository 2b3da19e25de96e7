"""Writes a safetensors file by hand (no safetensors package needed): shared
by the fixture generators gen_engine.py and gen_supernet.py."""
import json
import os
import struct

import numpy as np
import torch


def write_safetensors(path, tensors, meta):
    """tensors: name -> torch tensor or numpy array; floating point is stored
    as F32, integers as I32. meta (str -> anything printable) becomes
    __metadata__ when not empty. Written to a temp file, then renamed."""
    header, blobs, at = {}, [], 0
    if meta:
        header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    for name, t in tensors.items():
        a = t.detach().contiguous().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        if np.issubdtype(a.dtype, np.floating):
            a, dtype = a.astype("<f4"), "F32"
        else:
            a, dtype = a.astype("<i4"), "I32"
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
