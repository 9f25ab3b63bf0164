# The WidgetWorld web image: the same gunicorn command `make run` and production use.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    WIDGETWORLD_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    STATIC_ROOT=/app/staticfiles

RUN groupadd --system --gid 10001 widgetworld \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin widgetworld

WORKDIR /app
# Runtime dependencies first (pinned by constraints.txt), so a code change
# does not reinstall them; the code itself runs from /app, not site-packages.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
# Only what production runs: no devtools/, loadtests/ or tests/ (compose's
# Locust services use Locust's own image with loadtests/ mounted).
COPY manage.py ./
COPY core core
COPY catalog catalog
COPY widgetworld widgetworld
# collectstatic never signs anything: these values exist for this one command
# and are not part of the image's environment (production refuses a placeholder
# secret, so the command runs with the local defaults and production storage).
RUN WIDGETWORLD_ENV=local SECRET_KEY=collectstatic-only WIDGETWORLD_DATA_DIR=/tmp/collectstatic \
    python manage.py collectstatic --noinput && rm -rf /tmp/collectstatic

# Numeric, so that a runtime (Kubernetes' runAsNonRoot) can tell it is not root
# without reading the image's /etc/passwd.
USER 10001:10001
# 8000: the shop; 9464: /metrics from the gunicorn master, never to be published.
EXPOSE 8000 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2)"]
CMD ["gunicorn", "-c", "widgetworld/gunicorn.conf.py"]
