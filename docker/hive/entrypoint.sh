#!/bin/bash
# The image's entrypoint initialises the metastore schema on every start and
# exits when the schema already exists, as it does after a restart with the
# PostgreSQL volume kept. Tell it to resume instead when the schema is there.
set -euo pipefail
if HADOOP_CLIENT_OPTS="${SERVICE_OPTS:-}" /opt/hive/bin/schematool -dbType "${DB_DRIVER:-derby}" -info >/dev/null 2>&1; then
  export IS_RESUME=true
fi
exec /entrypoint.sh
