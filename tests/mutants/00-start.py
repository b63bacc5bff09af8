"""Plausible wrong answers to chapter 00's exercises; each must lose points to the hidden tests."""

MUTANTS = {
    "pairwise_sq_distances": {
        "distances, not squared": '''
def pairwise_sq_distances(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(dim=-1).sqrt()
''',
        "rows and columns swapped": '''
def pairwise_sq_distances(x, y):
    return ((x[None, :, :] - y[:, None, :]) ** 2).sum(dim=-1)
''',
        "always float32": '''
def pairwise_sq_distances(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(dim=-1).float()
''',
    },
    "mse_gradient": {
        "sum instead of mean (no 1/N)": '''
def mse_gradient(x, w, y):
    return 2.0 * x.T @ (x @ w - y)
''',
        "factor 2 forgotten": '''
def mse_gradient(x, w, y):
    return x.T @ (x @ w - y) / x.shape[0]
''',
        "residual with the wrong sign": '''
def mse_gradient(x, w, y):
    return 2.0 / x.shape[0] * x.T @ (y - x @ w)
''',
    },
}
