# The TDS image: one image for the receiver, the workers, beat, Flower and the simulator
# (docker-compose.yml picks the command). Dependencies come from requirements.lock, so two
# builds of the same commit install the same versions.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY setup.cfg pyproject.toml README.md ./
COPY tds ./tds
COPY webhook_receiver ./webhook_receiver
COPY tasks ./tasks
RUN pip install --no-deps . \
    && useradd --system --uid 1000 --home-dir /app --shell /usr/sbin/nologin tds \
    && mkdir -p /var/lib/tds/images && chown tds /var/lib/tds/images

USER tds
EXPOSE 8000
# The receiver's own check (database and Redis); compose gives the other services theirs.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["tds", "receiver", "--bind", "0.0.0.0:8000"]
