-- Members: roles owner > admin > member > guest; who may manage them; RLS on tenant.members.
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on
\set alice '11111111-1111-4111-8111-111111111111'
\set bob   '22222222-2222-4222-8222-222222222222'
\set carol '33333333-3333-4333-8333-333333333333'
\set dave  '44444444-4444-4444-8444-444444444444'
\set eve   '55555555-5555-4555-8555-555555555555'

-- An operator (tenant_admin member) manages any tenant's members.
SET ROLE migrator;
SELECT tenant_member_add('acme-corp', :'alice', 'owner');
SELECT tenant_member_add('acme-corp', :'bob', 'admin');
SELECT tenant_member_add('acme-corp', :'carol');
SELECT user_id, role, invited_by FROM tenant_members('acme-corp');

-- Bad input.
SELECT tenant_member_add('acme-corp', :'carol', 'member');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_add('acme-corp', :'eve', 'superhero');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_add('no-such-tenant', :'eve');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_add(NULL, :'eve');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_add('acme-corp', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_add('acme-corp', :'eve', NULL);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_remove('acme-corp', :'eve');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_set_role('acme-corp', :'carol', 'boss');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- The last owner can be neither removed nor demoted; with two owners, one can go.
SELECT tenant_member_remove('acme-corp', :'alice');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_set_role('acme-corp', :'alice', 'admin');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_set_role('acme-corp', :'bob', 'owner');
SELECT tenant_member_set_role('acme-corp', :'bob', 'admin');
SELECT user_id, role FROM tenant_members('acme-corp');

-- tenant_has_role follows a role change made later in the same transaction.
BEGIN;
SELECT act_as('acme-corp');
SELECT set_config('app.current_user_id', :'carol', true) IS NOT NULL AS carol;
SELECT tenant_has_role('admin') AS carol_is_admin;
SELECT tenant_member_set_role('acme-corp', :'carol', 'admin');
SELECT tenant_has_role('admin') AS carol_is_admin_now;
ROLLBACK;
RESET ROLE;

-- The application: a tenant's admin manages its own tenant's members.
\c - app_user
\set ON_ERROR_ROLLBACK on
\set SHOW_CONTEXT never
BEGIN;
SELECT act_as('acme-corp');
SELECT set_config('app.current_user_id', :'bob', true) IS NOT NULL AS bob;
SELECT tenant_has_role('owner') AS owner, tenant_has_role('admin') AS admin,
       tenant_has_role('member') AS member, tenant_has_role('guest') AS guest;
SELECT tenant_member_add('acme-corp', :'dave', 'guest');
SELECT user_id, role, invited_by FROM tenant_members('acme-corp') WHERE user_id = :'dave';
-- an admin cannot add or touch owners
SELECT tenant_member_add('acme-corp', :'eve', 'owner');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_set_role('acme-corp', :'alice', 'member');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- nor manage another tenant
SELECT tenant_member_add('globex', :'eve');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_is_member('acme-corp', :'dave') AS dave_in_acme, tenant_user_role('acme-corp', :'dave') AS dave_role;
COMMIT;

-- A plain member cannot manage members.
BEGIN;
SELECT act_as('acme-corp');
SELECT set_config('app.current_user_id', :'carol', true) IS NOT NULL AS carol;
SELECT tenant_has_role('admin') AS admin, tenant_has_role('member') AS member;
SELECT tenant_member_remove('acme-corp', :'dave');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;

-- No user in context: no role at all. A bad role name is an error.
BEGIN;
SELECT act_as('acme-corp');
SELECT tenant_has_role('guest') AS without_a_user;
SELECT tenant_has_role('root');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
COMMIT;

-- RLS on tenant.members: each tenant sees its own members only.
BEGIN;
SELECT act_as('globex');
SELECT count(*) AS globex_sees FROM tenant.members;
SELECT tenant_is_member('acme-corp', :'dave') AS acme_member_visible_from_globex;
SELECT count(*) AS acme_members_listed_from_globex FROM tenant_members('acme-corp');
COMMIT;
SELECT count(*) AS without_context FROM tenant.members;
INSERT INTO tenant.members (tenant_id, user_id) VALUES ('aaaaaaaa-0000-4000-8000-000000000001', :'eve');
\echo SQLSTATE :LAST_ERROR_SQLSTATE

-- tenant_has_role in an application's own policy: evaluated once per statement.
\c - postgres
SET ROLE migrator;
CREATE TABLE invoices_admin (id int PRIMARY KEY, tenant_id uuid NOT NULL, amount int);
SELECT tenant_enable('invoices_admin') IS NOT NULL AS enabled;
CREATE POLICY admins_only ON invoices_admin AS RESTRICTIVE FOR ALL USING ((SELECT tenant_has_role('admin')));
GRANT SELECT, INSERT ON invoices_admin TO app_user;
RESET ROLE;
\c - app_user
\set ON_ERROR_ROLLBACK on
BEGIN;
SELECT act_as('acme-corp');
SELECT set_config('app.current_user_id', :'bob', true) IS NOT NULL AS bob;
INSERT INTO invoices_admin (id, amount) VALUES (1, 100), (2, 250);
SELECT count(*) AS bob_sees FROM invoices_admin;
SELECT set_config('app.current_user_id', :'carol', true) IS NOT NULL AS carol;
SELECT count(*) AS carol_sees FROM invoices_admin;
EXPLAIN (COSTS OFF) SELECT * FROM invoices_admin;
COMMIT;
\c - postgres

-- Another tenant's members cannot be probed. An application acting for
-- acme-corp as its admin (bob) gets one and the same refusal for every other
-- tenant, before anything is looked up: whether the user is a stranger there,
-- a member or the owner, and whether that tenant exists, is suspended or deleted.
\set frank '77777777-7777-4777-8777-777777777777'
BEGIN;
SELECT tenant_member_add('globex', :'eve', 'owner'), tenant_member_add('globex', :'frank');
SELECT tenant_create('Gone Co', 'gone-co', owner => :'eve') IS NOT NULL AS gone,
       tenant_create('Paused Co', 'paused-co', owner => :'eve') IS NOT NULL AS paused;
SELECT tenant_delete('gone-co'), tenant_suspend('paused-co');
SET ROLE app_user;
SELECT act_as('acme-corp');
SELECT set_config('app.current_user_id', :'bob', true) IS NOT NULL AS bob;
SELECT tenant_member_remove('globex', :'carol');                      -- a stranger there
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_remove('globex', :'frank');                      -- a member
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_remove('globex', :'eve');                        -- its owner
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_remove('bbbbbbbb-0000-4000-8000-000000000002', :'eve');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_remove('no-such-tenant', :'eve');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_remove('gone-co', :'eve');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_remove('paused-co', :'eve');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_set_role('globex', :'carol', 'admin');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_set_role('globex', :'frank', 'admin');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_set_role('globex', :'eve', 'member');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_set_role('no-such-tenant', :'eve', 'member');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_set_role('gone-co', :'eve', 'member');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_set_role('paused-co', :'eve', 'member');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_add('no-such-tenant', :'frank');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_member_add('gone-co', :'frank');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- the read functions show nothing of another tenant, and raise nothing either
SELECT t AS tenant, tenant_user_role(t, :'eve') AS eve_role, tenant_is_member(t, :'frank') AS frank_member,
       (SELECT count(*) FROM tenant_members(t)) AS listed
  FROM unnest(ARRAY['globex', 'bbbbbbbb-0000-4000-8000-000000000002', 'no-such-tenant', 'gone-co', 'paused-co']) AS t;
-- its own tenant's members it manages, named by slug in any case or by id;
-- only there does it learn whether a user is a member
SELECT tenant_member_add('ACME-Corp', :'frank');
SELECT tenant_member_set_role('aaaaaaaa-0000-4000-8000-000000000001', :'frank', 'admin');
SELECT tenant_user_role('acme-corp', :'frank') AS frank_role, tenant_is_member('ACME-CORP', :'frank') AS frank_member;
SELECT tenant_member_remove('acme-corp', :'frank');
SELECT tenant_member_remove('acme-corp', :'frank');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
-- without a tenant in context, the refusal is the same
SELECT set_config('app.current_tenant', '', true) = '' AS no_tenant;
SELECT tenant_member_remove('globex', :'eve');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tenant_user_role('globex', :'eve') AS eve_role;
RESET ROLE;
ROLLBACK;

-- A long bad role is not copied whole into the error.
SELECT tenant_has_role(repeat('r', 100000));
\echo SQLSTATE :LAST_ERROR_SQLSTATE
