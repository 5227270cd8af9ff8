"""Loop style: full-batch training that calls matplotlib plt.show() mid-training (after epoch 10) and again at the end to plot the loss curve."""

import matplotlib.pyplot as plt
import torch
from torch import nn

torch.manual_seed(0)

X = torch.rand(256, 2) * 2 - 1
Y = torch.sin(2 * X[:, :1]) + 0.5 * X[:, 1:]

model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.MSELoss()

losses = []
for epoch in range(300):
    optimizer.zero_grad()
    loss = loss_fn(model(X), Y)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if epoch % 50 == 0 or epoch == 299:
        print(f"epoch {epoch} loss {loss.item():.4f}")
    if epoch == 10:
        plt.figure()
        plt.plot(losses)
        plt.title("progress after epoch 10")
        plt.show()

plt.figure()
plt.plot(losses)
plt.xlabel("epoch")
plt.ylabel("MSE loss")
plt.title("training loss")
plt.show()
