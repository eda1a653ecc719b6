# The service image, installed the way users install it: from the wheel, with the
# pinned dependencies; no source tree at run time. `docker compose up` runs it next
# to Postgres.

# Build stage: the wheel (the package, its pages and its migrations) from the source.
FROM python:3.11-slim AS build
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Run stage: only the installed wheel and its dependencies.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY constraints.txt /tmp/constraints.txt
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir -c /tmp/constraints.txt /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels /tmp/constraints.txt \
    && useradd --system --uid 10001 --create-home --home-dir /app payments
WORKDIR /app
USER payments
EXPOSE 8000
CMD ["sh", "-c", "payments migrate && payments serve --host 0.0.0.0 --port 8000"]
