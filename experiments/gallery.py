"""The gallery: every lecture figure as a small PNG and one page that shows them all.

::

    python -m experiments.gallery                 # full mode: docs/gallery.md, docs/gallery/Fn.png
    JOPT_FAST=1 python -m experiments.gallery     # the same in fast mode (small runs)
    python -m experiments.gallery --only F12,F37  # redraw some figures, rewrite the page

Each figure is drawn by the same two calls a notebook cell makes
(:func:`experiments.lectures.figures.render`).  Each caption names the deck and slide the
figure reproduces (the plot function's ``slide``), the claim, and what the figure shows;
the headings are the catalogue's (``docs/FIGURES.md``).  The render time of each figure
is printed, and the total at the end.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from experiments.lectures import figures

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "gallery.md"
IMAGES = ROOT / "docs" / "gallery"
CATALOGUE = ROOT / "docs" / "FIGURES.md"
DPI = 60

NOTEBOOKS = {
    "01_gradient_descent": range(1, 13), "02_line_search": range(13, 15),
    "03_momentum": range(15, 23), "04_adaptive": range(23, 27), "05_schedules": range(27, 30),
    "06_sgd": range(30, 38), "07_backprop": range(38, 45), "08_linear_networks": range(45, 50),
}

CAPTIONS = {
    "F1": "a step below 2/L converges and one above diverges, 2/(μ+L) is fastest: GD paths on Q10's contours for five η, and f(x_t) on a log scale.",
    "F2": "steps to f < 10⁻⁶ fall like 1/η up to the stability limit 2/L: one vmapped sweep over η on Q100.",
    "F3": "the gap falls at least like (1 − μ/L)^t (in fact like its square on a quadratic): f_t − f* with the slide's bound, on Q10 and Q100.",
    "F4": "GD's gap is O(1/t), Nesterov's O(1/t²), both under their bounds: f_t against t on QH, log-log.",
    "F5": "GD is Euler's method for the gradient flow, with an error that halves with η: iterates over the exact flow on Q10, and the error against η.",
    "F6": "the second-order expansion is exact on a quadratic, the best step is gᵀg/gᵀAg, and on a small circle the best move is along −∇f.",
    "F7": "the gradient is orthogonal to the level curves: −∇f over the contours of x² + 3y² + sin(xy).",
    "F8": "directional derivatives everywhere do not make f differentiable, and autodiff picks one value at a kink: x²y/(x² + y²) and JAX's choices at 0.",
    "F9": "which stationary point GD finds depends on the start: QUART's two basins, and a saddle that GD reaches only from exactly on its axis.",
    "F10": "GD with a fixed step can end in a 2-cycle at the edge of stability, at no critical point: Rosenbrock's gradient norm for five η, and an MLP's.",
    "F11": "at a cliff the first gradient throws GD far away; clipping it keeps the step small: the cliff, and both paths.",
    "F12": "unscaled features give an ill-conditioned bowl (κ ≈ 10⁴, a thin trough at equal scales) and slow GD; standardized ones a round bowl: contours, paths and losses.",
    "F13": "exact line search zig-zags with orthogonal gradients and a constant ratio at most Kantorovich's bound: paths on Q10 and f_t.",
    "F14": "backtracking (Armijo) adapts the step, where a fixed step on Rosenbrock is slow or unstable: accepted steps and gradient norms.",
    "F15": "momentum accelerates GD on an ill-conditioned quadratic, heavy ball oscillating and Nesterov braking: paths on Q100 and log f against t.",
    "F16": "Goh's (α*, β*) minimizes the heavy ball's rate: ρ(α, β) as a heatmap with the stability edges, and runs across the edges.",
    "F17": "more momentum helps up to the rate-optimal β, then the iterates oscillate: steps to 10⁻⁶ against β, one vmapped sweep.",
    "F18": "with a constant gradient, momentum's step tends to α‖∇f‖/(1 − λ): the step length against t for several λ.",
    "F19": "momentum unrolls into a weighted sum of past gradients, and the slides' sum from i = 1 misses a term: both unrollings against the run.",
    "F20": "the rate inside or outside the momentum buffer gives the same iterates until the rate changes: the decks' forms against optax and torch.",
    "F21": "Nesterov's look-ahead gradient: the classic and the reformulated forms give the same points, shifted by one step.",
    "F22": "enough momentum rolls the ball over a hump into the global minimum of QUART, though not monotonically in β: paths and x_t.",
    "F23": "Adagrad's steps shrink like η/√t and its first step moves every coordinate by η: steps, first steps and paths against GD on Q100.",
    "F24": "RMSprop's decay factor and first accumulator change the first steps by up to 10×: the decks' readings with a constant gradient.",
    "F25": "Adam moves η per step; the decks' variants without bias correction or with a sign slip do not: |step|/η against t.",
    "F26": "at one learning rate SGD is slowest, Adagrad next, RMSprop and Adam far ahead: training loss on the digits MLP, five seeds.",
    "F27": "the slides' schedules, and the recursive inverse-time formula as written decaying far faster than meant: α_t against t.",
    "F28": "a summable step-size schedule stalls before the minimum, 1/t does not: deterministic runs of each schedule.",
    "F29": "Robbins–Monro: a constant step stops on a noise plateau, 1/t keeps descending, fast decay stalls, a floor levels out: excess loss of noisy least squares.",
    "F30": "per epoch SGD gets far ahead of GD, then hovers on a noise floor: loss per epoch on a small regression, and the paths.",
    "F31": "a mini-batch gradient is unbiased with variance falling like 1/B: batch gradients around the full one, and variance against B.",
    "F32": "each batch has its own loss with its own minimizer, scattered with a spread that halves when B quadruples: the batch losses and minimizers.",
    "F33": "with a constant step SGD stops on a noise floor proportional to η, and Polyak averaging goes below it: excess loss for four η.",
    "F34": "random reshuffling beats sampling with replacement, and never shuffling sorted data unlearns: floors, averages, and a classifier's accuracy.",
    "F35": "a larger batch gets through an epoch in less time, the update time growing far slower than the batch: seconds per epoch and per update against B.",
    "F36": "the largest batch is not the best after a fixed number of epochs: training loss and test accuracy against B for two rates.",
    "F37": "GD costs n·d per step and converges linearly, SGD costs d per step and converges like 1/t: excess loss on LINREG against the work, and a gradient's time against m.",
    "F38": "the sigmoid saturates and its gradient vanishes through depth, ReLU's does not: activations and slopes, and gradient norms per layer.",
    "F39": "backprop through a one-hidden-layer ReLU net with a Bernoulli output, by hand, equals jax.grad.",
    "F40": "backprop in matrix form equals jax.grad, and deck 003's delta rule has the opposite sign of the gradient.",
    "F41": "softmax with cross-entropy has the gradient ŷ − y, and |a|-normalization is not a usable output layer: the gradients and p₁ against a₁.",
    "F42": "entropy and cross-entropy reproduce the slides' numbers, and cross-entropy is not symmetric: the worked examples.",
    "F43": "the 0-1 loss and the SSE of hard outputs are flat with zero gradient, the squared loss of wᵀx is a parabola: the three losses against w₀.",
    "F44": "logistic regression has no closed form but GD converges to scikit-learn's solution; on least squares and ridge to the closed forms.",
    "F45": "a single-layer linear network converges to Γ geometrically, A_t − Γ = (1 − 2η)^t (A₀ − Γ): the error against t for several η.",
    "F46": "Saxe et al.: modes are learned strongest first along sigmoids, analytic (vermillion band), linear (blue) and tanh (green) networks.",
    "F47": "GD from zero converges to the minimum-norm interpolant, from elsewhere to another one with a larger norm: distances and norms against t.",
    "F48": "double descent: the test error peaks where the features interpolate (d = n) and falls again beyond: test MSE, norm and training MSE against d.",
    "F49": "the validation loss stops GD early at a better test error than the last step or the interpolant: the three errors and each rule's stopping step.",
}


def catalogue_titles(text: str) -> dict[str, str]:
    """``id -> title`` from the catalogue's headings ``### Fn · title``."""
    return dict(re.findall(r"^### (F\d+) · (.+)$", text, flags=re.MULTILINE))


