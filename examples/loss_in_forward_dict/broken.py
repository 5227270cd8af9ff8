"""Predict a user's star rating (1 to 5) of a product from 8 standardised user and product features with a 8-64-64-1 ReLU MLP whose forward(x, labels=None) returns a dict {"pred": ..., "loss": ...}, trained by Adam.

The output layer ends in a sigmoid "because ratings are bounded", but the
ratings are not rescaled to [0, 1]: they run from 1 to 5. A sigmoid never
reaches 1, so every prediction is pushed against its ceiling and the loss
stays near the mean of (rating - 1)**2, far above the variance of the
ratings (the loss of predicting the mean rating).

Expected: FD201 output-range-mismatch, FD602 cannot-overfit-batch, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class RatingModel(nn.Module):
    def __init__(self, n_features=8, hidden=64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
        )
        self.out = nn.Linear(hidden, 1)

    def forward(self, x, labels=None):
        pred = torch.sigmoid(self.out(self.body(x))).squeeze(-1)
        loss = F.mse_loss(pred, labels) if labels is not None else None
        return {"pred": pred, "loss": loss}


torch.manual_seed(0)

# 1000 (user, product) pairs and the stars the user gave
x = torch.randn(1000, 8)
score = x[:, 0] - 0.5 * x[:, 1] + torch.tanh(x[:, 2] * x[:, 3]) + 0.3 * x[:, 4] ** 2
y = (3 + score).round().clamp(1, 5)

model = RatingModel()
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)

for step in range(1, 601):
    optimizer.zero_grad()
    out = model(x, labels=y)
    out["loss"].backward()
    optimizer.step()
    if step == 1 or step % 200 == 0:
        print(f"step {step:4d} | loss {out['loss'].item():.4f}")

print(f"final loss {out['loss'].item():.4f}, variance of the ratings {y.var().item():.4f}")
