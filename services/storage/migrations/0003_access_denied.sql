-- The access log also keeps refused reads of a company's series by another (answered
-- 404, as if the series did not exist), with the reason, for the data owner to see.
ALTER TABLE access_log ADD COLUMN outcome text NOT NULL DEFAULT 'read';
ALTER TABLE access_log ADD COLUMN reason text;
