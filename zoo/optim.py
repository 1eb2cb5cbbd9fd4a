"""Optimiser hints -> AdamW parameter groups, in one place so every trainer honours them the same way."""

from __future__ import annotations

from torch import nn

from zoo.registry import Mixer

HINT_KEYS = ("lr_scale", "lr_max", "weight_decay")


def _hints_by_parameter(model: nn.Module) -> dict[int, dict]:
    """id(param) -> the hint that names it, gathered from every :class:`Mixer` inside ``model``."""
    hints: dict[int, dict] = {}
    for module in model.modules():
        if not isinstance(module, Mixer):
            continue
        for params, hint in module.optim_hints():
            unknown = set(hint) - set(HINT_KEYS)
            if unknown:
                name = type(module).__name__
                raise ValueError(f"{name}.optim_hints: unknown keys {sorted(unknown)}; valid: {HINT_KEYS}.")
            for p in params:
                if id(p) in hints and hints[id(p)] != hint:
                    raise ValueError(
                        f"{type(module).__name__}.optim_hints names a parameter of shape {tuple(p.shape)} twice "
                        f"with different settings: {hints[id(p)]} and {hint}."
                    )
                hints[id(p)] = hint
    return hints


def param_groups(model: nn.Module, lr: float, weight_decay: float) -> list[dict]:
    """AdamW parameter groups for ``model``, honouring every mixer's :meth:`~zoo.Mixer.optim_hints`.

    A hinted parameter gets lr = min(lr · lr_scale, lr_max) and the hint's weight decay (default: the rule
    below). Other parameters: weight decay ``weight_decay`` for matrices, none for 1-D tensors (norm weights,
    linear biases). Parameters with the same (lr, weight decay) share a group; each group also carries
    ``lr_scale`` (its lr / ``lr``) so a schedule can be applied on top, and ``names`` for logging.
    Frozen parameters (``requires_grad=False``) are left out.
    """
    hints = _hints_by_parameter(model)
    groups: dict[tuple[float, float], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        hint = hints.get(id(p), {})
        group_lr = lr * hint.get("lr_scale", 1.0)
        if hint.get("lr_max") is not None:
            group_lr = min(group_lr, hint["lr_max"])
        decay = hint.get("weight_decay", 0.0 if p.dim() < 2 else weight_decay)
        group = groups.setdefault(
            (group_lr, decay),
            {"params": [], "names": [], "lr": group_lr, "weight_decay": decay, "lr_scale": group_lr / lr},
        )
        group["params"].append(p)
        group["names"].append(name)
    return list(groups.values())
