"""One module per chapter, named after the chapter file (``why_convolutions.py``, ...).

Each module registers its checkers with :func:`cnncourse.exercises.registry.exercise`;
:func:`cnncourse.exercises.registry.load_checks` imports every module here on the
first ``check(...)``. Keep module imports light (no torch/TF at module level).
"""
