"""Linear support-vector machine (seed 003, Table 1); its decision function is the score."""


def make(hidden: list[int], max_iter: int, seed: int):
    from sklearn.svm import LinearSVC

    return LinearSVC(max_iter=10_000, random_state=seed)
