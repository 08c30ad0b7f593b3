# Seed 002: an LSTM script generator whose validation loss jumps to 184.
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

train_on_gpu = torch.cuda.is_available()


class RNN(nn.Module):
    def __init__(self, vocab_size, output_size, embedding_dim, hidden_dim, n_layers, dropout=0.5,
                 pretrained_embedding=None):
        super(RNN, self).__init__()
        self.n_layers = n_layers
        self.hidden_dim = hidden_dim
        self.vocab_size = vocab_size
        self.output_size = output_size
        self.embedding_dim = embedding_dim
        self.embd = nn.Embedding(num_embeddings=vocab_size, embedding_dim=embedding_dim)
        if pretrained_embedding is not None:
            nn.Embedding.from_pretrained(torch.from_numpy(pretrained_embedding))  # expect: TL401
        self.lstm = nn.LSTM(input_size=embedding_dim, num_layers=n_layers, hidden_size=hidden_dim,
                            dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.bn = nn.BatchNorm1d(num_features=hidden_dim)
        self.fc = nn.Linear(in_features=hidden_dim, out_features=100)
        self.fc2 = nn.Linear(in_features=100, out_features=output_size)

    def forward(self, nn_input, hidden):
        x = self.embd(nn_input.long())
        x, hidden = self.lstm(x, hidden)
        x = x[:, -1, :]
        x = self.bn(x)
        x = self.fc(x)
        x = self.dropout(x)
        x = self.fc2(x)
        return x, hidden

    def init_hidden(self, batch_size):
        weight = next(self.parameters()).data
        return (weight.new(self.n_layers, batch_size, self.hidden_dim).zero_(),
                weight.new(self.n_layers, batch_size, self.hidden_dim).zero_())


#tH§#ºI񙚰7uÁ򿠣l»\	
#    	     	 
def batch_data(words, sequence_length, batch_size):
    features = [words[i:i + sequence_length] for i in range(len(words) - sequence_length)]
    targets = [words[i + sequence_length] for i in range(len(words) - sequence_length)]
    data = TensorDataset(torch.tensor(np.array(features)), torch.tensor(np.array(targets)))
    return DataLoader(data, shuffle=True, batch_size=batch_size)  # expect: TL301


def forward_back_prop(rnn, optimizer, criterion, inp, target, hidden):
    hidden = tuple(h.detach() for h in hidden)
    rnn.zero_grad()
    output, hidden = rnn(inp, hidden)
    loss = criterion(output, target.long())
    loss.backward()
    nn.utils.clip_grad_norm_(rnn.parameters(), 5)
    optimizer.step()
    return loss.item(), hidden


def validate(rnn, criterion, loader, batch_size):
    hidden = rnn.init_hidden(batch_size)
    total = 0.0
    with torch.no_grad():
        for inputs, labels in loader:
            hidden = rnn.init_hidden(inputs.size(0))
            output, hidden = rnn(inputs, hidden)  # expect: TL101
            total += criterion(output, labels.long()).item()
    return total / len(loader)


def train_rnn(rnn, batch_size, optimizer, criterion, n_epochs, train_loader, valid_loader):
    rnn.train()
    for epoch_i in range(1, n_epochs + 1):
        hidden = rnn.init_hidden(batch_size)
        for batch_i, (inputs, labels) in enumerate(train_loader, 1):
            if inputs.size(0) != batch_size:
                hidden = rnn.init_hidden(inputs.size(0))
            loss, hidden = forward_back_prop(rnn, optimizer, criterion, inputs, labels, hidden)
        print("validation loss:", validate(rnn, criterion, valid_loader, batch_size))
    return rnn


if __name__ == "__main__":
    words = list(np.random.randint(0, 5000, size=20000))
    sequence_length, batch_size = 10, 128
    train_loader = batch_data(words[:18000], sequence_length, batch_size)
    valid_loader = batch_data(words[18000:], sequence_length, batch_size)
    rnn = RNN(5000, 5000, 200, 256, 2, dropout=0.5, pretrained_embedding=np.random.rand(5000, 200).astype("float32"))
    optimizer = torch.optim.Adam(rnn.parameters(), lr=0.001)
    criterion = nn.CrossEntropyLoss()
    train_rnn(rnn, batch_size, optimizer, criterion, 5, train_loader, valid_loader)
