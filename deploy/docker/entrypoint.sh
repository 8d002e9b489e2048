#!/bin/sh
# The one image runs any Kefu service: `<service> [command...]`.
#   ticketing serve | ticketing migrate | escalation serve | scoring serve | gateway serve
# The service name picks the Python module `kefu_<service>`; the rest is that module's own CLI
# (`serve`/`migrate` for the gRPC services, `serve`/`token` for the gateway).
set -eu
if [ "$#" -eq 0 ]; then
    echo "usage: <gateway|ticketing|escalation|scoring> [serve|migrate|token ...]" >&2
    exit 64
fi
service="$1"
shift
case "$service" in
    gateway|ticketing|escalation|scoring) ;;
    *)
        echo "unknown service: $service (expected gateway, ticketing, escalation or scoring)" >&2
        exit 64
        ;;
esac
exec "${KEFU_PYTHON:-python}" -m "kefu_${service}" "$@"
