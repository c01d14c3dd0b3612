# The govpulse image: one image for `govpulse db migrate`, `govpulse connectors run` and
# `govpulse worker`; docker-compose.yml chooses the command. Settings come only from GOVPULSE_*
# variables at run time: nothing secret is built in, and .dockerignore keeps .env out.

FROM python:3.11.13-slim-bookworm AS build
# A virtual environment is copied whole into the runtime stage, leaving pip's build tree behind.
RUN python -m venv /opt/govpulse
WORKDIR /src
COPY pyproject.toml README.md ./
COPY govpulse ./govpulse
COPY connectors ./connectors
COPY streams ./streams
COPY dashboards ./dashboards
COPY reports ./reports
COPY cli ./cli
# Runtime dependencies are pinned exactly (==) in pyproject.toml; no extras: the embedded broker
# and the dev tools have no place in the stack, which runs a real Kafka.
RUN /opt/govpulse/bin/pip install --no-cache-dir --disable-pip-version-check /src

FROM python:3.11.13-slim-bookworm
ENV PATH=/opt/govpulse/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 govpulse \
    && useradd --system --uid 10001 --gid govpulse --home-dir /var/lib/govpulse --create-home \
       --shell /usr/sbin/nologin govpulse
COPY --from=build /opt/govpulse /opt/govpulse
USER 10001:10001
# The worker's state lives in PostgreSQL (docs/stream-state.md) and faust's own directory in a
# private temporary one, so containers need no volume and scale freely.
WORKDIR /var/lib/govpulse
ENTRYPOINT ["govpulse"]
CMD ["--help"]
