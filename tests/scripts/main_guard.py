"""Loop style: full-batch training inside def main() called under the __main__ guard, configured by argparse (--epochs, --lr)."""

import argparse

import torch
from torch import nn


def parse_args():
    parser = argparse.ArgumentParser(description="toy regression")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-2)
    return parser.parse_args()


def main():
    args = parse_args()
    print(f"epochs={args.epochs} lr={args.lr}")
    torch.manual_seed(0)

    X = torch.rand(256, 2) * 2 - 1
    Y = torch.sin(2 * X[:, :1]) + 0.5 * X[:, 1:]

    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()

    for epoch in range(args.epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        optimizer.step()
        if epoch % 50 == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch} loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
