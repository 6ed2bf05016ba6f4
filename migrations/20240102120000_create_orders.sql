-- migrate:up
create table orders (
    id bigint generated always as identity primary key,
    customer_id bigint not null references customers (id),
    total_cents integer not null check (total_cents >= 0),
    status text not null default 'new'
);

-- migrate:down
drop table orders;
