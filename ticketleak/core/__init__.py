"""What every stage uses: the params schema and its checks, the file layout, array stores, the
stage command line, the registries and the machine's CPU settings.

Every stage imports all of these, so each stage lists this folder as one dependency in
``dvc.yaml`` (not nine files): the same reruns, a third less bookkeeping in ``dvc.lock``.
"""
