//! The snapshot: one catalog query whose JSON answer deserialises into [`Schema`].

use serde::{Deserialize, Serialize};

/// Conditions shared by the snapshot's subqueries, as macros so that `SNAPSHOT_SQL` stays
/// one `concat!`-ed literal. `$n` is a `pg_namespace` alias.
macro_rules! user_schema {
    ($n:literal) => {
        concat!(
            $n,
            ".nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and ",
            $n,
            ".nspname not like 'pg\\_temp\\_%' and ",
            $n,
            ".nspname not like 'pg\\_toast\\_temp\\_%'"
        )
    };
}

/// `$oid` is not a member of an extension (those are the extension's business, not ours).
macro_rules! not_extension_member {
    ($catalog:literal, $oid:literal) => {
        concat!(
            "not exists (select 1 from pg_depend e where e.classid = '",
            $catalog,
            "'::regclass and e.objid = ",
            $oid,
            " and e.deptype = 'e')"
        )
    };
}

/// Indexes of relation `c`, less those that implement its constraints (listed as
/// constraints) and partitions of a partitioned index (they follow from their parent).
macro_rules! indexes_of_c {
    () => {
        "coalesce((select jsonb_agg(jsonb_build_object('name', ic.relname, \
           'definition', pg_get_indexdef(i.indexrelid), 'valid', i.indisvalid, \
           'comment', obj_description(ic.oid, 'pg_class')) \
           order by ic.relname) \
         from pg_index i join pg_class ic on ic.oid = i.indexrelid \
         where i.indrelid = c.oid and not ic.relispartition \
           and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid \
             and k.conrelid = c.oid and k.contype in ('p', 'u', 'x'))), '[]')"
    };
}

/// The table comment pgfleet puts on renamed history tables: not schema, skipped.
macro_rules! legacy {
    ($oid:literal) => {
        concat!(
            "coalesce(obj_description(",
            $oid,
            ", 'pg_class'), '') like 'pgfleet: legacy%'"
        )
    };
}