def notebook_of(figure_id: str) -> str:
    """The notebook whose section draws ``figure_id``."""
    number = int(figure_id.removeprefix("F"))
    return next(name for name, numbers in NOTEBOOKS.items() if number in numbers)


def entry(figure_id: str, title: str, plot_fn) -> str:
    """The gallery's markdown for one figure: heading, image, caption, notebook link."""
    deck, slide = plot_fn.slide
    notebook = notebook_of(figure_id)
    return (f"### {figure_id} · {title}\n\n![{figure_id}](gallery/{figure_id}.png)\n\n"
            f"Deck {deck}, \"{slide}\": {CAPTIONS[figure_id]} "
            f"([notebook](../notebooks/{notebook}.ipynb))\n")


def page(registry: dict, titles: dict[str, str], mode: str) -> str:
    """The whole gallery page."""
    header = ("# Gallery: every lecture figure\n\n"
              "The 49 figures of the lecture notebooks, each under the heading of its entry in "
              "[FIGURES.md](FIGURES.md) (the claims, setups and tolerances) with the deck and slide "
              "it reproduces. Every claim is asserted in `tests/test_lectures.py`. "
              f"Drawn in {mode} mode by `python -m experiments.gallery`; the notebooks in "
              "[`notebooks/`](../notebooks/README.md) draw the same figures and print their numbers.\n")
    return header + "".join(f"\n{entry(figure_id, titles[figure_id], plot_fn)}"
                            for figure_id, (_, plot_fn) in registry.items())


def main(argv=None) -> int:
    from experiments.lectures.common import FAST
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="IDS", help="redraw only these figures (e.g. F12,F37)")
    parser.add_argument("--dpi", type=int, default=DPI, help=f"resolution (default: {DPI})")
    args = parser.parse_args(argv)
    registry = figures.registry()
    missing = set(registry) - set(CAPTIONS)
    if missing:
        raise SystemExit(f"no caption for {sorted(missing)}")
    ids = figures.parse_ids(args.only, registry)
    seconds = 0.0
    for figure_id in ids:
        started = time.perf_counter()
        figures.render([figure_id], IMAGES, dpi=args.dpi, log=lambda path: None)
        seconds += time.perf_counter() - started
        print(f"{figure_id}: {time.perf_counter() - started:.1f} s", flush=True)
    titles = catalogue_titles(CATALOGUE.read_text(encoding="utf-8"))
    PAGE.write_text(page(registry, titles, "fast" if FAST else "full"), encoding="utf-8")
    size = sum(path.stat().st_size for path in IMAGES.glob("F*.png"))
    print(f"{len(ids)} figures in {seconds:.0f} s; {PAGE.relative_to(ROOT)} and "
          f"{len(list(IMAGES.glob('F*.png')))} PNGs, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
