"""Settings with django-q2 timings that TaskFlow must refuse (retry <= timeout): A4."""

from taskflow_site.settings import *  # noqa: F403
from taskflow_site.settings import Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "retry": Q_CLUSTER["timeout"] - 10}
