-- The case database's two roles (issue 23): migrations run as the owner, every process as
-- an application role that owns nothing, so it cannot `ALTER TABLE audit_log DISABLE TRIGGER
-- USER` (only an owner or a superuser can) and then rewrite the append-only audit log.
-- `zes enforce migrate`, run as the owner with ZES_CASES_APP_ROLE set, grants the application
-- role rows (no DDL, no UPDATE/DELETE of audit_log) on every table it made.
-- psql variables: owner_role, owner_password, app_role, app_password, database.
-- Run once by a superuser: docker-entrypoint-initdb.d (compose) or by hand (Kubernetes).
CREATE ROLE :"owner_role" LOGIN PASSWORD :'owner_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE :"app_role" LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
ALTER DATABASE :"database" OWNER TO :"owner_role";
ALTER SCHEMA public OWNER TO :"owner_role";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role";
