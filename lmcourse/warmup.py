# Generated from solutions/00-start/00-start.ipynb by `lmcourse export`: edit the notebook, not this file.

"""PyTorch warm-up (chapter 00): broadcasting, and a gradient worked out by hand.

These are the course's first exercises; `lmcourse status` shows whether yours pass.
"""
import torch


def pairwise_sq_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance between every row of x and every row of y.

    x: (N, D), y: (M, D) -> (N, M), where out[i, j] = sum_k (x[i, k] - y[j, k]) ** 2, in the
    inputs' dtype (floating or integer); N or M may be 0. x and y are not changed. Sum the squared
    differences themselves: the shortcut |x|^2 + |y|^2 - 2 x.y loses small distances between
    vectors far from the origin.

    >>> pairwise_sq_distances(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [1.0, 0.0]]))
    tensor([[25.,  1.]])
    """
    difference = x[:, None, :] - y[None, :, :]  # (N, M, D)
    return (difference**2).sum(dim=-1)


def mse_gradient(x: torch.Tensor, w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient of the mean squared error of a linear model, worked out by hand.

    x: (N, D) inputs, w: (D,) weights, y: (N,) targets -> (D,), the gradient of
    L(w) = mean((x @ w - y) ** 2) with respect to w, that is 2 / N * x.T @ (x @ w - y), in the
    inputs' dtype. Tensor operations only, no autograd (it works under torch.no_grad()); x, w and
    y are not changed.

    >>> mse_gradient(torch.tensor([[1.0, 2.0]]), torch.tensor([0.5, 0.5]), torch.tensor([1.0]))
    tensor([1., 2.])
    """
    residual = x @ w - y  # (N,)
    return 2.0 / x.shape[0] * (x.T @ residual)
