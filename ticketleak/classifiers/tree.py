"""Decision tree (seed 003, Table 1); 5 samples per leaf, so that leaf frequencies grade the score."""


def make(hidden: list[int], max_iter: int, seed: int):
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(min_samples_leaf=5, random_state=seed)
