-- A rejected reading that jsonb cannot hold (NUL or lone surrogates in a string, NaN,
-- numbers beyond range, deep nesting, JSON that cannot be read) is kept as the bytes it
-- arrived as; `raw` is then NULL. Read it with convert_from(raw_bytes, 'UTF8') or
-- encode(raw_bytes, 'escape').
ALTER TABLE quarantine ADD COLUMN raw_bytes bytea;
