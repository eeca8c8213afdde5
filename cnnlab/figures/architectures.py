"""Figures of lecture 02 (architectures): layer costs, Inception's branches, the degradation experiment, the
comparison of small networks and the model zoo.

Each function draws numbers the lecture has already computed (it computes nothing the lecture asserts on) and
returns the ``Figure``. Results over several seeds are drawn as the mean with a bar of one standard deviation and
one dot per seed, so that the spread is visible next to the difference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

CONV_COLOR, FC_COLOR = "#1f77b4", "#d62728"


def layer_costs(labels: Sequence[str], params: Sequence[int], macs: Sequence[int], title: str) -> Figure:
    """Two bar charts, parameters and multiply-adds per layer; layers whose label starts with "conv" are blue,
    the others (fully connected) red."""
    colors = [CONV_COLOR if label.startswith("conv") else FC_COLOR for label in labels]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3))
    axes[0].bar(labels, np.asarray(params) / 1e6, color=colors)
    axes[0].set_ylabel("parameters, millions")
    axes[1].bar(labels, np.asarray(macs) / 1e6, color=colors)
    axes[1].set_ylabel("multiply-adds, millions")
    for ax in axes:
        ax.tick_params(axis="x", rotation=60, labelsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def activations_and_slopes(
    functions: Mapping[str, Callable[[torch.Tensor], torch.Tensor]], low: float = -5.0, high: float = 5.0
) -> Figure:
    """Each activation function and its derivative (computed by autograd) on ``[low, high]``."""
    z = torch.linspace(low, high, 201, requires_grad=True)
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
    for name, fn in functions.items():
        (slope,) = torch.autograd.grad(fn(z).sum(), z)
        axes[0].plot(z.detach(), fn(z).detach(), label=name)
        axes[1].plot(z.detach(), slope, label=name)
    axes[0].set_title("activation")
    axes[1].set_title("derivative (autograd)")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def stacked_costs(costs: Mapping[str, Mapping[str, float]], xlabel: str) -> Figure:
    """Horizontal stacked bars: one bar per design (outer keys), one segment per part (inner keys, in order)."""
    designs = list(costs)
    parts = list(next(iter(costs.values())))
    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    left = np.zeros(len(designs))
    for part in parts:
        values = np.array([costs[d][part] for d in designs], dtype=float)
        ax.barh(designs, values, left=left, label=part)
        left += values
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8, ncol=len(parts), loc="upper center", bbox_to_anchor=(0.5, -0.3))
    fig.tight_layout()
    return fig


def mean_std_bars(ax: Axes, results: Mapping[str, Sequence[float]], colors: Sequence[str]) -> None:
    """Bars of the mean with one-standard-deviation error bars, and a dot for every seed."""
    names = list(results)
    means = [float(np.mean(results[n])) for n in names]
    stds = [float(np.std(results[n], ddof=1)) if len(results[n]) > 1 else 0.0 for n in names]
    ax.bar(names, means, yerr=stds, color=colors, alpha=0.75, capsize=4)
    for i, n in enumerate(names):
        values = np.asarray(results[n], dtype=float)
        offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(i + offsets, values, color="black", s=10, zorder=3)


def degradation(
    curves: Mapping[str, Sequence[tuple[Sequence[float], Sequence[float]]]],
    final: Mapping[str, Sequence[float]],
    colors: Mapping[str, str],
    smooth: int = 20,
) -> Figure:
    """The degradation experiment: training-loss curves (moving average of the batch losses, averaged over seeds)
    and the final training loss of every network (mean ± std over seeds, a dot per seed).

    ``curves[name]`` holds one ``(steps, losses)`` pair per seed; ``final[name]`` one final loss per seed.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
    for name, runs in curves.items():
        width = max(1, min(smooth, min(len(losses) for _, losses in runs)))
        kernel = np.ones(width) / width
        smoothed = np.mean([np.convolve(losses, kernel, mode="valid") for _, losses in runs], axis=0)
        steps = np.asarray(runs[0][0])[width - 1 :]
        axes[0].plot(steps, smoothed, color=colors[name], label=name, ls="--" if name.startswith("plain") else "-")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("training loss (batch, moving average)")
    axes[0].set_title(f"training curves, mean over {len(next(iter(curves.values())))} seed(s)", fontsize=10)
    axes[0].grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    mean_std_bars(axes[1], final, [colors[n] for n in final])
    axes[1].set_ylabel("training loss after training")
    axes[1].set_title("final training loss: mean ± std, dots = seeds", fontsize=10)
    axes[1].tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig


def family_comparison(
    accuracy: Mapping[str, Sequence[float]], seconds: Mapping[str, Sequence[float]], majority: float
) -> Figure:
    """Validation accuracy (mean ± std over seeds, a dot per seed; the majority-class rate dashed) and training
    time of each network."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.9))
    mean_std_bars(axes[0], accuracy, ["#2ca02c"] * len(accuracy))
    axes[0].axhline(majority, color="gray", ls="--", lw=1, label="majority class")
    axes[0].set_title("validation accuracy: mean ± std, dots = seeds", fontsize=10)
    axes[0].legend(fontsize=8)
    mean_std_bars(axes[1], seconds, ["#1f77b4"] * len(seconds))
    axes[1].set_title("training time, s", fontsize=10)
    for ax in axes:
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig


def zoo_scatter(points: Sequence[tuple[str, float, float, int]]) -> Figure:
    """ImageNet top-1 accuracy against GFLOPS (log scale) of ``(name, gflops, top1, num_params)`` points; the
    marker area grows with the number of parameters."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, ops, acc, params in points:
        ax.scatter(ops, acc, s=params / 4e5, alpha=0.6)
        offset = (4, -10 if name == "resnet18" else 2)
        ax.annotate(name, (ops, acc), fontsize=8, xytext=offset, textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("GFLOPS per 224 x 224 image (log scale)")
    ax.set_ylabel("ImageNet top-1 accuracy, %")
    ax.set_title("torchvision weights metadata (marker area ~ parameters)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
