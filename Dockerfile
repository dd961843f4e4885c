# syntax=docker/dockerfile:1
# linker's container image: the operator distribution only, run as an unprivileged user.
#   docker build -t linker .                        # linker serve (the default target)
#   docker build -t linker-devtenant --target devtenant .   # + the dev tenant, for local runs
# Settings come from the environment (LINKER_*), secrets preferably from files (LINKER_*_FILE).
# PYTHON_VERSION picks the interpreter (docs/operations.md, Sizing: 3.11 costs less CPU per flow).
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml hatch_build.py README.md LICENSE ./
COPY dev ./dev
COPY linker ./linker
COPY deploy/action/linker-action.js ./deploy/action/linker-action.js
# Both wheels and every dependency's wheel, so the runtime stage installs without a compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . ./dev

FROM python:${PYTHON_VERSION}-slim-bookworm AS service
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheels are mounted from the build stage, not copied: they never land in a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels /wheels/linker_auth0-*.whl \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin linker
USER 10001
WORKDIR /home/linker
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["linker"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

# A local stand-in for Auth0 (never for production): the dev distribution and Node, which
# runs the Action shim.
FROM service AS devtenant
USER 0
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    apt-get update \
    && apt-get install -y --no-install-recommends nodejs=18.* \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir --no-index --find-links /wheels /wheels/linker_auth0_dev-*.whl
USER 10001
EXPOSE 8700
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8700/.well-known/openid-configuration', timeout=2)"]
CMD ["dev-tenant", "--host", "0.0.0.0", "--port", "8700"]

# The default target (the last stage): the service alone.
FROM service AS runtime
