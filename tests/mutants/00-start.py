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
        "unsqueeze_ on the inputs: the caller's x and y change shape": '''
def pairwise_sq_distances(x, y):
    x.unsqueeze_(1)  # (N, 1, D)
    y.unsqueeze_(0)  # (1, M, D)
    return ((x - y) ** 2).sum(dim=-1)
''',
        "expands |x|^2 + |y|^2 - 2 x.y: small distances far from the origin cancel out": '''
def pairwise_sq_distances(x, y):
    x_norms = (x**2).sum(dim=-1)[:, None]  # (N, 1)
    y_norms = (y**2).sum(dim=-1)[None, :]  # (1, M)
    return x_norms + y_norms - 2 * x @ y.T
''',
        "torch.cdist squared: floating point only, integer inputs raise": '''
def pairwise_sq_distances(x, y):
    return torch.cdist(x, y) ** 2
''',
        "a Python loop over the rows of y: fails when y has no rows": '''
def pairwise_sq_distances(x, y):
    columns = [((x - row) ** 2).sum(dim=1) for row in y]  # column j: distances to y[j]
    return torch.stack(columns, dim=1)
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
        "autograd instead of the formula: needs grad mode, and sets requires_grad on the caller's w": '''
def mse_gradient(x, w, y):
    w.requires_grad_(True)
    loss = ((x @ w - y) ** 2).mean()
    loss.backward()
    return w.grad
''',
        "the residual through an alias of y: residual -= x @ w changes the caller's y": '''
def mse_gradient(x, w, y):
    residual = y
    residual -= x @ w  # y - x @ w
    return -2.0 / x.shape[0] * (x.T @ residual)
''',
        "accumulates row by row in a float32 zeros tensor: float64 inputs give float32": '''
def mse_gradient(x, w, y):
    grad = torch.zeros(x.shape[1])
    for n in range(x.shape[0]):
        grad += 2.0 / x.shape[0] * (x[n] @ w - y[n]) * x[n]
    return grad
''',
    },
}
