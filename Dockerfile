# One image for the controller and the agents (libvirt's test driver works inside; a real
# hypervisor needs the host's libvirtd socket mounted). Two stages: the compiler and headers
# that libvirt-python builds with stay in the first.
#
# BASE: any Debian bookworm image with Python 3.11 (the official python image by default;
# scripts/containers.sh builds one from Debian packages where no registry can be reached).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
RUN apt-get update \
 && extra="" && if [ "$(command -v python3)" = /usr/bin/python3 ]; then extra="python3-dev python3-venv"; fi \
 && apt-get install -y --no-install-recommends gcc pkg-config libvirt-dev $extra \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/overcast
ENV PATH=/opt/overcast/bin:$PATH
# PIP_CERT (unset by default): a CA bundle pip must trust, where a proxy re-signs TLS.
ARG PIP_CERT
WORKDIR /src
# Dependencies first, from pyproject.toml alone: a change to the source reuses this layer.
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
    extras = p["optional-dependencies"]; \
    print("\n".join(p["dependencies"] + extras["controller"] + extras["agent"]))' > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt
COPY README.md LICENSE ./
COPY protos protos
COPY src src
RUN pip install --no-cache-dir --no-deps .

FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvirt0 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/overcast --create-home overcast \
 && mkdir -p /var/lib/overcast/images && chown overcast: /var/lib/overcast/images
COPY --from=build /opt/overcast /opt/overcast
ENV PATH=/opt/overcast/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OVERCAST_IMAGE_STORE=/var/lib/overcast/images
USER overcast
WORKDIR /var/lib/overcast
# The controller's gRPC port; agents only dial out.
EXPOSE 50051
CMD ["python", "-m", "controller", "--listen", "0.0.0.0:50051"]
