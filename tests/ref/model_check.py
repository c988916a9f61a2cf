"""Checks the C model (test_model's driver modes) against the PyTorch reference
in model.py, in fp32 on the CPU.

    model_check.py grads DIR MODE
        DIR from `test_model dump CONFIG SEED DIR MODE`: the encoder output, the
        logits, the loss and every trained parameter's gradient.
    model_check.py train DIR MODE LOSSES
        LOSSES: the output of `test_model train CONFIG SEED N DIR MODE` ("step
        loss grad_norm" lines); the same steps with torch.optim.AdamW (lr 1e-3,
        weight decay 0.1 on the weights of linear maps only, gradient norm
        clipped to 1.0) must give the same losses.

MODE: full (encoder trained, from images), frozen (from images, encoder
frozen), embed (frozen, from the batch's embeddings). Prints one line per
tensor: max |C - torch| / max |torch|; exits 1 when one is over the tolerance.
"""
import os
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as ref  # noqa: E402

TOL = 1e-4
failed = []


def rel(ours, theirs):
    return ((ours - theirs).abs().max() / theirs.abs().max().clamp_min(1e-30)).item()


def report(name, err, tol=TOL):
    ok = err <= tol
    print(f"{name:56s} {err:.2e} {'ok' if ok else 'FAILED'}")
    if not ok:
        failed.append(name)


def setup(d, mode):
    torch.manual_seed(0)
    m, _ = ref.load(os.path.join(d, "model.safetensors"))
    batch = load_file(os.path.join(d, "batch.safetensors"))
    if mode != "full":
        for p in m.encoder.parameters():
            p.requires_grad_(False)
    return m, batch


def memory(m, batch, mode):
    if mode == "embed":
        return batch["embed"]
    if mode == "frozen":
        with torch.no_grad():
            return m.encoder(batch["images"])
    return m.encoder(batch["images"])


def grads(d, mode):
    m, batch = setup(d, mode)
    out = load_file(os.path.join(d, "out.safetensors"))
    ids, targets = batch["ids"].long(), batch["targets"].long()
    mem = memory(m, batch, mode)
    if mode != "embed":
        report("encoder output", rel(out["embed"], mem))
    logits = m.decoder(ids, mem)
    report("logits", rel(out["logits"], logits))
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             targets.reshape(-1), ignore_index=0)
    report(f"loss ({loss.item():.6f})", rel(out["loss"], loss.reshape(1)))
    loss.backward()
    names = set()
    worst = 0.0
    for name, p in m.named_parameters():
        if not p.requires_grad:
            continue
        names.add("grad." + name)
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        if ("grad." + name) not in out:
            report(f"grad.{name} (missing)", float("inf"))
            continue
        err = rel(out["grad." + name], g)
        worst = max(worst, err)
        report("grad." + name, err)
    extra = sorted(k for k in out if k.startswith("grad.") and k not in names)
    if extra:
        report(f"gradients of untrained tensors: {', '.join(extra)}", float("inf"))
    print(f"{len(names)} gradients, worst {worst:.2e}")


def train(d, mode, losses_path):
    m, batch = setup(d, mode)
    ids, targets = batch["ids"].long(), batch["targets"].long()
    ours = [tuple(map(float, line.split()[1:3])) for line in open(losses_path) if line.strip()]
    decay, rest = [], []
    for module in m.modules():
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            (decay if isinstance(module, torch.nn.Linear) and pname == "weight" else rest).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    trained = decay + rest
    for step, (our_loss, our_norm) in enumerate(ours, 1):
        mem = memory(m, batch, mode)
        logits = m.decoder(ids, mem)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 targets.reshape(-1), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(trained, 1.0).item()
        opt.step()
        report(f"step {step:2d}: loss {loss.item():.6f}, C {our_loss:.6f}",
               abs(our_loss - loss.item()) / abs(loss.item()))
        report(f"step {step:2d}: grad norm {norm:.6f}, C {our_norm:.6f}",
               abs(our_norm - norm) / abs(norm))


def main():
    torch.set_num_threads(1)
    if len(sys.argv) == 4 and sys.argv[1] == "grads":
        grads(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
    if failed:
        print(f"{len(failed)} FAILED")
        sys.exit(1)


if __name__ == "__main__":
    main()