/// One read-only statement whose single row and column is a JSON document describing every
/// user object of the current database (see [`Schema`]).
///
/// It works over the native protocol and through `psql -At -c` alike: one statement, no
/// parameters, and no raw newline in its answer (built as jsonb, cast to text at the end).
/// It empties `search_path` for its own transaction (`set_config(..., true)`), so that every
/// name PostgreSQL prints is schema-qualified the same way whatever the role's search path;
/// run inside an explicit transaction, that setting lasts until the transaction ends.
pub const SNAPSHOT_SQL: &str = concat!(
    "with pinned as materialized (select set_config('search_path', '', true) as path) \
     select jsonb_build_object(",
    // Schemas.
    "'schemas', coalesce((select jsonb_agg(n.nspname order by n.nspname) \
       from pg_namespace n where ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_namespace", "n.oid"),
    "), '[]'), ",
    // Extensions.
    "'extensions', coalesce((select jsonb_agg(jsonb_build_object('name', x.extname, \
       'schema', n.nspname, 'version', x.extversion) order by x.extname) \
       from pg_extension x join pg_namespace n on n.oid = x.extnamespace), '[]'), ",
    // Tables with their columns, constraints, indexes and triggers.
    "'tables', coalesce((select jsonb_agg(jsonb_build_object(\
       'schema', n.nspname, 'name', c.relname, \
       'partition_key', case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end, \
       'partition_of', (select jsonb_build_array(pn.nspname, pc.relname) from pg_inherits h \
          join pg_class pc on pc.oid = h.inhparent join pg_namespace pn on pn.oid = pc.relnamespace \
          where h.inhrelid = c.oid and c.relispartition), \
       'partition_bound', case when c.relispartition then pg_get_expr(c.relpartbound, c.oid) end, \
       'columns', coalesce((select jsonb_agg(jsonb_build_object('name', a.attname, \
          'type', format_type(a.atttypid, a.atttypmod), 'not_null', a.attnotnull, \
          'default', case when a.attgenerated = '' then pg_get_expr(d.adbin, d.adrelid) end, \
          'generated', case when a.attgenerated <> '' then pg_get_expr(d.adbin, d.adrelid) end, \
          'identity', case a.attidentity when 'a' then 'always' when 'd' then 'by default' end, \
          'collation', (select format('%I.%I', cn.nspname, co.collname) from pg_collation co \
             join pg_namespace cn on cn.oid = co.collnamespace join pg_type ty on ty.oid = a.atttypid \
             where co.oid = a.attcollation and a.attcollation <> ty.typcollation), \
          'identity_options', (select jsonb_build_object('start', s.seqstart, \
             'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax, 'cache', s.seqcache, \
             'cycle', s.seqcycle) from pg_depend dep join pg_sequence s on s.seqrelid = dep.objid \
             where dep.classid = 'pg_class'::regclass and dep.refclassid = 'pg_class'::regclass \
               and dep.refobjid = c.oid and dep.refobjsubid = a.attnum and dep.deptype = 'i'), \
          'comment', col_description(c.oid, a.attnum)) \
          order by a.attnum) \
        from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum \
        where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]'), \
       'constraints', coalesce((select jsonb_agg(jsonb_build_object('name', k.conname, \
          'type', k.contype::text, 'definition', pg_get_constraintdef(k.oid), \
          'comment', obj_description(k.oid, 'pg_constraint')) order by k.conname) \
        from pg_constraint k where k.conrelid = c.oid and k.conislocal and k.conparentid = 0), '[]'), \
       'indexes', ",
    indexes_of_c!(),
    ", 'triggers', coalesce((select jsonb_agg(jsonb_build_object('name', t.tgname, \
          'definition', pg_get_triggerdef(t.oid), \
          'enabled', case t.tgenabled when 'O' then 'origin' when 'D' then 'disabled' \
             when 'R' then 'replica' when 'A' then 'always' end, \
          'comment', obj_description(t.oid, 'pg_trigger')) order by t.tgname) \
        from pg_trigger t where t.tgrelid = c.oid and not t.tgisinternal and t.tgparentid = 0), '[]'), \
       'unlogged', c.relpersistence = 'u', \
       'options', coalesce((select jsonb_agg(o order by o) from unnest(c.reloptions) o), '[]'), \
       'replica_identity', case c.relreplident when 'd' then 'default' when 'f' then 'full' \
          when 'n' then 'nothing' when 'i' then coalesce('using index ' || (select \
            quote_ident(ic.relname) from pg_index i join pg_class ic on ic.oid = i.indexrelid \
            where i.indrelid = c.oid and i.indisreplident), 'nothing') end, \
       'row_security', c.relrowsecurity, 'force_row_security', c.relforcerowsecurity, \
       'inherits', coalesce((select jsonb_agg(jsonb_build_array(pn.nspname, pc.relname) \
          order by h.inhseqno) from pg_inherits h join pg_class pc on pc.oid = h.inhparent \
          join pg_namespace pn on pn.oid = pc.relnamespace \
          where h.inhrelid = c.oid and not c.relispartition), '[]'), \
       'comment', obj_description(c.oid, 'pg_class')\
       ) order by n.nspname, c.relname) \
       from pg_class c join pg_namespace n on n.oid = c.relnamespace \
       where c.relkind in ('r', 'p') and ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_class", "c.oid"),
    " and not ",
    legacy!("c.oid"),
    "), '[]'), ",
    // Views and materialized views, with the views they read (for the order of creation).
    "'views', coalesce((select jsonb_agg(jsonb_build_object('schema', n.nspname, \
       'name', c.relname, 'materialized', c.relkind = 'm', \
       'definition', pg_get_viewdef(c.oid, true), \
       'depends_on', coalesce((select jsonb_agg(distinct jsonb_build_array(vn.nspname, v.relname)) \
          from pg_rewrite r join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid \
          join pg_class v on v.oid = d.refobjid join pg_namespace vn on vn.oid = v.relnamespace \
          where r.ev_class = c.oid and d.refobjid <> c.oid and v.relkind in ('v', 'm')), '[]'), \
       'indexes', ",
    indexes_of_c!(),
    ", 'comment', obj_description(c.oid, 'pg_class')) order by n.nspname, c.relname) \
       from pg_class c join pg_namespace n on n.oid = c.relnamespace \
       where c.relkind in ('v', 'm') and ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_class", "c.oid"),
    "), '[]'), ",
    // Sequences, less identity ones (part of their column) and those of legacy tables.
    "'sequences', coalesce((select jsonb_agg(jsonb_build_object('schema', n.nspname, \
       'name', c.relname, 'type', format_type(s.seqtypid, null), 'start', s.seqstart, \
       'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax, 'cache', s.seqcache, \
       'cycle', s.seqcycle, \
       'owned_by', (select jsonb_build_object('schema', tn.nspname, 'table', tc.relname, \
          'column', a.attname) from pg_depend d join pg_class tc on tc.oid = d.refobjid \
          join pg_namespace tn on tn.oid = tc.relnamespace \
          join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid \
          where d.classid = 'pg_class'::regclass and d.objid = c.oid \
            and d.refclassid = 'pg_class'::regclass and d.deptype = 'a' and d.refobjsubid > 0 \
          limit 1), 'comment', obj_description(c.oid, 'pg_class')) order by n.nspname, c.relname) \
       from pg_sequence s join pg_class c on c.oid = s.seqrelid \
       join pg_namespace n on n.oid = c.relnamespace where ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_class", "c.oid"),
    " and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass \
         and d.objid = c.oid and d.refclassid = 'pg_class'::regclass \
         and (d.deptype = 'i' or (d.deptype = 'a' and ",
    legacy!("d.refobjid"),
    ")))), '[]'), ",
    // Functions and procedures (not aggregates or window functions).
    "'functions', coalesce((select jsonb_agg(jsonb_build_object('schema', n.nspname, \
       'name', p.proname, 'arguments', pg_get_function_identity_arguments(p.oid), \
       'procedure', p.prokind = 'p', 'result', pg_get_function_result(p.oid), \
       'definition', pg_get_functiondef(p.oid), 'comment', obj_description(p.oid, 'pg_proc')) \
       order by n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) \
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace \
       where p.prokind in ('f', 'p') and ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_proc", "p.oid"),
    "), '[]'), ",
    // Enum types.
    "'enums', coalesce((select jsonb_agg(jsonb_build_object('schema', n.nspname, \
       'name', t.typname, 'values', coalesce((select jsonb_agg(l.enumlabel order by l.enumsortorder) \
          from pg_enum l where l.enumtypid = t.oid), '[]'), \
       'comment', obj_description(t.oid, 'pg_type')) order by n.nspname, t.typname) \
       from pg_type t join pg_namespace n on n.oid = t.typnamespace \
       where t.typtype = 'e' and ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_type", "t.oid"),
    "), '[]'), ",
    // Comments on schemas (the list of schemas above is of names only).
    "'schema_comments', coalesce((select jsonb_agg(jsonb_build_array(n.nspname, \
       obj_description(n.oid, 'pg_namespace')) order by n.nspname) from pg_namespace n where ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_namespace", "n.oid"),
    " and obj_description(n.oid, 'pg_namespace') is not null), '[]'), ",
    // Domains with their checks (a PostgreSQL 15 domain's NOT NULL is a flag, not one).
    "'domains', coalesce((select jsonb_agg(jsonb_build_object('schema', n.nspname, \
       'name', t.typname, 'base', format_type(t.typbasetype, t.typtypmod), \
       'default', pg_get_expr(t.typdefaultbin, 0), 'not_null', t.typnotnull, \
       'constraints', coalesce((select jsonb_agg(jsonb_build_object('name', k.conname, \
          'definition', pg_get_constraintdef(k.oid)) order by k.conname) \
          from pg_constraint k where k.contypid = t.oid), '[]')) order by n.nspname, t.typname) \
       from pg_type t join pg_namespace n on n.oid = t.typnamespace \
       where t.typtype = 'd' and ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_type", "t.oid"),
    "), '[]'), ",
    // Composite types made by CREATE TYPE … AS (not the row types of tables).
    "'composites', coalesce((select jsonb_agg(jsonb_build_object('schema', n.nspname, \
       'name', t.typname, 'attributes', coalesce((select jsonb_agg(jsonb_build_object(\
          'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) order by a.attnum) \
          from pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0 \
            and not a.attisdropped), '[]')) order by n.nspname, t.typname) \
       from pg_type t join pg_namespace n on n.oid = t.typnamespace \
       join pg_class c on c.oid = t.typrelid \
       where t.typtype = 'c' and c.relkind = 'c' and ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_type", "t.oid"),
    "), '[]'), ",
    // Row-level security policies.
    "'policies', coalesce((select jsonb_agg(jsonb_build_object('schema', p.schemaname, \
       'table', p.tablename, 'name', p.policyname, 'command', p.cmd, \
       'permissive', p.permissive = 'PERMISSIVE', \
       'roles', (select jsonb_agg(r order by r) from unnest(p.roles) r), \
       'using', p.qual, 'check', p.with_check) \
       order by p.schemaname, p.tablename, p.policyname) \
       from pg_policies p join pg_namespace n on n.nspname = p.schemaname where ",
    user_schema!("n"),
    "), '[]'), ",
    // Owners and privileges. Grants to the owner itself are left out, and so are grantors:
    // both follow the owner, which is compared on its own. A null ACL is read as the
    // object's default, so that a REVOKE from PUBLIC shows.
    "'access', coalesce((select jsonb_agg(jsonb_build_object('object', o.object, \
       'schema', o.schema, 'name', o.name, 'detail', o.detail, \
       'owner', case when o.has_owner then pg_get_userbyid(o.owner) end, \
       'grants', coalesce((select jsonb_agg(jsonb_build_object('grantee', g.grantee, \
          'privileges', g.privileges) order by g.grantee) \
          from (select case when x.grantee = 0 then 'PUBLIC' else pg_get_userbyid(x.grantee) end \
              as grantee, jsonb_agg(x.privilege_type || case when x.is_grantable \
              then ' WITH GRANT OPTION' else '' end order by x.privilege_type) as privileges \
            from aclexplode(coalesce(o.acl, acldefault(o.acl_type, o.owner))) x \
            where x.grantee <> o.owner group by x.grantee) g), '[]')) \
       order by o.object, o.schema, o.name, o.detail) \
       from (",
    // Relations; a sequence that belongs to a column takes its table's owner.
    "select case c.relkind when 'v' then 'view' when 'm' then 'materialized view' \
         when 'S' then 'sequence' else 'table' end as object, n.nspname as schema, \
         c.relname as name, null::text as detail, c.relowner as owner, c.relacl as acl, \
         (case c.relkind when 'S' then 's' else 'r' end)::\"char\" as acl_type, \
         not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass \
           and d.objid = c.oid and d.refclassid = 'pg_class'::regclass \
           and d.deptype in ('a', 'i') and c.relkind = 'S') as has_owner \
       from pg_class c join pg_namespace n on n.oid = c.relnamespace \
       where c.relkind in ('r', 'p', 'v', 'm', 'S') and ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_class", "c.oid"),
    // Columns with grants of their own (a column has no owner of its own).
    " union all select 'column', n.nspname, c.relname, a.attname, c.relowner, a.attacl, \
         'c', false \
       from pg_attribute a join pg_class c on c.oid = a.attrelid \
       join pg_namespace n on n.oid = c.relnamespace \
       where a.attacl is not null and a.attnum > 0 and not a.attisdropped \
         and c.relkind in ('r', 'p', 'v', 'm') and ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_class", "c.oid"),
    " union all select case p.prokind when 'p' then 'procedure' else 'function' end, \
         n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.proowner, \
         p.proacl, 'f', true \
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace \
       where p.prokind in ('f', 'p') and ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_proc", "p.oid"),
    " union all select 'schema', n.nspname, n.nspname, null, n.nspowner, n.nspacl, 'n', true \
       from pg_namespace n where ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_namespace", "n.oid"),
    " union all select case t.typtype when 'd' then 'domain' else 'type' end, n.nspname, \
         t.typname, null, t.typowner, t.typacl, 'T', true \
       from pg_type t join pg_namespace n on n.oid = t.typnamespace \
       where (t.typtype in ('d', 'e') or (t.typtype = 'c' and exists (select 1 from pg_class \
           c where c.oid = t.typrelid and c.relkind = 'c'))) and ",
    user_schema!("n"),
    " and ",
    not_extension_member!("pg_type", "t.oid"),
    ") o), '[]'), ",
    // Default privileges: per schema, what is granted; for all schemas (the ACL replaces
    // the built-in default), what differs from that default, granted or revoked.
    "'default_access', coalesce((select jsonb_agg(jsonb_build_object('role', \
       pg_get_userbyid(g.role), 'schema', g.schema, 'on', g.on_what, 'grantee', g.grantee, \
       'revoked', g.revoked, 'privileges', g.privileges) \
       order by pg_get_userbyid(g.role), g.schema, g.on_what, g.grantee, g.revoked) \
       from (select d.defaclrole as role, dn.nspname as schema, case d.defaclobjtype \
           when 'r' then 'tables' when 'S' then 'sequences' when 'f' then 'functions' \
           when 'T' then 'types' else 'schemas' end as on_what, \
           case when x.grantee = 0 then 'PUBLIC' else pg_get_userbyid(x.grantee) end as grantee, \
           x.revoked, jsonb_agg(x.privilege_type || case when x.is_grantable \
             then ' WITH GRANT OPTION' else '' end order by x.privilege_type) as privileges \
         from pg_default_acl d left join pg_namespace dn on dn.oid = d.defaclnamespace \
         cross join lateral (select b.*, false as revoked from (\
             select * from aclexplode(d.defaclacl) except select * from \
             aclexplode(acldefault(case d.defaclobjtype when 'S' then 's' else d.defaclobjtype end, \
               d.defaclrole)) where d.defaclnamespace = 0) b \
           union all select b.*, true from (\
             select * from aclexplode(acldefault(case d.defaclobjtype when 'S' then 's' \
               else d.defaclobjtype end, d.defaclrole)) where d.defaclnamespace = 0 \
             except select * from aclexplode(d.defaclacl)) b) x \
         group by 1, 2, 3, 4, 5) g), '[]')",
    ")::text from pinned"
);

