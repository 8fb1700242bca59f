"""Multi-layer perceptron (Shokri 2017's attack model; seed 000): ``attack.shokri.hidden`` widths."""


def make(hidden: list[int], max_iter: int, seed: int):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=tuple(hidden), max_iter=max_iter, random_state=seed)
