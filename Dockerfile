# The order-help bot: `docker build -t orderhelp .`
#   docker run -p 8000:8000 --env-file .env orderhelp          the web server (default)
#   docker run --env-file .env orderhelp worker                the background sender
# Dependencies come from deploy/requirements.txt (uv.lock exported, with hashes).

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY deploy/requirements.txt deploy/requirements.txt
RUN pip install --require-hashes --no-deps -r deploy/requirements.txt
COPY pyproject.toml README.md LICENSE ./
COPY app app
COPY channels channels
COPY conversation conversation
COPY orders orders
COPY templates templates
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv/lib

FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data
RUN groupadd --system --gid 10001 orderhelp \
    && useradd --system --uid 10001 --gid orderhelp --home-dir /data --no-create-home orderhelp \
    && mkdir /data && chown orderhelp:orderhelp /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /data
USER 10001:10001
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "app", "healthcheck"]
ENTRYPOINT ["python", "-m", "app"]
CMD ["serve"]
