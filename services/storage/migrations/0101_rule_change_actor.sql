-- Who changed a rule, not only for which organisation: the token's name and id, so an
-- audit can name the person or system (ISA-18.2: limit changes are recorded).
ALTER TABLE monitor_rule_versions ADD COLUMN actor text;