/// The user objects of one database, as [`SNAPSHOT_SQL`] describes them. Lists are sorted
/// by name, except columns, which keep the table's order (for readable drafts; [`compare`]
/// ignores column order).
///
/// [`compare`]: super::compare
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Schema names, `public` included.
    pub schemas: Vec<String>,
    /// Installed extensions (their member objects are not listed anywhere).
    pub extensions: Vec<Extension>,
    /// Tables, partitioned tables and partitions.
    pub tables: Vec<Table>,
    /// Views and materialized views.
    pub views: Vec<View>,
    /// Sequences, except those behind identity columns.
    pub sequences: Vec<Sequence>,
    /// Functions and procedures.
    pub functions: Vec<Function>,
    /// Enum types.
    pub enums: Vec<Enum>,
    /// Comments on schemas (schema, comment), for those that have one.
    pub schema_comments: Vec<(String, String)>,
    /// Domains.
    pub domains: Vec<Domain>,
    /// Composite types (`CREATE TYPE … AS (…)`).
    pub composites: Vec<Composite>,
    /// Row-level security policies.
    pub policies: Vec<Policy>,
    /// Owner and grants of each table, view, sequence, function, schema and type, and the
    /// grants of columns that have their own.
    pub access: Vec<Access>,
    /// Default privileges (`ALTER DEFAULT PRIVILEGES`).
    pub default_access: Vec<DefaultAccess>,
}

