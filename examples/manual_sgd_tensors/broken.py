"""Fit y = sin(x) on [-pi, pi] with a cubic polynomial a + b*x + c*x**2 + d*x**3 whose four coefficients are raw tensors with requires_grad, updated by hand as in PyTorch's "Learning PyTorch with Examples".

The tutorial sums the squared errors over the 2000 points and uses
learning_rate = 1e-6. This script averages them instead (.mean(), so the
loss doesn't depend on the number of points) but keeps the tutorial's
learning rate, which is now 2000 times too small: in 2000 steps the
coefficients barely move from their random start, and the loss stays far
above the variance of y (the loss of predicting the mean).

Expected: FD502 learning-rate-too-low, FD601 loss-not-decreasing
"""
import math

import torch

torch.manual_seed(0)

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

a = torch.randn((), requires_grad=True)
b = torch.randn((), requires_grad=True)
c = torch.randn((), requires_grad=True)
d = torch.randn((), requires_grad=True)

learning_rate = 1e-6
for t in range(1, 2001):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).mean()
    loss.backward()

    with torch.no_grad():
        for w in (a, b, c, d):
            w -= learning_rate * w.grad
            w.grad = None

    if t == 1 or t % 400 == 0:
        print(f"step {t:4d} | loss {loss.item():.5f}")

print(f"final loss {loss.item():.5f}, variance of y {y.var().item():.5f}")
print(f"y = {a.item():.4f} + {b.item():.4f} x + {c.item():.4f} x^2 + {d.item():.4f} x^3")
