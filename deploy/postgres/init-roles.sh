#!/bin/sh
# docker-entrypoint-initdb.d: runs once, when the data volume is created, as the image's
# superuser. Creates the owner role (migrations) and the application role (everything else):
# see roles.sql.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner_role=zes_owner -v owner_password="$OWNER_PASSWORD" \
  -v app_role=zes_app -v app_password="$APP_PASSWORD" \
  -v database="$POSTGRES_DB" -f /docker-entrypoint-initdb.d/roles.sql.in
