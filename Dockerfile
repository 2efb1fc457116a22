# syntax=docker/dockerfile:1
# The portal's image: web (gunicorn), worker and beat all run from it. The "sandbox" target
# adds the local AWS for demos and tests; production images never contain it.

FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.13-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.9 \
    && useradd --system --create-home --uid 10001 portal
WORKDIR /app
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --frozen --no-dev --no-group sandbox --no-install-project

FROM base AS app
COPY --from=assets /src/node_modules ./node_modules
COPY manage.py ./
COPY portal ./portal
COPY workspaces ./workspaces
COPY governance ./governance
COPY costs ./costs
COPY templates ./templates
COPY static ./static
# collectstatic needs production settings to import; none of these values are used at run time.
RUN DJANGO_DEBUG=false SECRET_KEY=build-only ALLOWED_HOSTS=build DATABASE_URL=postgres://build/build \
    python manage.py collectstatic --noinput \
    && rm -rf node_modules \
    && mkdir -p /var/lib/portal && chown portal /var/lib/portal
USER portal
ENV PORTAL_VAR_DIR=/var/lib/portal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["gunicorn", "--config", "portal/gunicorn_conf.py", "portal.wsgi:application"]

FROM base AS sandbox
RUN uv sync --frozen --no-dev --only-group sandbox --no-install-project --inexact
COPY sandbox ./sandbox
USER portal
EXPOSE 4566
CMD ["python", "-m", "sandbox", "--host", "0.0.0.0", "--port", "4566", "--seed", "demo"]
