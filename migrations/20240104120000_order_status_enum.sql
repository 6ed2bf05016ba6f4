-- Two up/down pairs in one file: every up section runs, all in one transaction, and the
-- version is recorded once. Down sections run in file order, as dbmate runs them.
-- migrate:up
create type order_status as enum ('new', 'paid', 'shipped', 'cancelled');
alter table orders alter column status drop default;
alter table orders alter column status type order_status using status::order_status;
alter table orders alter column status set default 'new';

-- migrate:down
alter table orders alter column status drop default;
alter table orders alter column status type text using status::text;
alter table orders alter column status set default 'new';
drop type order_status;

-- migrate:up
create table order_notes (
    order_id bigint not null references orders (id),
    note text not null,
    at timestamptz not null default now()
);

-- migrate:down
drop table order_notes;
