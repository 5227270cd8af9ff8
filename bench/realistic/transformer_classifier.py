"""A Transformer encoder classifier as people write it: token + position embeddings, mean pooling, AdamW."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
vocab, length, n, classes = 1000, 32, 6000, 4
g = torch.Generator().manual_seed(0)
tokens = torch.randint(0, vocab, (n, length), generator=g)
labels = torch.randint(0, classes, (n,), generator=g)
for i in range(n):  # each class has 25 marker tokens; 3 of them land at random positions
    slots = torch.randint(0, length, (3,), generator=g)
    tokens[i, slots] = labels[i] * 25 + torch.randint(0, 25, (3,), generator=g)
loader = DataLoader(TensorDataset(tokens, labels), batch_size=32, shuffle=True)


class Classifier(nn.Module):
    def __init__(self, d: int = 128) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(1, length, d))
        layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.tok(x) + self.pos)
        return self.head(self.norm(h.mean(dim=1)))


model = Classifier()
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)
criterion = nn.CrossEntropyLoss()
for epoch in range(2):
    model.train()
    for i, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        if i % 50 == 0:
            print(f"epoch {epoch} step {i} loss {loss.item():.3f}")
