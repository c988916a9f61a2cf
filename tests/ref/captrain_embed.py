"""Stands in for vit-embed in the captrain tests: the PyTorch reference encoder
(model.py) over the images of a record stream, written back as records with
`embed` F32 [N, D] in place of `image`, the other fields kept, and
__metadata__.encoder copied from the checkpoint (captrain writes it there).

    captrain_embed.py MODEL.safetensors IN.tsr OUT.tsr
"""
import os
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as ref  # noqa: E402
from tsr import records  # noqa: E402


def main():
    path, src, dst = sys.argv[1:4]
    m, _ = ref.load(path)
    m.eval()
    with safe_open(path, framework="pt") as f:
        fingerprint = f.metadata()["encoder"]
    with open(src, "rb") as f, open(dst, "wb") as out, torch.no_grad():
        for meta, arrays in records(f):
            img = torch.from_numpy(arrays.pop("image")).unsqueeze(0)
            arrays["embed"] = m.encoder(img)[0].numpy().astype(np.float32)
            meta["encoder"] = fingerprint
            out.write(save(arrays, metadata=meta))


if __name__ == "__main__":
    main()
