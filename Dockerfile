# Taskforce: one process (`taskforce serve`), non-root, health-checked on /readyz.
# Production quick start: `docker compose up -d` with compose.yaml (docs/deploy.md).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TASKFORCE_HOST=0.0.0.0 \
    TASKFORCE_PORT=8000 \
    TASKFORCE_DATA_DIR=/data \
    TASKFORCE_EXPORT_DIR=/data/exports \
    TASKFORCE_LOG_JSON=1

# The migrations are read from the source tree next to the package, so the project is
# installed in place (editable) from /app; /app stays owned by root and read-only to the bot.
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY migrations ./migrations
RUN pip install -e . \
    && python -m compileall -q bot migrations \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin taskforce \
    && mkdir -p /data \
    && chown taskforce:taskforce /data

USER taskforce
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000

# Ready = database reachable and migrated, platforms initialised, scheduler running.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TASKFORCE_PORT', '8000') + '/readyz', timeout=4)"]

# exec form: taskforce is PID 1 and gets SIGTERM for its graceful shutdown.
ENTRYPOINT ["taskforce"]
CMD ["serve"]
