-- migrate:up
create table invoices (
    id bigint generated always as identity primary key,
    customer_email text not null,
    amount_cents bigint not null check (amount_cents >= 0),
    issued_at timestamptz not null default now()
);

-- migrate:down
drop table invoices;
