# One image for the controller and the agents (libvirt test driver inside).
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvirt-dev pkg-config gcc libvirt-clients \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protos protos
COPY src src
RUN pip install --no-cache-dir .
ENV PYTHONUNBUFFERED=1
