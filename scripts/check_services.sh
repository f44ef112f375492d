#!/usr/bin/env bash
# Checks that PostgreSQL and RabbitMQ answer, and says how to start them when they do not.
set -uo pipefail
pg_host=${PGHOST:-127.0.0.1}; pg_port=${PGPORT:-5432}
mq_host=${AMQP_HOST:-127.0.0.1}; mq_port=${AMQP_PORT:-5672}
ok=1
if ! timeout 3 bash -c "exec 3<>/dev/tcp/$pg_host/$pg_port" 2>/dev/null; then
  echo "PostgreSQL does not answer on $pg_host:$pg_port." >&2
  echo "  start it with: docker compose up -d postgres" >&2
  echo "  or, on Debian: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
  ok=0
fi
if ! timeout 3 bash -c "exec 3<>/dev/tcp/$mq_host/$mq_port" 2>/dev/null; then
  echo "RabbitMQ does not answer on $mq_host:$mq_port." >&2
  echo "  start it with: docker compose up -d rabbitmq" >&2
  echo "  or, on Debian: rabbitmq-server -detached" >&2
  ok=0
fi
((ok)) || exit 1