/// An installed extension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    /// Extension name.
    pub name: String,
    /// Schema its objects live in.
    pub schema: String,
    /// Installed version.
    pub version: String,
}

/// A table with everything attached to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// `pg_get_partkeydef` of a partitioned table, e.g. `RANGE (created_at)`.
    pub partition_key: Option<String>,
    /// Parent (schema, name) of a partition.
    pub partition_of: Option<(String, String)>,
    /// Bound of a partition, e.g. `FOR VALUES FROM (1) TO (10)`.
    pub partition_bound: Option<String>,
    /// Columns in table order.
    pub columns: Vec<Column>,
    /// Table constraints (primary key, unique, check, foreign key, exclusion).
    pub constraints: Vec<Constraint>,
    /// Indexes that do not implement a constraint.
    pub indexes: Vec<Index>,
    /// User triggers.
    pub triggers: Vec<Trigger>,
    /// UNLOGGED.
    pub unlogged: bool,
    /// Storage parameters (`reloptions`) as `name=value`, sorted; empty when none are set.
    pub options: Vec<String>,
    /// `default`, `full`, `nothing` or `using index <name>` (an index since dropped
    /// counts as `nothing`, which is how PostgreSQL then behaves).
    pub replica_identity: String,
    /// ENABLE ROW LEVEL SECURITY.
    pub row_security: bool,
    /// FORCE ROW LEVEL SECURITY (applies to the owner too).
    pub force_row_security: bool,
    /// Parents (schema, name) by plain inheritance (INHERITS), in order; not partitioning.
    pub inherits: Vec<(String, String)>,
    /// COMMENT ON TABLE.
    pub comment: Option<String>,
}

