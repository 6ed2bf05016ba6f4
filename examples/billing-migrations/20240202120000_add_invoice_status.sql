-- migrate:up
alter table invoices add column paid_at timestamptz;
create index invoices_unpaid on invoices (issued_at) where paid_at is null;

-- migrate:down
drop index invoices_unpaid;
alter table invoices drop column paid_at;
