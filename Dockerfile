# The service image: `docker compose up` runs it next to Postgres.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --uid 10001 payments
ENV PAYMENTS_ALEMBIC_INI=/app/alembic.ini
USER payments
EXPOSE 8000
CMD ["sh", "-c", "payments migrate && payments serve --host 0.0.0.0 --port 8000"]