/// A table column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// `format_type` of the column, e.g. `character varying(200)`.
    #[serde(rename = "type")]
    pub data_type: String,
    /// NOT NULL.
    pub not_null: bool,
    /// Default expression.
    pub default: Option<String>,
    /// Expression of a generated (stored) column.
    pub generated: Option<String>,
    /// `always` or `by default` for an identity column.
    pub identity: Option<String>,
    /// COLLATE, qualified and quoted, e.g. `pg_catalog."C"`; none when it is the type's
    /// default.
    pub collation: Option<String>,
    /// The options of an identity column's sequence.
    pub identity_options: Option<IdentityOptions>,
    /// COMMENT ON COLUMN.
    pub comment: Option<String>,
}

/// The sequence options of an identity column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityOptions {
    /// START WITH.
    pub start: i64,
    /// INCREMENT BY.
    pub increment: i64,
    /// MINVALUE.
    pub min: i64,
    /// MAXVALUE.
    pub max: i64,
    /// CACHE.
    pub cache: i64,
    /// CYCLE.
    pub cycle: bool,
}

/// A table constraint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// Constraint name.
    pub name: String,
    /// `pg_constraint.contype`: `p`, `u`, `c`, `f`, `x` or `t`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `pg_get_constraintdef`, e.g. `CHECK ((qty > 0))`.
    pub definition: String,
    /// COMMENT ON CONSTRAINT.
    pub comment: Option<String>,
}

