"""Classify short reviews, given as token ids, as positive or negative; the reviews and their labels are read in two orders.

The reviews are read one file each, in sorted file-name order, and the
labels from an index kept in the order the reviews were collected: every
review now carries another review's label. The model, a bag of word
embeddings, can't memorise 2,048 labels: the training loss stays near
0.67, the loss of always predicting the label prior (60 % of reviews are
negative), and accuracy on fresh reviews is 57 %, about that share. With
the reviews' token ids as inputs, no feature of the inputs can be planted
as a control; fitdoctor hands the labels out by another random draw of
the same model instead. The healthy twin, with the labels read in the
reviews' order, reaches 99 %. Files and labels read in different orders
come up in forum threads about accuracy stuck at chance.

Expected: FD105 no-signal, FD601 loss-not-decreasing
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
vocab, length, n = 200, 20, 2048
tone = torch.zeros(vocab)
tone[:20], tone[20:40] = 1.0, -1.0  # 20 positive and 20 negative words; the rest are neutral


def reviews(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, vocab, (count, length))
    return tokens, (tone[tokens].sum(1) > 0).long()


tokens, labels = reviews(n)
file_order = torch.randperm(n)  # the review files, sorted by name
tokens = tokens[file_order]  # the labels stay in the order the reviews were collected


class BagOfWords(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 16)
        self.out = nn.Linear(16, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(ids).mean(1))


loader = DataLoader(TensorDataset(tokens, labels), batch_size=64, shuffle=True)
model = BagOfWords()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

for epoch in range(10):
    total = 0.0
    for ids, y in loader:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(ids), y)
        loss.backward()
        optimizer.step()
        total += loss.item()
    print(f"epoch {epoch}: loss {total / len(loader):.3f}")

test_tokens, test_labels = reviews(500)
with torch.no_grad():
    accuracy = (model(test_tokens).argmax(1) == test_labels).float().mean()
print(f"accuracy on fresh reviews: {accuracy:.1%}")
