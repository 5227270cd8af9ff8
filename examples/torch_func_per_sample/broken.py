"""Classify 8x8 grey-scale images (pixel values 0 to 255) of 4 kinds of stroke with a 64-64-4 ReLU MLP, computing per-sample gradients with torch.func (functional_call, grad, vmap) as in PyTorch's "Per-sample-gradients" tutorial, averaging them into p.grad and stepping torch.optim.SGD (lr=0.1), in mini-batches of 128.

The pixels are fed as 0..255 instead of 0..1. The logits at init are already
in the tens, and the gradients of the first layer scale with the pixel
values, so the first SGD steps are hundreds of times too large: the
first-layer weights are thrown far away (norm ~260), every ReLU unit dies,
the output is the same for every image, and the loss and accuracy stay at
chance (log 4 = 1.386, 0.25).

Expected: FD101 unscaled-inputs, FD501 learning-rate-too-high, FD301 dead-relu, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

torch.manual_seed(0)

# 2048 images: a horizontal, vertical, diagonal or anti-diagonal stroke at a random offset, plus noise
n = 2048
labels = torch.randint(0, 4, (n,))
offset = torch.randint(-2, 3, (n,))
r, c = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
coord = torch.stack([r, c, r - c, r + c - 7])[labels] - offset.view(n, 1, 1) - 3.5 * (labels < 2).view(n, 1, 1)
images = (255 * torch.exp(-coord.float() ** 2) + 40 * torch.rand(n, 8, 8)).clamp(0, 255).round()

x = images.reshape(n, 64)

model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)


def compute_loss(params, buffers, sample, target):
    prediction = functional_call(model, (params, buffers), (sample.unsqueeze(0),))
    return F.cross_entropy(prediction, target.unsqueeze(0))


per_sample_grad = vmap(grad(compute_loss), in_dims=(None, None, 0, 0))

step = 0
for epoch in range(10):
    perm = torch.randperm(n)
    for i in range(0, n, 128):
        idx = perm[i:i + 128]
        params = {k: v.detach() for k, v in model.named_parameters()}
        buffers = {k: v.detach() for k, v in model.named_buffers()}
        grads = per_sample_grad(params, buffers, x[idx], labels[idx])
        for name, p in model.named_parameters():
            p.grad = grads[name].mean(0)
        optimizer.step()
        step += 1
    with torch.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, labels).item()
        acc = (logits.argmax(-1) == labels).float().mean().item()
    print(f"epoch {epoch + 1:2d} (step {step:3d}) | loss {loss:.4g} | accuracy {acc:.3f}")

print(f"final loss {loss:.4g}, accuracy {acc:.3f} (chance: loss 1.3863, accuracy 0.25)")
