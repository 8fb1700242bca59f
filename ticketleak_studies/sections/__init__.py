"""The report kinds: one module per ``report.kind`` of a study preset (``lottery``, ``pruning``,
``shadow``, ``greybox``), each building a dataset's sections (``sections(rep, dataset)``) from the
gathered runs and the rendering state :class:`ticketleak_studies.document.Report`.

These modules import the shared pieces (``document``, ``formatting``, ``gathered``, ``verdicts``)
and never :mod:`ticketleak_studies.report`, which imports them.
"""
