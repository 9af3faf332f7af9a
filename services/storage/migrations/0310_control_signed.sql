-- Signed commands (issue 12): each command carries a number that only rises, so a gateway
-- can refuse a replay. One sequence for every gateway rises per gateway too; it lives in
-- the database so a service restart goes on from where it was.
CREATE SEQUENCE control_command_seq;
ALTER TABLE control_commands ADD COLUMN seq bigint;
CREATE UNIQUE INDEX control_commands_seq ON control_commands (seq);
