#!/bin/sh
# Creates or upgrades Temporal's two PostgreSQL databases, with temporalio/admin-tools'
# temporal-sql-tool. Every step is idempotent: `create` skips a database that exists,
# `setup-schema -v 0.0` keeps a newer version, and `update-schema` applies only what
# is missing, so this runs on every `docker compose up` and after a server upgrade
# (with the admin-tools image of the new server version).
#
# Connection from the environment, as temporal-sql-tool reads it: SQL_PLUGIN, SQL_HOST,
# SQL_PORT, SQL_USER, SQL_PASSWORD. TEMPORAL_SCHEMA_DIR moves the schema files from where
# admin-tools keeps them (deploy/local/cluster.sh points it into the Go module cache).
set -eu
schema=${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}
for db in temporal:temporal temporal_visibility:visibility; do
	name=${db%%:*}
	dir=${db#*:}
	temporal-sql-tool --db "$name" create
	temporal-sql-tool --db "$name" setup-schema -v 0.0
	temporal-sql-tool --db "$name" update-schema -d "$schema/$dir/versioned"
done
echo "temporal schema ready"
