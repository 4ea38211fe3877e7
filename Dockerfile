# syntax=docker/dockerfile:1
# Connext production image: one image for web (gunicorn), worker and beat (Celery).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=connext.settings

# Dependencies first, from pyproject.toml alone, so code edits reuse this layer.
# `[tool.setuptools] packages = []`: installing the project only pulls its
# dependencies; the code itself runs from /app. Metadata needs the readme named
# in pyproject.toml, so a placeholder stands in if the checkout has none.
WORKDIR /tmp/build
COPY pyproject.toml README.md* ./
RUN test -f README.md || touch README.md; \
    pip install . && cd / && rm -rf /tmp/build

# Unprivileged runtime user owning the code and var/ (embedded-mode folders, static files).
RUN useradd --create-home --uid 10001 --user-group connext \
    && mkdir /app && chown connext:connext /app
WORKDIR /app
COPY --chown=connext:connext . .
USER connext

# Static files are baked into the image and served by whitenoise (STATIC_ROOT,
# default /app/var/static). No database, broker or secret is needed for this step
# (the running containers get SECRET_KEY from docker-compose).
RUN ALLOW_DEVELOPMENT_SECRET_KEY=true python manage.py collectstatic --noinput

EXPOSE 8000

# Shell form via sh -c so WEB_CONCURRENCY is read at start-up; exec keeps
# gunicorn as PID 1 so it receives SIGTERM on `docker stop`.
CMD ["sh", "-c", "exec gunicorn connext.wsgi:application --bind 0.0.0.0:8000 --worker-class gthread --workers ${WEB_CONCURRENCY:-2} --threads 4 --access-logfile -"]
