"""Train a small VAE (64-128-2 encoder, 2-128-64 decoder, ReLU) on 2048 synthetic 8x8 images of a blurred spot, normalised to [-1, 1] like torchvision's Normalize((0.5,), (0.5,)), with loss = summed MSE reconstruction + KL, Adam, mini-batches of 128.

The decoder ends in a sigmoid, copied from an MNIST VAE whose pixels were in
[0, 1]. Here the pixels are in [-1, 1] and most of each image is background
at -1, which a sigmoid can never produce: every background pixel costs at
least 1 whatever the network learns. The reconstruction MSE per pixel stays
above the variance of the pixels (the loss of predicting the mean image), so
the VAE is worse than no model at all.

Expected: FD201 output-range-mismatch, FD602 cannot-overfit-batch, FD601 loss-not-decreasing
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class VAE(nn.Module):
    def __init__(self, dim=64, hidden=128, latent=2):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.mu, self.logvar = nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.dec = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, x):
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return torch.sigmoid(self.dec(z)), mu, logvar


torch.manual_seed(0)

# 2048 images of 8x8 pixels: a blurred spot at a random position, pixels in [0, 1]
centres = 1.5 + 4 * torch.rand(2048, 2, 1, 1)
rows, cols = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
images = torch.exp(-((rows - centres[:, 0]) ** 2 + (cols - centres[:, 1]) ** 2) / 3)
data = ((images - 0.5) / 0.5).reshape(2048, 64)  # Normalize((0.5,), (0.5,)): pixels in [-1, 1]
loader = DataLoader(TensorDataset(data), batch_size=128, shuffle=True)

model = VAE()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(1, 41):
    for (x,) in loader:
        optimizer.zero_grad()
        recon, mu, logvar = model(x)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = F.mse_loss(recon, x, reduction="sum") + kl
        loss.backward()
        optimizer.step()
    if epoch == 1 or epoch % 10 == 0:
        print(f"epoch {epoch:3d} | loss per image {loss.item() / len(x):.3f} | kl {kl.item() / len(x):.3f}")

with torch.no_grad():
    recon, mu, logvar = model(data)
    mse = F.mse_loss(recon, data).item()
print(f"reconstruction MSE per pixel {mse:.4f}, variance of the pixels {data.var(0).mean().item():.4f}")
