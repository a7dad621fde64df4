#!/bin/sh
# Container entrypoint: one image, two roles, chosen by the environment (the same in compose and k8s).
#   SER_ROLE=service  ->  ser serve "$SER_SERVICE"      (gateway, preprocess, features, speaker, inference, http)
#   SER_ROLE=worker   ->  a Celery worker on SER_QUEUES (comma-separated; default "default"),
#                         SER_WORKER_CONCURRENCY processes (default 1: one long ML job at a time)
# Arguments, when given, are run instead (e.g. `docker run IMAGE ser models list`).
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

case "${SER_ROLE:-service}" in
    service)
        exec ser serve "${SER_SERVICE:?SER_SERVICE must name a service: gateway, preprocess, features, speaker, inference or http}"
        ;;
    worker)
        exec celery -A services.jobs.app worker \
            --queues "${SER_QUEUES:-default}" \
            --concurrency "${SER_WORKER_CONCURRENCY:-1}" \
            --loglevel "${SER_LOG_LEVEL:-INFO}"
        ;;
    *)
        echo "SER_ROLE must be 'service' or 'worker', got '${SER_ROLE}'" >&2
        exit 64
        ;;
esac
