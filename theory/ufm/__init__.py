"""The mathematics of the unconstrained-features model: the problem, closed forms, solvers, certificates."""
