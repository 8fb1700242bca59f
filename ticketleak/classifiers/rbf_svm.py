"""Support-vector machine with an RBF kernel, gamma 'scale' (seed 003, Table 1)."""


def make(hidden: list[int], max_iter: int, seed: int):
    from sklearn.svm import SVC

    return SVC(kernel="rbf", gamma="scale", random_state=seed)
