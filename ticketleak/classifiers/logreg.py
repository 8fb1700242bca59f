"""Logistic regression (seed 003, Table 1)."""


def make(hidden: list[int], max_iter: int, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, random_state=seed)
