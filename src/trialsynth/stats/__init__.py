"""Pure numerics on arrays and typed inputs: effect sizes, pooling, τ², meta-regression,
subgroups, influence, small-study bias, TSA, Bayes, the batch engine and simulation.

Nothing here opens a file, draws or formats a number for a reader.
"""
