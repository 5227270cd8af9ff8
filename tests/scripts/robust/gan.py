"""A tiny GAN: a generator and a discriminator, each with its own Adam optimizer."""

import torch
from torch import nn

torch.manual_seed(0)
real = torch.randn(256, 2) * 0.5 + 2.0
G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
opt_g = torch.optim.Adam(G.parameters(), lr=1e-3)
opt_d = torch.optim.Adam(D.parameters(), lr=1e-3)
bce = nn.BCEWithLogitsLoss()
for step in range(400):
    z = torch.randn(64, 4)
    batch = real[torch.randint(0, 256, (64,))]
    opt_d.zero_grad()
    d_loss = bce(D(batch), torch.ones(64, 1)) + bce(D(G(z).detach()), torch.zeros(64, 1))
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    g_loss = bce(D(G(z)), torch.ones(64, 1))
    g_loss.backward()
    opt_g.step()
print("d", d_loss.item(), "g", g_loss.item())
