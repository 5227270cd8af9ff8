"""Classify synthetic token sequences (does token 4 occur?) with a tiny BertForSequenceClassification trained by transformers.Trainer at learning_rate=1e-6.

A 2-layer, 32-wide BERT built from a config (no download) learns whether the
marker token 4 occurs anywhere in a 16-token sequence; half the sequences carry
it. Trainer's default optimiser is AdamW, which moves every weight by about the
learning rate per step, so at 1e-6 (decayed linearly to 0 by Trainer's default
schedule) the weights change by at most ~1.5e-4 in 300 steps while the task
needs them to move by ~1e-2 or more: the loss stays at ln 2 = 0.69 (chance)
and the accuracy at about 50%.

Expected: FD502 learning-rate-too-low, FD204 collapsed-output, FD601 loss-not-decreasing
"""
import shutil
import tempfile

import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments


class MarkerDataset(Dataset):
    """Sequences of random tokens 5..49; label 1 when the marker token 4 was put in at a random position."""

    def __init__(self, n=2048, length=16, vocab_size=50, marker=4, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(5, vocab_size, (n, length), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)
        where = torch.randint(1, length, (n,), generator=g)
        has = self.labels == 1
        self.input_ids[has, where[has]] = marker
        self.input_ids[:, 0] = 2  # a [CLS]-like first token, which BERT's pooler reads

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {
            "input_ids": self.input_ids[i],
            "attention_mask": torch.ones_like(self.input_ids[i]),
            "labels": self.labels[i],
        }


torch.manual_seed(0)

config = BertConfig(
    vocab_size=50,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=32,
    num_labels=2,
)
model = BertForSequenceClassification(config)
train_set = MarkerDataset()

output_dir = tempfile.mkdtemp(prefix="hf_trainer_example_")
args = TrainingArguments(
    output_dir=output_dir,
    per_device_train_batch_size=32,
    max_steps=300,
    learning_rate=1e-6,
    logging_steps=50,
    save_strategy="no",
    report_to=[],
    use_cpu=True,
    disable_tqdm=True,
    seed=0,
)
trainer = Trainer(model=model, args=args, train_dataset=train_set)
try:
    trainer.train()
finally:
    shutil.rmtree(output_dir, ignore_errors=True)

model.eval()
with torch.no_grad():
    ids, labels = train_set.input_ids[:512], train_set.labels[:512]
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels)
    accuracy = (out.logits.argmax(-1) == labels).float().mean().item()
print(f"done: final loss {out.loss.item():.4f} (chance ln 2 = 0.6931), accuracy {accuracy:.3f}")
