# The Matinale image every Airflow service of docker-compose.yml runs.
#
# A plain Python base with the project installed from the committed uv.lock, so the image runs
# exactly the versions `make test` ran (Airflow 3.3.2 with the [stack] extra: Celery provider,
# celery<5.7, redis, psycopg2 and asyncpg). Not the [local] extra (SeaweedFS's binary for `make
# run`, `make up` and the tests): the image talks to the compose file's S3 server, and the night
# never imports matinale.dev. DAGs, plugins, templates, segments and campaign.yaml are baked
# in: a release is an image tag, and every worker runs the same code.
FROM python:3.11-slim-bookworm

ARG AIRFLOW_UID=50000
ARG UV_VERSION=0.13.8
# The commit the image is built from (no .git inside the image): recorded in every manifest.
# docker compose build --build-arg MATINALE_CODE_VERSION=$(git rev-parse HEAD)
ARG MATINALE_CODE_VERSION=unknown

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/matinale/.venv \
    AIRFLOW_HOME=/opt/airflow \
    MATINALE_HOME=/opt/matinale \
    MATINALE_CODE_VERSION=${MATINALE_CODE_VERSION} \
    PATH=/opt/matinale/.venv/bin:$PATH

# curl: healthchecks; tini: signals reach Airflow (warm shutdown of Celery workers).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl tini \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --uid "${AIRFLOW_UID}" --gid 0 --home-dir /opt/airflow --create-home airflow

WORKDIR /opt/matinale

# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra stack --no-install-project

COPY campaign.yaml ./
COPY dags ./dags
COPY plugins ./plugins
COPY content_templates ./content_templates
COPY segments ./segments
RUN uv sync --frozen --no-dev --extra stack \
    && mkdir -p /opt/airflow/logs /opt/airflow/auth /opt/matinale/var/inbox \
    && chown -R "${AIRFLOW_UID}:0" /opt/airflow /opt/matinale/var \
    && chmod -R g+rwX /opt/airflow

USER ${AIRFLOW_UID}
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["version"]
