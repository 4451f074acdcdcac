# The image `docker compose` builds for the API and the workers.
FROM python:3.11-slim
WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app syndicate
# Dependencies first, from the lock file: this layer is reused until requirements.lock changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY feeds ./feeds
COPY worker ./worker
COPY api ./api
COPY syndicate ./syndicate
# /export: the static export's volume (compose's feeds-export), writable by the workers.
RUN pip install --no-cache-dir --no-deps . && mkdir -p /app/var /export \
    && chown syndicate /app/var /export
USER syndicate
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["syndicate", "api", "--host", "0.0.0.0", "--port", "8000"]