/// An index (of a table or a materialized view).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Index name (in the schema of its table).
    pub name: String,
    /// `pg_get_indexdef`: a complete `CREATE INDEX` statement.
    pub definition: String,
    /// Usable: false after a failed `CREATE INDEX CONCURRENTLY`.
    pub valid: bool,
    /// COMMENT ON INDEX.
    pub comment: Option<String>,
}

/// A trigger on a table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// Trigger name (unique per table).
    pub name: String,
    /// `pg_get_triggerdef`: a complete `CREATE TRIGGER` statement.
    pub definition: String,
    /// When it fires: `origin` (the default: enabled), `disabled`, `replica` or `always`.
    pub enabled: String,
    /// COMMENT ON TRIGGER.
    pub comment: Option<String>,
}

/// A view or materialized view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// Schema name.
    pub schema: String,
    /// View name.
    pub name: String,
    /// A materialized view.
    pub materialized: bool,
    /// `pg_get_viewdef(oid, true)`: the query.
    pub definition: String,
    /// Views and materialized views (schema, name) this one reads.
    pub depends_on: Vec<(String, String)>,
    /// Indexes of a materialized view.
    pub indexes: Vec<Index>,
    /// COMMENT ON VIEW or MATERIALIZED VIEW.
    pub comment: Option<String>,
}

