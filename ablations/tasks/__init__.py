"""Tasks: a registry of synthetic probes, zero-setup real datasets, file-based datasets and the LRA.

``build_task("digits")`` returns a :class:`Task` whose ``datasets()`` gives train / val / test and whose
``input`` / ``output`` declarations build the model's encoder and head. Importing this package registers
every shipped task; heavy or optional libraries (scikit-learn, PIL) are imported only when data is built.
"""

from ablations.tasks import (  # noqa: F401  (importing a module registers its tasks)
    adding,
    cifar,
    coefficient_recovery,
    copying,
    digits,
    forgetting,
    induction,
    long_memory,
    lra_text,
    lti_recovery,
    mnist,
    mqar,
    pathfinder,
    ucr,
)
from ablations.tasks.base import (
    IGNORE_INDEX,
    DataFormatError,
    DatasetMissing,
    Task,
    build_task,
    data_root,
    get_task,
    list_tasks,
    make_task_config,
    register_task,
)

__all__ = [
    "IGNORE_INDEX",
    "DataFormatError",
    "DatasetMissing",
    "Task",
    "build_task",
    "data_root",
    "get_task",
    "list_tasks",
    "make_task_config",
    "register_task",
]
