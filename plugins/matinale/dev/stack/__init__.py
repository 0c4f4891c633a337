"""The production topology of docker-compose.yml, run natively: ``make stack-test``.

Docker is not available where Matinale is tested, so this runs the same services as local
processes on free loopback ports, each in its own process group, all under one temporary
folder:

- PostgreSQL from Debian (``initdb`` + ``postgres``; as the ``postgres`` OS user when run as
  root, since PostgreSQL refuses root) — compose uses PostgreSQL 16, Debian 12 ships 15;
- ``redis-server`` from Debian, with a password, as the Celery broker;
- SeaweedFS (``weed server -s3`` with an S3 identity) through :class:`matinale.dev.seaweed.SeaweedS3`;
- Airflow with the CeleryExecutor: the init steps of compose's ``airflow-init`` (db migrate,
  login file, ``aws_default`` connection, buckets), then api-server, scheduler,
  dag-processor, triggerer and one Celery worker, sharing one environment.

The night's intermediate files go to the private bucket (``MATINALE_WORK_STORE=s3``), as with
workers that share no disk. The inbox stays a local folder every process can read, as the
compose file mounts one host folder into every Airflow container.

A run is driven only through Airflow's REST API (v2), with a JWT from the auth manager:
unpause, trigger, approve the edition when the DAG asks a human (HITL), wait for the end.
:meth:`NativeStack.stop` ends every process it started, by process group, and removes the
temporary folder, also when something failed.
"""

from matinale.dev.stack.native import DAG_ID, NativeStack, NightResult
from matinale.dev.stack.processes import StackError
from matinale.dev.stack.run import run_stack_test, verify_bundle
from matinale.dev.stack.services import AIRFLOW_COMPONENTS, LOG_SERVERS

__all__ = [
    "AIRFLOW_COMPONENTS",
    "DAG_ID",
    "LOG_SERVERS",
    "NativeStack",
    "NightResult",
    "StackError",
    "run_stack_test",
    "verify_bundle",
]
