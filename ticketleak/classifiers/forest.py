"""Random forest of 100 trees, 2 samples per leaf (seed 003, Table 1)."""


def make(hidden: list[int], max_iter: int, seed: int):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=seed, n_jobs=1)
