"""Train a small GAN to sample from a 1-D Gaussian N(4, 1.25**2): an 8-32-32-1 ReLU generator and a 1-32-32-1 LeakyReLU discriminator, BCEWithLogitsLoss and two Adam optimizers.

The bug is in the discriminator: its optimizer was copied from the
generator's line and still holds G.parameters(). opt_d.step() never touches
the discriminator, which keeps its random initial weights, so the generator
is trained to fool a fixed random function. It pushes its samples towards
wherever that function's logit is highest, off towards infinity, and the
samples end up nowhere near N(4, 1.25**2).

Expected: FD504 params-not-updated
"""
import torch
import torch.nn as nn

torch.manual_seed(0)

real_mean, real_std, batch = 4.0, 1.25, 128


def sample_real(n):
    return real_mean + real_std * torch.randn(n, 1)


G = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
D = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
bce = nn.BCEWithLogitsLoss()
opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

for step in range(1, 801):
    real = sample_real(batch)
    fake = G(torch.randn(batch, 8))

    opt_d.zero_grad()
    d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
    d_loss.backward()
    opt_d.step()

    opt_g.zero_grad()
    g_loss = bce(D(fake), ones)
    g_loss.backward()
    opt_g.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | d_loss {d_loss.item():.4f} | g_loss {g_loss.item():.4f} | fake mean {fake.mean().item():.3f}")

with torch.no_grad():
    fake = G(torch.randn(10_000, 8)).squeeze(1)
real = sample_real(10_000).squeeze(1)
w1 = (fake.sort().values - real.sort().values).abs().mean().item()
print(f"generated mean {fake.mean().item():.3f} std {fake.std().item():.3f} "
      f"(target {real_mean} / {real_std}); Wasserstein-1 to real samples {w1:.3f}")
