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

# An ordinary (not editable) install: the package carries its migrations (bot/store/migrations),
# so the source is removed once installed; site-packages stays owned by root.
COPY pyproject.toml README.md /src/
COPY bot /src/bot
RUN pip install /src \
    && rm -rf /src \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin taskforce \
    && install -d -o taskforce -g taskforce -m 0700 /data

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
