"""A small CNN image classifier as people write it: a Dataset, a DataLoader, normalised pixels, SGD with momentum."""

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

torch.manual_seed(0)


class Shapes(Dataset):
    """10 classes of 3x32x32 images: a class-specific blob pattern plus noise, as uint8 pixels."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 10, (n,), generator=g)
        patterns = torch.rand(10, 3, 8, 8, generator=torch.Generator().manual_seed(1))
        base = nn.functional.interpolate(patterns, size=32, mode="bilinear", align_corners=False)
        noise = 0.35 * torch.randn(n, 3, 32, 32, generator=g)
        self.images = ((base[self.labels] + noise).clamp(0, 1) * 255).to(torch.uint8)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[i].float() / 255.0
        return (image - 0.5) / 0.25, self.labels[i]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


train = DataLoader(Shapes(6000, 0), batch_size=32, shuffle=True)
test = DataLoader(Shapes(1000, 2), batch_size=256)
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
criterion = nn.CrossEntropyLoss()

for epoch in range(2):
    model.train()
    for i, (images, labels) in enumerate(train):
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
        if i % 50 == 0:
            print(f"epoch {epoch} batch {i} loss {loss.item():.3f}")
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in test:
            correct += (model(images).argmax(1) == labels).sum().item()
    print(f"epoch {epoch}: test accuracy {correct / 1000:.3f}")