/// A sequence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    /// Schema name.
    pub schema: String,
    /// Sequence name.
    pub name: String,
    /// `smallint`, `integer` or `bigint`.
    #[serde(rename = "type")]
    pub data_type: String,
    /// START WITH.
    pub start: i64,
    /// INCREMENT BY.
    pub increment: i64,
    /// MINVALUE.
    pub min: i64,
    /// MAXVALUE.
    pub max: i64,
    /// CACHE.
    pub cache: i64,
    /// CYCLE.
    pub cycle: bool,
    /// The column that owns it (a `serial` column's sequence, or OWNED BY).
    pub owned_by: Option<OwnedBy>,
    /// COMMENT ON SEQUENCE.
    pub comment: Option<String>,
}

/// The column a sequence belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OwnedBy {
    /// Schema of the table.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// Column name.
    pub column: String,
}

/// A function or procedure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// Schema name.
    pub schema: String,
    /// Function name.
    pub name: String,
    /// `pg_get_function_identity_arguments`, e.g. `a integer, b text`.
    pub arguments: String,
    /// A procedure rather than a function.
    pub procedure: bool,
    /// `pg_get_function_result` (none for a procedure).
    pub result: Option<String>,
    /// `pg_get_functiondef`: a complete `CREATE OR REPLACE` statement without its `;`.
    pub definition: String,
    /// COMMENT ON FUNCTION or PROCEDURE.
    pub comment: Option<String>,
}

/// An enum type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Enum {
    /// Schema name.
    pub schema: String,
    /// Type name.
    pub name: String,
    /// Labels in sort order.
    pub values: Vec<String>,
    /// COMMENT ON TYPE.
    pub comment: Option<String>,
}

/// A domain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    /// Schema name.
    pub schema: String,
    /// Domain name.
    pub name: String,
    /// `format_type` of the base type.
    pub base: String,
    /// Default expression.
    pub default: Option<String>,
    /// NOT NULL.
    pub not_null: bool,
    /// CHECK constraints.
    pub constraints: Vec<DomainCheck>,
}

/// A domain's CHECK constraint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainCheck {
    /// Constraint name.
    pub name: String,
    /// `pg_get_constraintdef`, e.g. `CHECK ((VALUE > 0))`.
    pub definition: String,
}

/// A composite type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Composite {
    /// Schema name.
    pub schema: String,
    /// Type name.
    pub name: String,
    /// Attributes in order.
    pub attributes: Vec<Attribute>,
}

