-- CREATE INDEX CONCURRENTLY cannot run in a transaction: the marker says so, and a short
-- lock_timeout keeps it from queueing behind a long transaction.
-- migrate:up transaction:false lock_timeout:2s
create index concurrently if not exists orders_customer_id on orders (customer_id);

-- migrate:down transaction:false
drop index concurrently if exists orders_customer_id;
