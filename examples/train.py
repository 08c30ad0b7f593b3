"""A small image classifier with five common training bugs.

Run `torchlint examples/train.py` to see them; `torchlint --probe examples/train.py`
(needs torch) confirms each one by running the model.
"""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class SmallNet(nn.Module):
    def __init__(self, num_classes=10, hidden=128):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc1 = nn.Linear(16 * 4 * 4, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv(x)))
        x = F.relu(self.bn(self.fc1(torch.flatten(x, 1))))
        x = F.dropout(x, p=0.3)
        return F.softmax(self.fc2(x), dim=1)


def evaluate(model, loader, criterion):
    total = 0.0
    with torch.no_grad():
        for images, labels in loader:
            total += criterion(model(images), labels).item()
    return total / len(loader)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    images, labels = torch.randn(1025, 1, 28, 28), torch.randint(0, 10, (1025,))
    train_loader = DataLoader(TensorDataset(images, labels), batch_size=args.batch_size, shuffle=True)
    val_loader = DataLoader(TensorDataset(images[:256], labels[:256]), batch_size=256)

    model = SmallNet()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        model.train()
        running = 0.0
        for batch, target in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(batch), target)
            loss.backward()
            optimizer.step()
            running += loss
        print(f"epoch {epoch}: train {running / len(train_loader):.3f} "
              f"val {evaluate(model, val_loader, criterion):.3f}")


if __name__ == "__main__":
    main()
