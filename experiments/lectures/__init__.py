"""The setups behind the lectures' figures (``docs/FIGURES.md``, ids F1-F49).

One module per lecture topic, each written only against jopt's public API so that it
reads as an example:

==========================  =======================================================
``gradient_descent``        F1-F12: step size, rates, geometry, clipping, scaling
``line_search``             F13-F14: exact and backtracking (Armijo) line search
``momentum``                F15-F22: heavy ball, Nesterov, Goh's optimum, conventions
``adaptive``                F23-F26: Adagrad, RMSprop, Adam and the decks' variants
``schedules``               F27-F29: learning-rate schedules and Robbins-Monro
``sgd``                     F30-F37: SGD, mini-batches, averaging, batch size
``backprop``                F38-F44: activations, backprop by hand, losses
``linear_networks``         F45-F49: Saxe's dynamics, implicit regularization, stopping
==========================  =======================================================

For each figure id ``Fn`` a module defines ``fn(...)``, which builds the setup and
returns the figure's data as NumPy arrays (its defaults are FIGURES.md's setup, with
step counts and grids shrunk when ``JOPT_FAST=1``), and ``plot_fn(data)``, which draws
it and returns the matplotlib figure.  ``FIGURES`` in each module maps the id to the
pair; :mod:`experiments.lectures.figures` collects them for
``python -m experiments.figures``.  The shared problems (Q10, Q100, QH, QUART, ROSEN,
LINREG, DIGITS-MLP, RF) are in :mod:`experiments.lectures.problems`; helpers every
module uses are in :mod:`experiments.lectures.common`; the timed workloads of F35 and
F37 (which the benchmarks also print) are in :mod:`experiments.lectures.timing`.
"""
