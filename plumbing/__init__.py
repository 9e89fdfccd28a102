"""Shared plumbing of the toolkit: the input error, atomic result files, config loading, the result-folder
guard, output folders checked and locked, result-file schemas, argument validation and the CLI error wrapper.
No mathematics lives here; every other package (theory, simulations, lm_experiments, paper_figures) may import
it, it imports none."""
