-- A small shop schema, used by the demo (`scripts/demo`) and as an example of the format.
-- migrate:up
create table customers (
    id bigint generated always as identity primary key,
    email text not null unique,
    created_at timestamptz not null default now()
);

-- migrate:down
drop table customers;
