-- Included by benches/sql/schema.sql and benches/quota_cost.sh; needs a table
-- rows_nself (id, tenant_id, created_at, payload).
-- The nself shape: a plpgsql helper with an EXCEPTION block called in the
-- policy (per row), a plpgsql fill trigger and a COUNT(*)-based quota trigger.
CREATE FUNCTION nself_current_tenant() RETURNS uuid LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN current_setting('app.current_tenant')::uuid;
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END $$;
CREATE FUNCTION nself_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.tenant_id := coalesce(NEW.tenant_id, nself_current_tenant());
    IF (SELECT count(*) FROM rows_nself WHERE tenant_id = NEW.tenant_id) >= 10000000 THEN
        RAISE EXCEPTION 'row quota exceeded';
    END IF;
    RETURN NEW;
END $$;
ALTER TABLE rows_nself ENABLE ROW LEVEL SECURITY;
ALTER TABLE rows_nself FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rows_nself
    USING (tenant_id = nself_current_tenant()) WITH CHECK (tenant_id = nself_current_tenant());
CREATE TRIGGER nself_before_insert BEFORE INSERT ON rows_nself FOR EACH ROW EXECUTE FUNCTION nself_before_insert();
