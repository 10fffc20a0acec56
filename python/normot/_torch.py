"""PyTorch tensors in normot.emd / emd2: zero-copy views for the library, results as tensors of
the caller's dtype and device, and the gradient of emd2.

PyTorch is imported only when the caller's objects already come from it, so the package works
without it.
"""

from __future__ import annotations

import numpy as np


def is_tensor(obj) -> bool:
    """True for torch.Tensor and its subclasses (nn.Parameter), without importing torch."""
    return any(cls.__module__.split(".")[0] == "torch" and cls.__name__ in ("Tensor", "Parameter")
               for cls in type(obj).__mro__)


def library_view(obj):
    """What the library reads for obj: a numpy view of a CPU tensor (no copy, detached from
    autograd), a detached CUDA tensor (seen through its device pointer), anything else as is."""
    if not is_tensor(obj):
        return obj
    tensor = obj.detach()
    if tensor.device.type == "cpu":
        return tensor.resolve_conj().resolve_neg().numpy()
    return tensor


def torch_dtype_of(reference):
    """The torch dtype matching a tensor, a numpy array or a numpy dtype."""
    import torch

    if is_tensor(reference):
        return reference.dtype
    dtype = np.dtype(getattr(reference, "dtype", reference))
    return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype


def as_tensor(values, dtype, device):
    """values (numpy or torch) as a tensor of dtype on device; no copy when they already are."""
    import torch

    tensor = torch.from_numpy(values) if isinstance(values, np.ndarray) else values
    return tensor.to(dtype=dtype, device=device)


def needs_gradient(*inputs) -> bool:
    """Whether autograd records this call: grad mode is on and an input asks for gradients."""
    tensors = [x for x in inputs if is_tensor(x)]
    if not tensors:
        return False
    import torch

    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


_function = None


def _costs_function():
    """The autograd Function, defined on first use so that importing normot needs no torch."""
    global _function
    if _function is not None:
        return _function
    import torch

    class CostsWithGradients(torch.autograd.Function):
        """Costs (k,) whose gradient with respect to each input is known from the solve: the
        plan for M, the centred duals for a and b (per problem, (k, ...))."""

        @staticmethod
        def forward(ctx, costs, per_problem, *inputs):
            ctx.per_problem = per_problem
            ctx.shapes = [None if x is None else (x.shape, x.dtype, x.device) for x in inputs]
            return costs

        @staticmethod
        def backward(ctx, grad_costs):
            grads = []
            for gradient, shape in zip(ctx.per_problem, ctx.shapes):
                if gradient is None or shape is None:
                    grads.append(None)
                elif isinstance(gradient, SparsePlans):
                    grads.append(gradient.weighted_sum(grad_costs, *shape))
                else:
                    weights = grad_costs.reshape((-1,) + (1,) * (gradient.dim() - 1))
                    grads.append(_reduce_to(gradient * weights.to(gradient.dtype), *shape))
            return (None, None, *grads)

    _function = CostsWithGradients
    return _function


class SparsePlans:
    """The plans of a batch as their positive entries (problem, row, col, value), the gradient
    of the costs with respect to M until the backward pass makes it dense."""

    def __init__(self, problem, rows, cols, values, k):
        self.problem, self.rows, self.cols, self.values, self.k = problem, rows, cols, values, k

    def weighted_sum(self, grad_costs, shape, dtype, device):
        """sum_i grad_costs[i] * plan_i, shaped like M: (k, n, m), or (n, m) / (1, n, m) when
        M is shared by every problem (entries of several problems then add up)."""
        import torch

        as_index = lambda array: torch.as_tensor(array, device=device)  # noqa: E731
        problem = as_index(self.problem)
        values = torch.as_tensor(self.values, device=device).to(dtype)
        values = values * grad_costs.to(device=device, dtype=dtype)[problem]
        if device.type == "cpu":
            # numpy's zeros are lazily zeroed (huge) pages: much cheaper than torch.zeros here
            out = torch.from_numpy(np.zeros(tuple(shape), dtype=_numpy_dtype(dtype)))
        else:
            out = torch.zeros(tuple(shape), dtype=dtype, device=device)
        rows, cols = as_index(self.rows), as_index(self.cols)
        if len(shape) == 3 and shape[0] == self.k:
            return out.index_put_((problem, rows, cols), values)
        # (n, m), or (1, n, m) seen as (n, m): the problems' entries add up
        out.view(-1, shape[-1]).index_put_((rows, cols), values, accumulate=True)
        return out


def _numpy_dtype(torch_dtype):
    import torch

    return torch.empty(0, dtype=torch_dtype).numpy().dtype


def _reduce_to(per_problem, shape, dtype, device):
    """A (k, ...) gradient summed over the problems an input serves: all of them for an input
    without the batch dimension (shared, or a single problem), or a (1, ...) shared cost."""
    if len(shape) == per_problem.dim() - 1:
        per_problem = per_problem.sum(0)
    elif shape[0] == 1 and per_problem.shape[0] != 1:
        per_problem = per_problem.sum(0, keepdim=True)
    return per_problem.reshape(shape).to(dtype=dtype, device=device)


def differentiable_costs(costs, inputs, gradients):
    """costs (k,) made differentiable: inputs are (a, b, M) in the form the solve saw them
    (tensors, or None where no gradient is wanted), gradients the matching (k, ...) tensors."""
    tensors = [x if is_tensor(x) and x.requires_grad else None for x in inputs]
    per_problem = tuple(g if t is not None else None for g, t in zip(gradients, tensors))
    return _costs_function().apply(costs, per_problem, *tensors)
