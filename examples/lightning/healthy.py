"""Regress y = 3*sin(2x) on [-2, 2] with a PyTorch Lightning LightningModule whose MLP ends in a plain Linear layer.

Same data, model, optimiser and Trainer as broken.py; the only change is that
the last Linear layer is no longer followed by nn.Sigmoid, so the output can
reach the targets in [-3, 3].

Expected: none
"""
import pytorch_lightning as pl
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Regressor(pl.LightningModule):
    def __init__(self, hidden=64, lr=1e-2):
        super().__init__()
        self.lr = lr
        self.model = nn.Sequential(
            nn.Linear(1, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),  # fix: no activation on the output layer (was followed by nn.Sigmoid())
        )
        self.loss_fn = nn.MSELoss()

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("train_loss", loss)
        if self.global_step % 50 == 0:
            print(f"step {self.global_step:4d} | loss {loss.item():.4f}")
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


pl.seed_everything(0, verbose=False)

x = torch.linspace(-2, 2, 512).unsqueeze(-1)
y = 3 * torch.sin(2 * x)
loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)

model = Regressor()
trainer = pl.Trainer(
    max_epochs=40,
    accelerator="cpu",
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
)
trainer.fit(model, loader)

with torch.no_grad():
    final = model.loss_fn(model(x), y).item()
print(f"done: final loss {final:.4f}, target variance {y.var().item():.4f}")
