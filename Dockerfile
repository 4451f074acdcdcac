FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY feeds ./feeds
COPY worker ./worker
COPY api ./api
COPY syndicate ./syndicate
RUN pip install --no-cache-dir .
RUN useradd --system --uid 10001 syndicate
USER syndicate
EXPOSE 8000
CMD ["syndicate", "api", "--host", "0.0.0.0", "--port", "8000"]
