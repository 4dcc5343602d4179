"""Backpropagation through time on a toy sequence task: the adding problem (Hochreiter &
Schmidhuber, 1997).  Each sequence holds T random values and two markers; the target is the
sum of the two marked values, so the network must carry what it saw across the sequence.

A tanh RNN and an LSTM (PyTorch's names, gate order and initialisation), each followed by a
Linear layer on the last hidden state, trained with Adam by the fused native loop; the
derived gradient of a tiny RNN shows δ flowing back through time.

    python examples/rnn_sequence.py
"""

import numpy as np

import symbackprop as sb

T = 12


def adding_problem(n, seed):
    """X (n, T, 2): values in [0, 1) and a 0/1 marker channel with two ones; Y (n, 1)."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, T, 2))
    X[:, :, 0] = rng.random((n, T))
    for i in range(n):
        X[i, rng.choice(T, 2, replace=False), 1] = 1.0
    Y = (X[:, :, 0] * X[:, :, 1]).sum(axis=1, keepdims=True)
    return X, Y


class SequenceRegressor(sb.nn.Module):
    """A recurrent layer, then Linear(hidden, 1) on its last state."""

    def __init__(self, recurrent, hidden):
        super().__init__()
        self.rnn, self.head = recurrent, sb.nn.Linear(hidden, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[:, -1])


# δ through time, for a 3-step RNN: each δₜ gathers δₜ₊₁ through W_hh
tiny = SequenceRegressor(sb.nn.RNN(2, 4), 4)
x3, y = sb.input("x", (None, 3, 2)), sb.input("y", (None, 1))
L = sb.mse(tiny(x3), y)
W_hh = next(n for n in sb.graph.traverse.leaves([L]) if n.name == "rnn.weight_hh_l0")
print("backpropagation through time, derived for T = 3:")
print(sb.explain(L, wrt=W_hh))

X, Y = adding_problem(2000, seed=0)
Xt, Yt = adding_problem(500, seed=1)
baseline = float(np.mean((Yt - Y.mean()) ** 2))
print(f"\nadding problem, T = {T}: predicting the mean gives test MSE {baseline:.4f}")
results = {}
for name, layer in (("RNN", sb.nn.RNN(2, 24)), ("LSTM", sb.nn.LSTM(2, 24))):
    tr = sb.Trainer(SequenceRegressor(layer, 24), loss="mse", optimizer=sb.optim.Adam(lr=0.01), backend="llvm",
                    seed=0)
    hist = tr.fit(X, Y, epochs=40, batch_size=50)
    results[name] = float(np.mean((tr.predict(Xt) - Yt) ** 2))
    print(f"{name:4} (hidden 24): {hist.epochs} epochs in {hist.seconds:.2f} s, test MSE {results[name]:.4f} "
          f"({results[name] / baseline:.1%} of the baseline)")
assert min(results.values()) < 0.1 * baseline, results
