FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY setup.cfg pyproject.toml README.md ./
COPY tds ./tds
COPY webhook_receiver ./webhook_receiver
COPY tasks ./tasks
RUN pip install --no-cache-dir .
RUN useradd --system --uid 1000 tds && mkdir -p /var/lib/tds/images && chown tds /var/lib/tds/images
USER tds
EXPOSE 8000
CMD ["tds", "receiver", "--bind", "0.0.0.0:8000"]
