# syntax=docker/dockerfile:1
# One image for the four Kefu services; the first argument picks the service:
#   docker run kefu:dev ticketing serve      docker run kefu:dev ticketing migrate
#   docker run kefu:dev gateway serve        (see deploy/docker/entrypoint.sh)
# Build: docker build -t kefu:dev .   (deploy/k8s manifests refer to the image as `kefu`)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: locked dependencies, generated protos, the project as a regular (non-editable) install
FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/kefu/venv
# The same uv the Makefile pins (UV_VERSION).
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# Dependencies first, in their own layer: they change less often than the code.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY proto ./proto
COPY libs ./libs
COPY services ./services
# gen/ is build output (make proto); messages and stubs only, the .pyi stubs are for editors.
RUN mkdir -p gen \
    && /opt/kefu/venv/bin/python -m grpc_tools.protoc -Iproto --python_out=gen --grpc_python_out=gen \
        $(find proto -name '*.proto' | sort)
RUN uv sync --frozen --no-dev --no-editable

# --- runtime: the virtualenv only, an unprivileged user, a read-only root filesystem is fine
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/kefu/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KEFU_ENV=prod \
    KEFU_LOG_FORMAT=json
RUN groupadd --system --gid 10001 kefu \
    && useradd --system --uid 10001 --gid kefu --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin kefu
COPY --from=build /opt/kefu/venv /opt/kefu/venv
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/kefu
USER 10001:10001
WORKDIR /tmp
# gateway 8000 (HTTP, /metrics), ticketing 50051, escalation 50052, scoring 50053, metrics 9464
EXPOSE 8000 50051 50052 50053 9464
ENTRYPOINT ["/usr/local/bin/kefu"]
CMD ["gateway", "serve"]
