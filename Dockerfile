# Settle: a small image that runs `settle serve` as a non-root user.
#   docker build -t settle .
#   docker run --env-file .env -p 3000:3000 settle
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install --no-cache-dir --prefix=/install '.[postgres]'

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --create-home settle
COPY --from=build /install /usr/local
WORKDIR /app
USER settle
ENV PYTHONUNBUFFERED=1 \
    LOG_FORMAT=json \
    DATABASE_URL=sqlite:////app/settle.db
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=2).status == 200 else 1)"
# exec form: SIGTERM reaches settle, which finishes work under way and exits within 10 s
CMD ["settle", "serve", "--host", "0.0.0.0", "--port", "3000"]
