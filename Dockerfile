# The analyzer service image (Container Apps). Build: docker build -t analyzer .
# One image serves both roles: `sensor-analyzer api` (default) and `sensor-analyzer worker`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY analyzer ./analyzer
COPY schemas ./schemas
COPY dashboard-api ./dashboard-api
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 analyzer
COPY --from=build /install /usr/local
USER analyzer
WORKDIR /home/analyzer
ENV PYTHONUNBUFFERED=1 \
    SQLITE_PATH=/home/analyzer/.state/analyzer.db
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["sensor-analyzer", "api", "--host", "0.0.0.0", "--port", "8000"]