/// An attribute of a composite type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// `format_type` of the attribute.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A row-level security policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Schema of the table.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// Policy name (unique per table).
    pub name: String,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    /// PERMISSIVE rather than RESTRICTIVE.
    pub permissive: bool,
    /// Role names, sorted; `public` for everyone.
    pub roles: Vec<String>,
    /// USING expression.
    pub using: Option<String>,
    /// WITH CHECK expression.
    pub check: Option<String>,
}

/// Who owns an object and what others may do with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Access {
    /// `table`, `view`, `materialized view`, `sequence`, `column`, `function`, `procedure`,
    /// `schema`, `type` or `domain`.
    pub object: String,
    /// Schema name (a schema's own name for a schema).
    pub schema: String,
    /// Object name (the table's for a column).
    pub name: String,
    /// The column's name, or the function's identity arguments.
    pub detail: Option<String>,
    /// Owner role; none for a column, or a sequence that belongs to a column.
    pub owner: Option<String>,
    /// Grants to roles other than the owner, by grantee.
    pub grants: Vec<Grant>,
}

/// What one role (or PUBLIC) may do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Role name, or `PUBLIC`.
    pub grantee: String,
    /// Sorted, e.g. `SELECT`, `UPDATE WITH GRANT OPTION`.
    pub privileges: Vec<String>,
}

/// A default privilege: what objects `role` creates get (or, `revoked`, no longer get).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DefaultAccess {
    /// The creating role.
    pub role: String,
    /// Only in this schema; none for every schema.
    pub schema: Option<String>,
    /// `tables`, `sequences`, `functions`, `types` or `schemas`.
    pub on: String,
    /// Role name, or `PUBLIC`.
    pub grantee: String,
    /// Taken away from the built-in defaults rather than granted.
    pub revoked: bool,
    /// Sorted, as in [`Grant`].
    pub privileges: Vec<String>,
}

impl Schema {
    /// Parses the answer of [`SNAPSHOT_SQL`].
    pub fn from_json(text: &str) -> Result<Schema, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Leaves out these tables (schema, name) with everything attached to them, sequences
    /// owned by their columns included: for pgfleet's own tracking tables.
    pub fn without_tables(mut self, tables: &[(&str, &str)]) -> Schema {
        let listed = |schema: &str, name: &str| tables.contains(&(schema, name));
        self.tables.retain(|t| !listed(&t.schema, &t.name));
        self.sequences.retain(|s| {
            s.owned_by
                .as_ref()
                .is_none_or(|o| !listed(&o.schema, &o.table))
        });
        self.keep_access_of_listed_relations();
        self
    }

    /// Drops the owners and grants of relations the snapshot does not list (tracking and
    /// legacy tables, identity sequences), which the catalog query cannot tell apart.
    fn keep_access_of_listed_relations(&mut self) {
        let (tables, views, sequences) = (&self.tables, &self.views, &self.sequences);
        self.access.retain(|a| {
            let is = |schema: &str, name: &str| a.schema == schema && a.name == name;
            match a.object.as_str() {
                "table" | "column" => {
                    tables.iter().any(|t| is(&t.schema, &t.name))
                        || views.iter().any(|v| is(&v.schema, &v.name))
                }
                "view" | "materialized view" => views.iter().any(|v| is(&v.schema, &v.name)),
                "sequence" => sequences.iter().any(|s| is(&s.schema, &s.name)),
                _ => true,
            }
        });
    }

    /// True when the database has no user objects at all (a fresh database). The `public`
    /// schema and the `plpgsql` extension, present by default, do not count.
    pub fn is_empty(&self) -> bool {
        self.schemas.iter().all(|s| s == "public")
            && self.extensions.iter().all(|e| e.name == "plpgsql")
            && self.tables.is_empty()
            && self.views.is_empty()
            && self.sequences.is_empty()
            && self.functions.is_empty()
            && self.enums.is_empty()
            && self.domains.is_empty()
            && self.composites.is_empty()
            && self.policies.is_empty()
            && self.default_access.is_empty()
    }
}
